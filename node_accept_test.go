package dfaas

import (
	"context"
	"errors"
	"math"
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

// unhealthy lists its functions but fails its health check.
type unhealthy struct{ *faas.Static }

func (unhealthy) Health(context.Context) error { return errors.New("platform gateway down") }

func newInternalNode(t *testing.T, net *peer.MemNetwork, id string, backend faas.Backend) (*Node, *prometheus.Registry, *proxyctl.Recorder) {
	t.Helper()
	tr, err := net.Join(peer.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec := proxyctl.NewRecorder(0)
	n, err := New(Config{
		Strategy: strategy.AllLocal{}, Proxy: rec, FaaS: backend, Metrics: metricsrc.NewStatic(metricsrc.Sample{}),
		Peers: tr, ProxyURL: "http://" + id + ".example:1", Period: time.Second, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, reg, rec
}

// TestSelfAndAnonymousMessagesDropped: a message that claims this node's
// own ID, or no ID, is dropped as "self" and counted; a valid message from
// a peer is accepted and shows in the status, whether or not the transport
// lists that peer.
func TestSelfAndAnonymousMessagesDropped(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, reg, _ := newInternalNode(t, net, "a", faas.NewStatic())
	if _, err := net.Join("b"); err != nil {
		t.Fatal(err)
	}
	msg := StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://p:1", Token: strings.Repeat("ab", 32)}
	data, err := EncodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(100, 0)
	for _, from := range []peer.ID{"a", ""} {
		n.handle(context.Background(), peer.Message{From: from, Data: data}, now, false)
	}
	st := n.Status(now)
	if st.Dropped[DropSelf] != 2 || st.Received != 0 {
		t.Fatalf("dropped %v, received %d; want 2 dropped as self, none received", st.Dropped, st.Received)
	}
	if got := series(t, reg, "dfaas_agent_peer_messages_dropped_total"); !strings.Contains(got, "{reason=self} 2") {
		t.Errorf("dropped counters:\n%s", got)
	}
	for _, from := range []peer.ID{"g", "c", "f", "b", "e", "d"} {
		n.handle(context.Background(), peer.Message{From: from, Data: data}, now, false)
	}
	later := now.Add(3 * time.Second)
	st = n.Status(later)
	if st.Received != 6 {
		t.Fatalf("received %d, want 6", st.Received)
	}
	if got := series(t, reg, "dfaas_agent_peer_messages_received_total"); got != "dfaas_agent_peer_messages_received_total{} 6" {
		t.Errorf("received counter: %s", got)
	}
	var ids []string
	for _, p := range st.Peers {
		ids = append(ids, string(p.ID))
	}
	if strings.Join(ids, ",") != "b,c,d,e,f,g" {
		t.Fatalf("peers %v, want b to g in order", ids)
	}
	for _, p := range st.Peers {
		if !p.Up || p.Proxy != "http://p:1" || p.Age == nil || *p.Age != 3*time.Second {
			t.Errorf("peer %+v: want up, proxy http://p:1, age 3s", p)
		}
	}
	if st.Peers[0].Addr == "" {
		t.Errorf("peer b listed by the transport has no address: %+v", st.Peers[0])
	}
}

// TestFunctionListHygiene: the functions the platform lists are sorted,
// deduplicated and cleared of invalid names before they reach the proxy,
// with the capacity and time-out their labels state.
func TestFunctionListHygiene(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	labels := map[string]string{faas.LabelMaxRate: "10", faas.LabelTimeout: "1500", faas.LabelConcurrency: "3"}
	backend := faas.NewStatic(
		faas.Function{Name: "b", AvailableReplicas: 1, Labels: labels},
		faas.Function{Name: "a", AvailableReplicas: 1},
		faas.Function{Name: "b", AvailableReplicas: 1, Labels: labels},
		faas.Function{Name: "../x", AvailableReplicas: 1},
	)
	n, _, rec := newInternalNode(t, net, "a", backend)
	if _, err := n.Step(context.Background(), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	st, ok := rec.Last()
	if !ok {
		t.Fatal("no proxy state applied")
	}
	var names []string
	for _, f := range st.Functions {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "a,b" {
		t.Fatalf("proxy functions %v, want a,b", names)
	}
	if b := st.Functions[1]; b.Capacity != 10 || b.Concurrency != 3 || b.Timeout != 1500*time.Millisecond {
		t.Errorf("function b %+v: want capacity 10, concurrency 3, time-out 1.5s", b)
	}
	if a := st.Functions[0]; a.Timeout != 0 || a.Capacity != 0 {
		t.Errorf("function a %+v: want no capacity or time-out", a)
	}
	if h := n.Status(time.Unix(1, 0)).Health[ComponentFaaS]; h != "ok" {
		t.Errorf("faas health %q, want ok", h)
	}
}

// TestUnhealthyPlatform: a platform that lists functions but fails its
// health check counts as failing: health and component_up say so.
func TestUnhealthyPlatform(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, reg, _ := newInternalNode(t, net, "a", unhealthy{faas.NewStatic(faas.Function{Name: "f", AvailableReplicas: 1})})
	_, _ = n.Step(context.Background(), time.Unix(1, 0))
	if h := n.Status(time.Unix(1, 0)).Health[ComponentFaaS]; h != "platform gateway down" {
		t.Errorf("faas health %q, want the health check's error", h)
	}
	got := series(t, reg, "dfaas_agent_component_up")
	if !strings.Contains(got, "{component=faas} 0") || !strings.Contains(got, "{component=proxy} 1") {
		t.Errorf("component_up:\n%s", got)
	}
}

// TestQueueDepthReachesProxy: Config.QueueDepth becomes each function's
// MaxQueue in the proxy's state, from the concurrency the platform states
// (default depth 4; negative: no cap); a function without a stated
// concurrency gets no cap.
func TestQueueDepthReachesProxy(t *testing.T) {
	for _, tc := range []struct {
		depth float64
		want  int
	}{{0, 12}, {0.5, 2}, {10, 30}, {-1, 0}} {
		net := peer.NewMemNetwork(peer.MemNetworkOptions{})
		tr, err := net.Join("a")
		if err != nil {
			t.Fatal(err)
		}
		rec := proxyctl.NewRecorder(0)
		n, err := New(Config{
			Strategy: strategy.AllLocal{}, Proxy: rec, Metrics: metricsrc.NewStatic(metricsrc.Sample{}),
			FaaS: faas.NewStatic(
				faas.Function{Name: "b", AvailableReplicas: 1, Labels: map[string]string{faas.LabelConcurrency: "3"}},
				faas.Function{Name: "c", AvailableReplicas: 1},
			),
			Peers: tr, ProxyURL: "http://a.example:1", Period: time.Second, QueueDepth: tc.depth,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Step(context.Background(), time.Unix(1, 0)); err != nil {
			t.Fatal(err)
		}
		st, ok := rec.Last()
		if !ok || len(st.Functions) != 2 {
			t.Fatalf("depth %v: proxy state %+v", tc.depth, st)
		}
		if b, c := st.Functions[0], st.Functions[1]; b.MaxQueue != tc.want || c.Concurrency == 0 && c.MaxQueue != 0 {
			t.Errorf("depth %v: b %+v (want MaxQueue %d), c %+v (no stated concurrency: want no cap)", tc.depth, b, tc.want, c)
		}
		n.Close()
		net.Close()
	}
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	bad := Config{Strategy: strategy.AllLocal{}, Proxy: proxyctl.NewRecorder(0), FaaS: faas.NewStatic(),
		Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: tr, ProxyURL: "http://a.example:1", QueueDepth: math.NaN()}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "QueueDepth") {
		t.Errorf("Validate with a NaN QueueDepth: %v, want an error naming it", err)
	}
}
