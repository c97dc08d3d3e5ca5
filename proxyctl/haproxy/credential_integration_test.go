package haproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

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
	state := func(cur, prev string) proxyctl.State { return credState(cur, prev, false) }
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

// TestIntegrationCredentialsOnOneConnection: the credential's hash HAProxy
// keeps for a connection never stands for another credential, nor a
// revoked one, and the admission key follows the identity each request
// names: neighbours b and c alternate on one kept-alive connection, with
// right and wrong credentials, through a rotation and a revocation.
func TestIntegrationCredentialsOnOneConnection(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	c := startNode(t, gw.srv.URL, nil)
	state := func(cur, prev string) proxyctl.State { return credState(cur, prev, true) }
	var dials atomic.Int32
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	type step struct {
		id, tok string // "-" for no header
		status  int
		reason  string
	}
	run := func(when string, steps []step) {
		t.Helper()
		for _, s := range steps {
			hdr := map[string]string{}
			if s.id != "-" {
				hdr[proxyctl.HeaderNodeID] = s.id
			}
			if s.tok != "-" {
				hdr[proxyctl.HeaderNodeToken] = s.tok
			}
			o := do(client, http.MethodPost, c.publicURL()+"/function/figlet", hdr)
			if o.status != s.status || o.rejected != s.reason {
				t.Errorf("%s: node %q credential %q: %d %q (%v), want %d %q", when, s.id, s.tok, o.status, o.rejected, o.err, s.status, s.reason)
			}
		}
	}
	apply(t, c, state("tok-b", ""))
	run("b and c alternate", []step{
		{"b", "tok-b", 200, ""},
		{"b", "tok-c", 403, "unknown-node"},
		{"b", "tok-b", 200, ""},
		{"c", "tok-c", 429, "admission"},
		{"c", "tok-b", 403, "unknown-node"},
		{"b", "tok-b", 200, ""},
		{"b", "-", 403, "unknown-node"},
		{"-", "tok-b", 403, "unknown-node"},
		{"b", "", 403, "unknown-node"},
		{"b", "tok-b", 200, ""},
	})
	apply(t, c, state("tok-b2", "tok-b"))
	run("during the grace", []step{
		{"b", "tok-b", 200, ""},
		{"b", "tok-b2", 200, ""},
		{"b", "tok-b", 200, ""},
	})
	apply(t, c, state("tok-b2", ""))
	run("after the grace", []step{
		{"b", "tok-b", 403, "unknown-node"},
		{"b", "tok-b2", 200, ""},
	})
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections, want 1: the steps must share one", n)
	}
}

// credState is node a running figlet locally, with neighbour b, whose
// credentials are cur and prev; withC adds neighbour c (credential
// "tok-c", admission limit 0).
func credState(cur, prev string, withC bool) proxyctl.State {
	s := proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet", Capacity: 1000}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", Functions: []string{"figlet"}, TokenIn: cur, TokenInPrev: prev}},
		Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 1}}},
	}
	if withC {
		s.Neighbours = append(s.Neighbours, proxyctl.Neighbour{ID: "c", URL: "http://127.0.0.1:2", Functions: []string{"figlet"}, TokenIn: "tok-c"})
		s.Decision.Routes[0].Admit = []strategy.Limit{{Node: "c", Rate: 0}}
	}
	return s
}
