package dfaas

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
)

// listed is a FaaS backend that lists its functions as given, unsorted.
type listed []faas.Function

func (l listed) Functions(context.Context) ([]faas.Function, error) {
	return append([]faas.Function(nil), l...), nil
}

// TestUnsortedFunctionList: a platform that lists its functions in any
// order, with duplicates apart, gives the proxy each function once,
// sorted.
func TestUnsortedFunctionList(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	backend := listed{{Name: "c", AvailableReplicas: 1}, {Name: "a", AvailableReplicas: 1}, {Name: "c", AvailableReplicas: 1}, {Name: "b", AvailableReplicas: 1}, {Name: "a", AvailableReplicas: 1}}
	n, _, rec := newRulesNode(t, net, nil, func(c *Config) { c.FaaS = backend })
	if _, err := n.Step(context.Background(), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	st, _ := rec.Last()
	var names []string
	for _, f := range st.Functions {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Fatalf("proxy functions %v, want a,b,c", names)
	}
}

// TestMemberLeavingIsForgotten: with a transport that lists every member,
// a neighbour that leaves the federation is dropped (its credential
// revoked) at the next cycle, not after the neighbour expiry.
func TestMemberLeavingIsForgotten(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, _, rec := newRulesNode(t, net, nil, nil)
	b, err := net.Join("b")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	n.handle(context.Background(), peer.Message{From: "b", Data: stateData(t, 1, 1, strings.Repeat("ab", 32))}, t0, false)
	if _, err := n.Step(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	if st, _ := rec.Last(); len(st.Neighbours) != 1 {
		t.Fatalf("b is not a neighbour: %+v", st.Neighbours)
	}
	b.Close()
	if _, err := n.Step(context.Background(), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if st, _ := rec.Last(); len(st.Neighbours) != 0 {
		t.Fatalf("b left the federation but is still accepted: %+v", st.Neighbours)
	}
}

// TestAnomalyCountersFollowTheCore: the anomaly counters on /metrics equal
// the node's status (the core's running totals) cycle after cycle.
func TestAnomalyCountersFollowTheCore(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	flow, err := strategy.Builtin().New("flow", nil)
	if err != nil {
		t.Fatal(err)
	}
	sample := metricsrc.Sample{Window: time.Second, Answers: true, Functions: []metricsrc.FunctionRates{{
		Name: "figlet", Offered: 400, Local: 100, Forwarded: 300,
		Neighbours: []metricsrc.NeighbourRates{{ID: "liar", Forwarded: 300, Failed: 300}},
	}}}
	n, reg, _ := newRulesNode(t, net, nil, func(c *Config) {
		c.Strategy = flow
		c.Metrics = metricsrc.NewStatic(sample)
		c.FaaS = faas.NewStatic(faas.Function{Name: "figlet", AvailableReplicas: 1, Labels: map[string]string{faas.LabelMaxRate: "100"}})
	})
	if _, err := net.Join("liar"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	for k := range 4 {
		m := StateMessage{
			Version: WireVersion, Type: "state", Incarnation: 1, Seq: uint64(k + 1), Proxy: "http://liar.example:1", Token: strings.Repeat("ab", 32),
			Announcement: strategy.Announcement{
				Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true, Capacity: 1e6, Spare: 1e9}},
				Grants:    []strategy.Grant{{To: "a", Function: "figlet", Rate: 1e9}},
			},
		}
		data, err := EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		now := t0.Add(time.Duration(k) * time.Second)
		n.handle(context.Background(), peer.Message{From: "liar", Data: data}, now, false)
		if _, err := n.Step(context.Background(), now); err != nil {
			t.Fatal(err)
		}
		tr := n.Status(now).Trust
		want := fmt.Sprintf("dfaas_agent_neighbour_anomalies_total{kind=grant_bounded} %d\ndfaas_agent_neighbour_anomalies_total{kind=share_capped} %d", tr.GrantsBounded, tr.SharesCapped)
		if got := series(t, reg, "dfaas_agent_neighbour_anomalies_total"); got != want {
			t.Fatalf("cycle %d: counters\n%s\nwant the status's\n%s", k, got, want)
		}
		if k == 3 && (tr.GrantsBounded < 2 || tr.SharesCapped < 2) {
			t.Fatalf("anomalies %+v: want several of each", tr)
		}
	}
}

// TestReplanDecidesOnItsOwnTime: a replan between two cycles hands the
// strategy a snapshot of its own time, on the last cycle's observation,
// with the neighbour that just joined.
func TestReplanDecidesOnItsOwnTime(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	var seen []strategy.Snapshot
	record := strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
		seen = append(seen, s)
		return strategy.AllLocal{}.Decide(s)
	})
	n, reg, _ := newRulesNode(t, net, nil, func(c *Config) { c.Strategy = record })
	if _, err := net.Join("b"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	if _, err := n.replan(ctx, t0); err != nil || len(seen) != 0 {
		t.Fatalf("a replan before any cycle decided (%d snapshots, err %v)", len(seen), err)
	}
	if _, err := n.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	n.handle(ctx, peer.Message{From: "b", Data: stateDataFns(t, 1, strings.Repeat("ab", 32), "figlet")}, t0.Add(200*time.Millisecond), false)
	at := t0.Add(300 * time.Millisecond)
	if _, err := n.replan(ctx, at); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("%d decisions, want the cycle's and the replan's", len(seen))
	}
	s := seen[1]
	if !s.Now.Equal(at) {
		t.Errorf("the replan's snapshot is of %v, want %v", s.Now, at)
	}
	if _, ok := s.Neighbour("b"); !ok {
		t.Errorf("the replan does not see b, which joined: %+v", s.Neighbours)
	}
	if got := series(t, reg, "dfaas_agent_replans_total"); got != "dfaas_agent_replans_total{} 1" {
		t.Errorf("replans: %s", got)
	}
}

