package haproxy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// cappedMetric gathers proxyctl.MetricForwardCapped from c through a
// pedantic registry (which also checks Describe against Collect).
func cappedMetric(t *testing.T, c *Controller) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == proxyctl.MetricForwardCapped {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not exported", proxyctl.MetricForwardCapped)
	return 0
}

// TestCappedMetricThroughRuntime: the metric reads HAProxy's counter
// (st_fn's gpc2) at every collection, adds across a restart of HAProxy,
// and keeps its count while HAProxy cannot be read.
func TestCappedMetricThroughRuntime(t *testing.T) {
	c, rt := newFakeController(t, []string{"f"}, 1)
	for _, step := range []struct {
		name   string
		pid    int64
		capped int64
		down   bool
		want   float64
	}{
		{"first reading", 0, 3, false, 3},
		{"grown", 0, 7, false, 7},
		{"HAProxy down", 0, 9, true, 7},
		{"restarted: counts from zero, added", 5, 2, false, 9},
	} {
		if step.pid != 0 {
			rt.pid = step.pid
		}
		rt.down = step.down
		rt.stats, rt.tables = reading{offered: 10, capped: step.capped}.rows()
		if got := cappedMetric(t, c); got != step.want {
			t.Errorf("%s: %s = %v, want %v", step.name, proxyctl.MetricForwardCapped, got, step.want)
		}
	}
}

// TestIntegrationForwardCappedMetric: with real HAProxy nodes, the user
// requests a's forwarding cap on b turns away (b may get one request a
// second: no share, no rate, no growth; a has no local share, so they are
// rejected) are counted in proxyctl.MetricForwardCapped, one for one.
func TestIntegrationForwardCappedMetric(t *testing.T) {
	p := newPair(t)
	st := p.stateA(strategy.Route{Function: "figlet", Forward: []strategy.Share{{Node: "b", Share: 1}}})
	st.Neighbours[0].Cap = proxyctl.ForwardCap{On: true}
	apply(t, p.a, st)
	apply(t, p.b, p.stateB(strategy.Route{Function: "figlet", Local: 1}))
	const n = 20
	counts := send(t, p.a, "figlet", n, 1)
	if counts["forwarded:b"] < 1 || counts["forwarded:b"]+counts["rejected:policy"] != n {
		t.Fatalf("%d requests went %v; want at least one forwarded to b, the rest rejected by the cap", n, counts)
	}
	if got, want := cappedMetric(t, p.a), float64(counts["rejected:policy"]); got != want {
		t.Errorf("%s = %v, want %v (the requests rejected by the cap)", proxyctl.MetricForwardCapped, got, want)
	}
	if got := cappedMetric(t, p.b); got != 0 {
		t.Errorf("b, which caps nobody: %s = %v, want 0", proxyctl.MetricForwardCapped, got)
	}
}
