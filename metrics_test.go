package dfaas_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// gauge returns the value of a gauge (or the sum and count of a summary)
// with label function=fn in reg; ok is false when absent.
func gauge(t *testing.T, reg *prometheus.Registry, name, fn string) (v float64, count uint64, ok bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "function" && l.GetValue() == fn {
					if s := m.GetSummary(); s != nil {
						return s.GetSampleSum(), s.GetSampleCount(), true
					}
					return m.GetGauge().GetValue(), 0, true
				}
			}
		}
	}
	return 0, 0, false
}

// TestForecastMetrics: each cycle exports the observed and forecast rates,
// and the error of the previous cycle's forecast.
func TestForecastMetrics(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a := newTestNode(t, net, "a", strategy.AllLocal{}, figlet("100"))
	now := time.Unix(1000, 0)
	var absSum float64
	prev := -1.0
	for i, rate := range []float64{10, 30, 25, 25} {
		a.metrics.Set(offered("figlet", rate))
		now = now.Add(time.Second)
		step(t, now, a)
		if v, _, _ := gauge(t, a.reg, "dfaas_agent_offered_requests_per_second", "figlet"); v != rate {
			t.Errorf("cycle %d: offered gauge %v, want %v", i, v, rate)
		}
		// Without a forecaster the forecast is the observed rate.
		if v, _, _ := gauge(t, a.reg, "dfaas_agent_forecast_requests_per_second", "figlet"); v != rate {
			t.Errorf("cycle %d: forecast gauge %v, want %v", i, v, rate)
		}
		e, _, ok := gauge(t, a.reg, "dfaas_agent_forecast_error_requests_per_second", "figlet")
		if prev < 0 {
			if ok {
				t.Errorf("cycle %d: a forecast error before any forecast", i)
			}
		} else {
			if !ok || e != rate-prev {
				t.Errorf("cycle %d: error %v, want %v", i, e, rate-prev)
			}
			absSum += abs(rate - prev)
		}
		prev = rate
	}
	sum, n, _ := gauge(t, a.reg, "dfaas_agent_forecast_absolute_error_requests_per_second", "figlet")
	if n != 3 || sum != absSum {
		t.Errorf("absolute errors: sum %v over %d, want %v over 3", sum, n, absSum)
	}
	if c, _, _ := gauge(t, a.reg, "dfaas_agent_function_capacity_requests_per_second", "figlet"); c != 100 {
		t.Errorf("capacity gauge %v", c)
	}

	// A function that goes away loses its series.
	a.faas.Set()
	a.metrics.Set(metricsrc.Sample{Window: time.Second})
	step(t, now.Add(time.Second), a)
	for _, name := range []string{"dfaas_agent_offered_requests_per_second", "dfaas_agent_forecast_error_requests_per_second", "dfaas_agent_function_capacity_requests_per_second"} {
		if _, _, ok := gauge(t, a.reg, name, "figlet"); ok {
			t.Errorf("%s{function=figlet} still exported", name)
		}
	}
}

// TestDegradedMetrics: a source that falls back still lets the node decide,
// and the node reports the metric source as failing until it recovers.
func TestDegradedMetrics(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	primary := metricsrc.NewStatic(offered("figlet", 150))
	fallback := metricsrc.NewStatic(offered("figlet", 200))
	node, err := dfaas.New(dfaas.Config{
		Strategy: &strategy.Recalc{Utilization: 1}, Proxy: proxyctl.NewRecorder(0), FaaS: faas.NewStatic(figlet("100")),
		Metrics: metricsrc.Fallback(primary, fallback), Peers: tr, ProxyURL: "http://a:1", Period: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ctx := context.Background()
	now := time.Unix(1000, 0)
	local := func() float64 {
		t.Helper()
		d, err := node.Step(ctx, now)
		if err != nil {
			t.Fatalf("step: %v", err)
		}
		r, _ := d.Route("figlet")
		return r.Local
	}
	if l := local(); abs(l-100.0/150) > 1e-9 {
		t.Errorf("primary: local share %v, want 100/150", l)
	}
	primary.SetErr(errors.New("prometheus unreachable"))
	now = now.Add(time.Second)
	if l := local(); abs(l-0.5) > 1e-9 {
		t.Errorf("fallback: local share %v, want 100/200", l)
	}
	ok, failing := node.Healthy()
	if ok || !strings.Contains(failing[dfaas.ComponentMetrics], "prometheus unreachable") || !strings.Contains(failing[dfaas.ComponentMetrics], "degraded") {
		t.Errorf("degraded: healthy %v, failing %v", ok, failing)
	}
	if st := node.Status(now); st.Errors[dfaas.ComponentMetrics] != 1 {
		t.Errorf("status errors %v", st.Errors)
	}
	primary.SetErr(nil)
	now = now.Add(time.Second)
	local()
	if ok, failing := node.Healthy(); !ok {
		t.Errorf("recovered: failing %v", failing)
	}
}
