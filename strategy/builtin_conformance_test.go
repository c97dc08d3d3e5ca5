package strategy_test

import (
	"testing"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/strategytest"
)

// TestBuiltinConformance runs the conformance suite on every built-in
// strategy with its default parameters.
func TestBuiltinConformance(t *testing.T) {
	reg := strategy.Builtin()
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			factory, _ := reg.Factory(name)
			strategytest.Run(t, factory)
		})
	}
}
