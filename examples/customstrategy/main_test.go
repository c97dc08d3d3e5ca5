package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/cmd/dfaas/cli"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
	"github.com/dfaas-go/dfaas/strategy/strategytest"
)

// TestConformance runs the conformance suite every strategy author should
// run on their strategy.
func TestConformance(t *testing.T) {
	strategytest.Run(t, strategy.NewFactory(func() *Spare { return &Spare{Headroom: 0.05} }))
}

// TestPluggedIntoTheAgent runs the reference command line's demo with the
// custom strategy: it is selectable by name and forwards the overload.
func TestPluggedIntoTheAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a demo for a few seconds")
	}
	var out, errb bytes.Buffer
	err := cli.Run(context.Background(), []string{"demo", "--strategy", "spare", "--duration", "4s", "--period", "250ms", "--json"},
		strings.NewReader(""), &out, &errb, newRegistry())
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var r sim.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Strategy != "spare" || r.Nodes[0].Forwarded == 0 {
		t.Fatalf("result %+v", r)
	}
}
