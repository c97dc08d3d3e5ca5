package goproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestPreviousCredential: a neighbour's previous credential is accepted as
// long as the state lists it (its grace), and no longer once the state
// drops it; any other is refused as unknown-node.
func TestPreviousCredential(t *testing.T) {
	faas := newPeer(t, 200, "", false) // answers 200 to all
	p, err := New(Config{FaaSURL: faas.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	const cur, prev, other = tokBA, "cc00000000000000000000000000000000000000000000000000000000000000", tokAB
	apply := func(prevTok string) {
		t.Helper()
		st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
			Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", TokenIn: cur, TokenInPrev: prevTok}}}
		if err := p.Apply(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	send := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/function/fn", strings.NewReader("x"))
		req.Header.Set(proxyctl.HeaderNodeID, "b")
		req.Header.Set(proxyctl.HeaderNodeToken, tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	apply(prev)
	for tok, want := range map[string]int{cur: 200, prev: 200, other: 403, "": 403} {
		if got := send(tok); got != want {
			t.Errorf("during the grace, credential %.4s…: %d, want %d", tok, got, want)
		}
	}
	apply("")
	for tok, want := range map[string]int{cur: 200, prev: 403} {
		if got := send(tok); got != want {
			t.Errorf("after the grace, credential %.4s…: %d, want %d", tok, got, want)
		}
	}
}

// TestNeighbourAnswers: the proxy counts every answer of a neighbour it
// forwards to: succeeded (the function's own answer) with its latency, or
// failed (5xx, a refusal of its proxy); a neighbour that cannot be reached,
// or whose unknown-node refusal is sent elsewhere, answered nothing. It
// declares that it counts them.
func TestNeighbourAnswers(t *testing.T) {
	faas := newSummer(t)
	peers := map[string]*peer{
		"ok":      newPeer(t, 200, "", false),
		"busy":    newPeer(t, 503, "", false),
		"refuses": newPeer(t, 429, "admission", false),
		"unknown": newPeer(t, 403, "unknown-node", false),
	}
	down := newPeer(t, 200, "", false)
	down.srv.Close()
	p, err := New(Config{FaaSURL: faas.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	for id, want := range map[string][2]uint64{"ok": {1, 0}, "busy": {0, 1}, "refuses": {0, 1}, "unknown": {0, 0}, "down": {0, 0}} {
		url := down.srv.URL
		if pr := peers[id]; pr != nil {
			url = pr.srv.URL
		}
		st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
			Neighbours: []proxyctl.Neighbour{{ID: strategy.NodeID(id), URL: url, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}},
			Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: strategy.NodeID(id), Share: 1}}}}}}
		if err := p.Apply(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+"/function/fn", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tot, _ := p.Counters().Totals(context.Background())
		if !tot.Answers {
			t.Fatal("the proxy's counters do not report answers")
		}
		f := tot.Functions[0]
		var got [2]uint64
		var latency float64
		for _, n := range f.Neighbours {
			if n.ID == id {
				got = [2]uint64{n.Succeeded, n.Failed}
				latency = n.LatencySeconds
			}
		}
		if got != want {
			t.Errorf("%s: succeeded/failed %v, want %v", id, got, want)
		}
		if want[0] == 1 && latency <= 0 {
			t.Errorf("%s: no latency recorded for its succeeded answer", id)
		}
	}
}
