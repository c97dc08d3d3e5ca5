package goproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/internal/netlimit"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestProxyMetrics: the proxy exports, through a registry that checks
// every metric is described, the requests outside the routing state and
// the retries of forwarded requests by reason, besides its listener's
// metrics.
func TestProxyMetrics(t *testing.T) {
	faas := newSummer(t)
	p, err := New(Config{FaaSURL: faas.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(p)
	defer srv.Close()
	post := func(fn string, want int) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/function/"+fn, "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: status %d, want %d", fn, resp.StatusCode, want)
		}
	}
	post("fn", 200) // before the first Apply: unrouted, served locally
	post("fn", 200)

	refusing := newPeer(t, 403, "unknown-node", false)
	ok := newPeer(t, 200, "", true)
	apply := func(deployed bool, first *peer) {
		t.Helper()
		st := proxyctl.State{Self: "a", Neighbours: []proxyctl.Neighbour{
			{ID: "b", URL: first.srv.URL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true},
			{ID: "d", URL: ok.srv.URL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true},
		}}
		if deployed {
			st.Functions = []proxyctl.Function{{Name: "fn"}}
		}
		st.Decision.Routes = []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}, {Node: "d", Share: 0}}}}
		if err := p.Apply(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	apply(true, refusing)
	post("fn", 200)    // refused as unknown-node, served locally
	post("other", 404) // unrouted
	apply(false, closedPeer(t))
	post("fn", 200) // b unreachable, sent to d
	post("fn", 200)

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(p); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather (every metric collected must be described): %v", err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for key, want := range map[string]float64{
		MetricUnrouted:                         3,
		MetricRetries + " reason=unknown-node": 1,
		MetricRetries + " reason=unreachable":  2,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", key, v, ok, want)
		}
	}
	if _, ok := got[netlimit.MetricAccepted+" listener=proxy"]; !ok {
		t.Errorf("the listener's metrics are not exported: %v", got)
	}
	// Describe names exactly what Collect exports.
	descs := make(chan *prometheus.Desc, 64)
	p.Describe(descs)
	close(descs)
	var names []string
	for d := range descs {
		names = append(names, d.String())
	}
	all := strings.Join(names, "\n")
	for _, name := range []string{MetricUnrouted, MetricRetries, MetricQueueFull, MetricRefused, netlimit.MetricAccepted} {
		if !strings.Contains(all, `"`+name+`"`) {
			t.Errorf("%s not described", name)
		}
	}
}