// TestInvalidSampleFailsTheCycle: a metric source whose sample the core
// rejects (a negative CPU usage) fails the cycle as a metrics failure: the
// strategy is not asked, the decision in force stays.
func TestInvalidSampleFailsTheCycle(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	calls := 0
	record := strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
		calls++
		return strategy.AllLocal{}.Decide(s)
	})
	src := metricsrc.NewStatic(metricsrc.Sample{Window: time.Second})
	n, _, rec := newRulesNode(t, net, nil, func(c *Config) { c.Strategy, c.Metrics = record, src })
	ctx := context.Background()
	if _, err := n.Step(ctx, time.Unix(1, 0)); err != nil || calls != 1 {
		t.Fatalf("first cycle: err %v, %d decisions", err, calls)
	}
	applied := len(rec.History())
	src.Set(metricsrc.Sample{Window: time.Second, Node: metricsrc.NodeUsage{CPU: -1}})
	_, err := n.Step(ctx, time.Unix(2, 0))
	if err == nil || !strings.Contains(err.Error(), "snapshot") {
		t.Fatalf("cycle on an invalid sample: %v, want a snapshot error", err)
	}
	h := n.Status(time.Unix(2, 0)).Health
	if calls != 1 || !strings.Contains(h[ComponentMetrics], "invalid snapshot") || h[ComponentStrategy] != "ok" {
		t.Fatalf("%d decisions, health %v: want the strategy not asked, metrics failing", calls, h)
	}
	if len(rec.History()) != applied {
		t.Fatalf("a new proxy state applied on an invalid sample")
	}
}

// varSample is a metric source whose sample the test changes, returned as
// it is (a source's first sample has no window).
type varSample struct{ s metricsrc.Sample }

func (v *varSample) Sample(context.Context, time.Time, time.Duration) (metricsrc.Sample, error) {
	return v.s, nil
}

// TestSampleWithoutWindowIsNotAnObservation: a sample with no window (a
// source's first) is not taken as measured: no forecast error is recorded
// against it.
func TestSampleWithoutWindowIsNotAnObservation(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	src := &varSample{s: metricsrc.Sample{Window: time.Second, Functions: []metricsrc.FunctionRates{{Name: "figlet", Offered: 10, Local: 10}}}}
	n, reg, _ := newRulesNode(t, net, nil, func(c *Config) { c.Metrics = src })
	ctx := context.Background()
	if _, err := n.Step(ctx, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	src.s = metricsrc.Sample{}
	if _, err := n.Step(ctx, time.Unix(2, 0)); err != nil {
		t.Fatal(err)
	}
	if got := series(t, reg, "dfaas_agent_forecast_error_requests_per_second"); got != "" {
		t.Fatalf("a forecast error recorded against a sample with no window: %s", got)
	}
	src.s = metricsrc.Sample{Window: time.Second, Functions: []metricsrc.FunctionRates{{Name: "figlet", Offered: 12, Local: 12}}}
	if _, err := n.Step(ctx, time.Unix(3, 0)); err != nil {
		t.Fatal(err)
	}
	if got := series(t, reg, "dfaas_agent_forecast_error_requests_per_second"); got == "" {
		t.Fatal("no forecast error recorded against a measured sample")
	}
}
