package dfaas

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// histogramCount returns the sample count of histogram name in reg.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestCycleAccounting: every cycle is counted and timed; the decision's
// shares are exported; the announcement reaches each peer and is counted;
// Close removes the node's metrics from the registry.
func TestCycleAccounting(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, reg, _ := newInternalNode(t, net, "a", faas.NewStatic(faas.Function{Name: "f", AvailableReplicas: 1}))
	b, err := net.Join("b")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := n.Step(context.Background(), time.Unix(int64(1+i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	st := n.Status(time.Unix(2, 0))
	if st.Cycles != 2 || st.Sent != 2 {
		t.Errorf("cycles %d, sent %d; want 2 and 2", st.Cycles, st.Sent)
	}
	if c := histogramCount(t, reg, "dfaas_agent_cycle_duration_seconds"); c != 2 {
		t.Errorf("cycle durations observed %d, want 2", c)
	}
	want := `dfaas_agent_cycles_total{} 2
dfaas_agent_decision_share{destination=local,function=f} 1
dfaas_agent_decision_share{destination=reject,function=f} 0
dfaas_agent_peer_messages_sent_total{} 2
dfaas_agent_peer_send_errors_total{} 0
dfaas_agent_peers{state=down} 0
dfaas_agent_peers{state=up} 1`
	if got := series(t, reg, "dfaas_agent_cycles_total", "dfaas_agent_decision_share", "dfaas_agent_peer_messages_sent_total", "dfaas_agent_peer_send_errors_total", "dfaas_agent_peers"); got != want {
		t.Errorf("metrics:\n%s\nwant\n%s", got, want)
	}
	for i := range 2 {
		select {
		case m := <-b.Recv():
			if m.From != "a" {
				t.Errorf("message %d from %q", i, m.From)
			}
		default:
			t.Fatalf("peer b got %d announcements, want 2", i)
		}
	}
	n.Close()
	if got := series(t, reg); got != "" {
		t.Errorf("metrics left after Close:\n%s", got)
	}
}

// TestComponentFailuresReported: a failing proxy or strategy is counted,
// shown in the health and in component_up, and recovers.
func TestComponentFailuresReported(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	var stratErr error
	reg := prometheus.NewRegistry()
	rec := proxyctl.NewRecorder(0)
	n, err := New(Config{
		Strategy: strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
			if stratErr != nil {
				return strategy.Decision{}, stratErr
			}
			return strategy.AllLocal{}.Decide(s)
		}),
		Proxy: rec, FaaS: faas.NewStatic(faas.Function{Name: "f", AvailableReplicas: 1}), Metrics: metricsrc.NewStatic(metricsrc.Sample{}),
		Peers: tr, ProxyURL: "http://a:1", Period: time.Second, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := net.Join("b"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(component, health string, up string) {
		t.Helper()
		if h := n.Status(time.Unix(1, 0)).Health[component]; h != health {
			t.Errorf("%s health %q, want %q", component, h, health)
		}
		if got := series(t, reg, "dfaas_agent_component_up"); !strings.Contains(got, "{component="+component+"} "+up) {
			t.Errorf("component_up:\n%s\nwant %s at %s", got, component, up)
		}
	}
	rec.SetErr(errors.New("runtime API refused"))
	if _, err := n.Step(ctx, time.Unix(1, 0)); err == nil || !strings.Contains(err.Error(), "proxy") {
		t.Fatalf("step with a failing proxy: %v", err)
	}
	check(ComponentProxy, "runtime API refused", "0")
	if sent := n.Status(time.Unix(1, 0)).Sent; sent != 1 {
		t.Errorf("a failed cycle sent %d announcements, want the one in force sent again", sent)
	}
	rec.SetErr(nil)
	stratErr = errors.New("no idea")
	if _, err := n.Step(ctx, time.Unix(2, 0)); err == nil || !strings.Contains(err.Error(), "decide") {
		t.Fatalf("step with a failing strategy: %v", err)
	}
	check(ComponentStrategy, "no idea", "0")
	stratErr = nil
	if _, err := n.Step(ctx, time.Unix(3, 0)); err != nil {
		t.Fatal(err)
	}
	check(ComponentStrategy, "ok", "1")
	check(ComponentProxy, "ok", "1")
	if e := n.Status(time.Unix(3, 0)).Errors; e[ComponentProxy] != 1 || e[ComponentStrategy] != 1 {
		t.Errorf("errors %v, want one proxy and one strategy failure", e)
	}
}

// TestClosedTransportReported: when the node's own transport is closed,
// the peers component reports it.
func TestClosedTransportReported(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, _, _ := newInternalNode(t, net, "a", faas.NewStatic(faas.Function{Name: "f", AvailableReplicas: 1}))
	if _, err := net.Join("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Step(context.Background(), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if h := n.Status(time.Unix(1, 0)).Health[ComponentPeers]; h != "ok" {
		t.Fatalf("peers health %q before closing", h)
	}
	n.cfg.Peers.Close()
	_, _ = n.Step(context.Background(), time.Unix(2, 0))
	if h := n.Status(time.Unix(2, 0)).Health[ComponentPeers]; h == "ok" || h == "" {
		t.Errorf("peers health %q after the transport closed, want an error", h)
	}
}
