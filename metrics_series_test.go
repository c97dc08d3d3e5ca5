package dfaas

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// TestFailureCountersStartAtZero: the counters by reason or kind are
// exported at 0 from the start, so that a rate over them exists before the
// first failure.
func TestFailureCountersStartAtZero(t *testing.T) {
	_, reg := newMetrics(t)
	got := series(t, reg, "dfaas_agent_announce_failures_total", "dfaas_agent_neighbour_anomalies_total", "dfaas_agent_out_of_cycle_applies_total")
	want := `dfaas_agent_announce_failures_total{reason=trimmed} 0
dfaas_agent_announce_failures_total{reason=unbuildable} 0
dfaas_agent_announce_failures_total{reason=unsent} 0
dfaas_agent_neighbour_anomalies_total{kind=grant_bounded} 0
dfaas_agent_neighbour_anomalies_total{kind=share_capped} 0
dfaas_agent_out_of_cycle_applies_total{kind=deferred} 0
dfaas_agent_out_of_cycle_applies_total{kind=greet} 0
dfaas_agent_out_of_cycle_applies_total{kind=reapply} 0`
	if got != want {
		t.Errorf("series:\n%s\nwant:\n%s", got, want)
	}
}

// TestUndeployedFunctionLosesLocalGauges: a function no longer deployed
// here (still requested, now run by a neighbour) loses its capacity, CPU
// and memory series; its offered rate stays.
func TestUndeployedFunctionLosesLocalGauges(t *testing.T) {
	m, reg := newMetrics(t)
	names := []string{
		"dfaas_agent_function_capacity_requests_per_second", "dfaas_agent_function_cpu_cores",
		"dfaas_agent_function_memory_bytes", "dfaas_agent_offered_requests_per_second",
	}
	m.setFunctions([]strategy.Function{{Name: "f", Offered: 3, Deployed: true, Capacity: 10, CPU: 0.5, Memory: 100}}, true)
	want := `dfaas_agent_function_capacity_requests_per_second{function=f} 10
dfaas_agent_function_cpu_cores{function=f} 0.5
dfaas_agent_function_memory_bytes{function=f} 100
dfaas_agent_offered_requests_per_second{function=f} 3`
	if got := series(t, reg, names...); got != want {
		t.Fatalf("deployed:\n%s\nwant:\n%s", got, want)
	}
	m.setFunctions([]strategy.Function{{Name: "f", Offered: 4}}, true)
	if got := series(t, reg, names...); got != "dfaas_agent_offered_requests_per_second{function=f} 4" {
		t.Errorf("no longer deployed:\n%s", got)
	}
}

// TestAnomalyAndAllowanceSeries: the anomaly counters grow by what the
// core counted since the cycle before (not by its running total), and the
// allowance gauges list exactly the neighbours capped this cycle.
func TestAnomalyAndAllowanceSeries(t *testing.T) {
	m, reg := newMetrics(t)
	names := []string{"dfaas_agent_neighbour_anomalies_total", "dfaas_agent_neighbour_allowance_requests_per_second"}
	m.setAnomalies(control.Anomalies{GrantsBounded: 3, SharesCapped: 5}, control.Anomalies{GrantsBounded: 5, SharesCapped: 5},
		[]control.Cap{{ID: "b", Allowance: 40}, {ID: "c", Allowance: 7.5}})
	want := `dfaas_agent_neighbour_allowance_requests_per_second{peer=b} 40
dfaas_agent_neighbour_allowance_requests_per_second{peer=c} 7.5
dfaas_agent_neighbour_anomalies_total{kind=grant_bounded} 2
dfaas_agent_neighbour_anomalies_total{kind=share_capped} 0`
	if got := series(t, reg, names...); got != want {
		t.Fatalf("first cycle:\n%s\nwant:\n%s", got, want)
	}
	m.setAnomalies(control.Anomalies{GrantsBounded: 5, SharesCapped: 5}, control.Anomalies{GrantsBounded: 5, SharesCapped: 6},
		[]control.Cap{{ID: "c", Allowance: 9}})
	want = `dfaas_agent_neighbour_allowance_requests_per_second{peer=c} 9
dfaas_agent_neighbour_anomalies_total{kind=grant_bounded} 2
dfaas_agent_neighbour_anomalies_total{kind=share_capped} 1`
	if got := series(t, reg, names...); got != want {
		t.Fatalf("second cycle:\n%s\nwant:\n%s", got, want)
	}
}

// TestUnknownRateSeries: the aggregate of unknown names is exported by
// kind, each with its own rate.
func TestUnknownRateSeries(t *testing.T) {
	m, reg := newMetrics(t)
	m.setUnknown(control.Unknown{Names: 4, Offered: 10, Rejected: 6, Failed: 1.5, Local: 99})
	want := `dfaas_agent_unknown_function_requests_per_second{kind=failed} 1.5
dfaas_agent_unknown_function_requests_per_second{kind=offered} 10
dfaas_agent_unknown_function_requests_per_second{kind=rejected} 6
dfaas_agent_unknown_functions{} 4`
	if got := series(t, reg, "dfaas_agent_unknown_functions", "dfaas_agent_unknown_function_requests_per_second"); got != want {
		t.Errorf("series:\n%s\nwant:\n%s", got, want)
	}
}

// newMetrics returns a node's metrics on a registry of their own.
func newMetrics(t *testing.T) (*nodeMetrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := newNodeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}
