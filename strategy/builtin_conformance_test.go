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
			strategytest.Run(t, func() strategy.Strategy {
				st, err := reg.New(name, nil)
				if err != nil {
					t.Fatal(err)
				}
				return st
			})
		})
	}
}
