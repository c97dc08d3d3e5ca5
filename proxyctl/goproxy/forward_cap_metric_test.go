package goproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestForwardCappedMetric: the user requests a neighbour's forwarding cap
// turns away are counted in MetricCapped, and the count only grows: it
// carries over a new decision and the removal of the function's route.
func TestForwardCappedMetric(t *testing.T) {
	p, err := New(Config{FaaSURL: newSummer(t).srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(p)
	defer srv.Close()
	b := newPeer(t, 200, "", true)
	// b may receive no share, no rate and no growth: only the first request
	// (sent == 0) reaches it; the function is not deployed here, so the
	// rest are rejected.
	state := func(routed bool) proxyctl.State {
		st := proxyctl.State{Self: "a", Neighbours: []proxyctl.Neighbour{{
			ID: "b", URL: b.srv.URL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA,
			Forward: routed, Cap: proxyctl.ForwardCap{On: true},
		}}}
		if routed {
			st.Decision.Routes = []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}}
		}
		return st
	}
	apply := func(st proxyctl.State) {
		t.Helper()
		if err := p.Apply(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	post := func(n int) (ok int) {
		t.Helper()
		for range n {
			resp, err := http.Post(srv.URL+"/function/fn", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok++
			}
		}
		return ok
	}
	apply(state(true))
	if ok := post(5); ok != 1 || b.hits.Load() != 1 {
		t.Fatalf("5 requests: %d served, %d reached b; want 1 and 1 (the rest capped)", ok, b.hits.Load())
	}
	if got := cappedMetric(t, p); got != 4 {
		t.Fatalf("%s = %v after 5 requests, want 4", MetricCapped, got)
	}
	apply(state(true)) // a new decision: the count carries over
	post(2)
	if got := cappedMetric(t, p); got != 6 {
		t.Fatalf("%s = %v after a new decision and 2 more requests, want 6", MetricCapped, got)
	}
	apply(state(false)) // the function's route is gone: the count stays
	if got := cappedMetric(t, p); got != 6 {
		t.Fatalf("%s = %v once the route is gone, want 6", MetricCapped, got)
	}
}

// cappedMetric gathers p's metrics and returns MetricCapped.
func cappedMetric(t *testing.T, p *Proxy) float64 {
	t.Helper()
	return counterOf(t, p, MetricCapped, "")
}

// counterOf gathers p's metrics and returns counter name, of the series
// whose first label has the value label (any series if label is empty).
func counterOf(t *testing.T, p *Proxy, name, label string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(p); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && (label == "" || m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("%s{%q} not exported", name, label)
	return 0
}

// TestForwardCapPaths: a neighbour's cap holds on a decision's route and on
// the default route of a function only neighbours run, and its successful
// answers let it grow (Growth): a neighbour that answers every request
// keeps receiving them where one held to no share gets only the first.
func TestForwardCapPaths(t *testing.T) {
	for _, tt := range []struct {
		name    string
		routed  bool
		growth  float64
		reached int64
	}{
		{"decision route, no growth", true, 0, 1},
		{"default route, no growth", false, 0, 1},
		{"decision route, grows with successes", true, 3, 6},
		{"default route, grows with successes", false, 3, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(Config{FaaSURL: newSummer(t).srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			srv := httptest.NewServer(p)
			defer srv.Close()
			b := newPeer(t, 200, "", true)
			st := proxyctl.State{Self: "a", Neighbours: []proxyctl.Neighbour{{
				ID: "b", URL: b.srv.URL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA,
				Forward: true, Cap: proxyctl.ForwardCap{On: true, Growth: tt.growth},
			}}}
			if tt.routed {
				st.Decision.Routes = []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}}
			}
			if err := p.Apply(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			for range 6 {
				resp, err := http.Post(srv.URL+"/function/fn", "text/plain", strings.NewReader("x"))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if got := b.hits.Load(); got != tt.reached {
				t.Errorf("6 requests: %d reached b, want %d", got, tt.reached)
			}
		})
	}
}
