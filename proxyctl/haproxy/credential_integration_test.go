package haproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestIntegrationPreviousCredential: HAProxy accepts a neighbour's previous
// credential while the state lists it (its grace after a rotation) and
// refuses it once the state drops it, through the runtime API (no reload);
// any other credential is refused as unknown-node.
func TestIntegrationPreviousCredential(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	c := startNode(t, gw.srv.URL, nil)
	state := func(cur, prev string) proxyctl.State {
		return proxyctl.State{
			Self:       "a",
			Functions:  []proxyctl.Function{{Name: "figlet", Capacity: 1000}},
			Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", Functions: []string{"figlet"}, TokenIn: cur, TokenInPrev: prev}},
			Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 1}}},
		}
	}
	from := func(tok string) outcome {
		return do(http.DefaultClient, http.MethodPost, c.publicURL()+"/function/figlet",
			map[string]string{proxyctl.HeaderNodeID: "b", proxyctl.HeaderNodeToken: tok})
	}
	apply(t, c, state("first", ""))
	reloads := c.Stats().Reloads
	check := func(when string, want map[string]int) {
		t.Helper()
		for tok, status := range want {
			if o := from(tok); o.status != status || (status == 403 && o.rejected != "unknown-node") {
				t.Errorf("%s: credential %q: %d %q, want %d", when, tok, o.status, o.rejected, status)
			}
		}
	}
	check("before the rotation", map[string]int{"first": 200, "second": 403})
	apply(t, c, state("second", "first"))
	check("during the grace", map[string]int{"first": 200, "second": 200, "other": 403})
	apply(t, c, state("second", ""))
	check("after the grace", map[string]int{"first": 403, "second": 200})
	apply(t, c, state("third", "second"))
	check("the next rotation", map[string]int{"first": 403, "second": 200, "third": 200})
	if r := c.Stats().Reloads; r != reloads {
		t.Errorf("rotations caused %d reloads", r-reloads)
	}
}

// TestIntegrationNeighbourAnswers: the totals count, per function and
// neighbour, the neighbour's own successful answers (with their mean
// response time) apart from its failures, so that the agent can bound
// what it sends a neighbour by what it serves (control.Trust).
func TestIntegrationNeighbourAnswers(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	good := newFakeServer(t, "good")
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == HealthPath {
			io.WriteString(w, "ok\n")
			return
		}
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, proxyctl.State{
		Self: "a",
		Neighbours: []proxyctl.Neighbour{
			{ID: "good", URL: good.srv.URL, Functions: []string{"figlet"}, TokenOut: "t1", TokenIn: "t2", Forward: true},
			{ID: "liar", URL: bad.URL, Functions: []string{"figlet"}, TokenOut: "t3", TokenIn: "t4", Forward: true},
		},
		Decision: strategy.Decision{Routes: []strategy.Route{
			strategy.NewRoute("figlet", 0, 0, map[strategy.NodeID]float64{"good": 0.5, "liar": 0.5}),
		}},
	})
	counts := send(t, c, "figlet", 200, 4)
	tot, err := c.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !tot.Answers || len(tot.Functions) != 1 {
		t.Fatalf("totals %+v", tot)
	}
	by := map[string]metricsrc.NeighbourTotals{}
	for _, n := range tot.Functions[0].Neighbours {
		by[n.ID] = n
	}
	g, l := by["good"], by["liar"]
	t.Logf("requests %v; good %+v; liar %+v", counts, g, l)
	if g.Succeeded == 0 || g.Succeeded != g.Forwarded || g.LatencyCount != g.Succeeded {
		t.Errorf("good neighbour: %+v, want every request forwarded succeeded, with latency", g)
	}
	if l.Forwarded == 0 || l.Succeeded != 0 || l.Failed != l.Forwarded {
		t.Errorf("failing neighbour: %+v, want every request forwarded failed", l)
	}
}
