package goproxy

import (
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestDecideAllocatesNothing: the routing decision (table.decide, what
// BenchmarkDecide and BenchmarkDecideForwarded measure) allocates nothing
// on any of its outcomes, overflow above the local limit and every
// refusal included.
func TestDecideAllocatesNothing(t *testing.T) {
	now := time.Now()
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}, {Name: "shasum"}},
		Neighbours: []proxyctl.Neighbour{
			{ID: "b", URL: "http://127.0.0.1:1", Functions: []string{"figlet", "ocr"}, TokenIn: tokBA, Forward: true},
			{ID: "c", URL: "http://127.0.0.1:2", Functions: []string{"figlet"}, TokenIn: tokBA, Forward: true},
		},
		Decision: strategy.Decision{Routes: []strategy.Route{
			{Function: "figlet", Local: 0.5, Reject: 0.1, LocalLimit: 0.001,
				Forward: []strategy.Share{{Node: "b", Share: 0.2}, {Node: "c", Share: 0.2}},
				Admit:   []strategy.Limit{{Node: "b", Rate: 1e9}, {Node: "c", Rate: 0}}},
		}}}
	tbl, err := compile(st, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	tbl.decide("figlet", "", "", now) // spend the local burst: local picks overflow from now on
	for _, tt := range []struct {
		name, fn, from, token string
		want                  []kind
	}{
		{"user request: local overflow, forward, reject", "figlet", "", "", []kind{kindForward, kindReject}},
		{"user request, default local route", "shasum", "", "", []kind{kindLocal}},
		{"user request, default route to a runner", "ocr", "", "", []kind{kindForward}},
		{"user request, no route", "nowhere", "", "", []kind{kindNoRoute}},
		{"forwarded, admitted", "figlet", "b", tokBA, []kind{kindLocal}},
		{"forwarded, above admission", "figlet", "c", tokBA, []kind{kindAdmission}},
		{"forwarded, wrong credential", "figlet", "b", tokAB, []kind{kindUnknownNode}},
		{"forwarded, unknown node", "figlet", "z", tokBA, []kind{kindUnknownNode}},
		{"forwarded, not deployed here", "ocr", "b", tokBA, []kind{kindNoRoute}},
	} {
		seen := map[kind]bool{}
		n := testing.AllocsPerRun(1000, func() { seen[tbl.decide(tt.fn, tt.from, tt.token, now).kind] = true })
		if n != 0 {
			t.Errorf("%s: %v allocations per decision", tt.name, n)
		}
		for _, k := range tt.want {
			if !seen[k] {
				t.Errorf("%s: no decision of kind %d among %v", tt.name, k, seen)
			}
		}
	}
}
