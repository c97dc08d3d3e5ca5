package dfaas

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
)

// series lists the series of the named metrics in reg, one
// "name{label=value,...} value" line each, sorted.
func series(t *testing.T, reg *prometheus.Registry, names ...string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		if len(names) > 0 && !contains(names, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			lines = append(lines, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(ls, ","), v))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDecisionAndPeerMetrics: the share gauges follow the last decision
// (a route that disappears loses its series); the peer gauges count peers
// up and down and export the RTT of those that have one.
func TestDecisionAndPeerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newNodeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.setDecision(strategy.Decision{Routes: []strategy.Route{
		{Function: "f", Local: 0.25, Reject: 0.25, Forward: []strategy.Share{{Node: "b", Share: 0.5}}},
		{Function: "g", Local: 1},
	}})
	m.setDecision(strategy.Decision{Routes: []strategy.Route{
		{Function: "f", Local: 0.5, Reject: 0.125, Forward: []strategy.Share{{Node: "b", Share: 0.375}}},
	}})
	want := `dfaas_agent_decision_share{destination=b,function=f} 0.375
dfaas_agent_decision_share{destination=local,function=f} 0.5
dfaas_agent_decision_share{destination=reject,function=f} 0.125`
	if got := series(t, reg, "dfaas_agent_decision_share"); got != want {
		t.Errorf("shares:\n%s\nwant\n%s", got, want)
	}
	m.setPeers([]peer.Info{{ID: "x", Up: true, RTT: 3 * time.Millisecond}})
	m.setPeers([]peer.Info{
		{ID: "b", Up: true, RTT: 2 * time.Millisecond},
		{ID: "c", Up: true},
		{ID: "d", Up: false, RTT: time.Millisecond},
	})
	want = `dfaas_agent_peer_rtt_seconds{peer=b} 0.002
dfaas_agent_peer_rtt_seconds{peer=d} 0.001
dfaas_agent_peers{state=down} 1
dfaas_agent_peers{state=up} 2`
	if got := series(t, reg, "dfaas_agent_peer_rtt_seconds", "dfaas_agent_peers"); got != want {
		t.Errorf("peers:\n%s\nwant\n%s", got, want)
	}
	want = `dfaas_agent_peer_messages_dropped_total{reason=invalid} 0
dfaas_agent_peer_messages_dropped_total{reason=malformed} 0
dfaas_agent_peer_messages_dropped_total{reason=oversize} 0
dfaas_agent_peer_messages_dropped_total{reason=self} 0
dfaas_agent_peer_messages_dropped_total{reason=stale} 0
dfaas_agent_peer_messages_dropped_total{reason=version} 0`
	if got := series(t, reg, "dfaas_agent_peer_messages_dropped_total"); got != want {
		t.Errorf("dropped counters exist before any drop:\n%s\nwant\n%s", got, want)
	}
	m.unregister()
	if got := series(t, reg); got != "" {
		t.Errorf("series left after unregister:\n%s", got)
	}
}

// TestFunctionMetricsForget: a function that leaves the snapshot loses its
// series and its last forecast, so that when it returns no forecast error
// is computed against the stale forecast.
func TestFunctionMetricsForget(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newNodeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.setFunctions([]strategy.Function{{Name: "f", Offered: 10, Forecast: 12, Deployed: true, Capacity: 5}}, true)
	m.setFunctions([]strategy.Function{{Name: "f", Offered: 11, Forecast: 12, Deployed: true, Capacity: 5}}, true)
	if got := series(t, reg, "dfaas_agent_forecast_absolute_error_requests_per_second"); got == "" {
		t.Fatal("no forecast error series")
	}
	m.setFunctions(nil, true)
	if got := series(t, reg); strings.Contains(got, "function=f") {
		t.Errorf("series of a departed function left:\n%s", got)
	}
	if len(m.functions) != 0 || len(m.lastForecast) != 0 {
		t.Errorf("state of a departed function left: %v %v", m.functions, m.lastForecast)
	}
	m.setFunctions([]strategy.Function{{Name: "f", Offered: 1, Forecast: 1}}, true)
	if got := series(t, reg, "dfaas_agent_forecast_error_requests_per_second"); got != "" {
		t.Errorf("forecast error against a forgotten forecast: %s", got)
	}
}
