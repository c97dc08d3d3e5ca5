package dfaas

import (
	"context"
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

// TestNeighbourFunctionsAndExpiry: the proxy learns of a neighbour only
// the functions it runs (not those it merely receives requests for); when
// the neighbour goes silent past the expiry it leaves the proxy's state,
// the data network gauge and the status.
func TestNeighbourFunctionsAndExpiry(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a, regA, recA := newInternalNode(t, net, "a", faas.NewStatic(faas.Function{Name: "f", AvailableReplicas: 1}))
	trB, err := net.Join("b")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{
		Strategy: strategy.AllLocal{}, Proxy: proxyctl.NewRecorder(0),
		FaaS: faas.NewStatic(faas.Function{Name: "f", AvailableReplicas: 1, Labels: map[string]string{faas.LabelMaxRate: "10"}}),
		Metrics: metricsrc.NewStatic(metricsrc.Sample{Window: time.Second, Functions: []metricsrc.FunctionRates{
			{Name: "f", Offered: 1, Local: 1}, {Name: "g", Offered: 2, Rejected: 2},
		}}),
		Peers: trB, ProxyURL: "http://b:1", Period: time.Second, Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	t0 := time.Unix(100, 0)
	for _, n := range []*Node{b, a, b, a} {
		if _, err := n.Step(ctx, t0); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := recA.Last()
	if len(st.Neighbours) != 1 || st.Neighbours[0].ID != "b" || strings.Join(st.Neighbours[0].Functions, ",") != "f" {
		t.Fatalf("neighbours in the proxy state %+v, want b running f only", st.Neighbours)
	}
	if got := series(t, regA, "dfaas_agent_neighbours"); got != "dfaas_agent_neighbours{} 1" {
		t.Errorf("neighbours gauge: %s", got)
	}
	later := t0.Add(time.Minute)
	if _, err := a.Step(ctx, later); err != nil {
		t.Fatal(err)
	}
	if st, _ := recA.Last(); len(st.Neighbours) != 0 {
		t.Errorf("expired neighbour still in the proxy state: %+v", st.Neighbours)
	}
	if got := series(t, regA, "dfaas_agent_neighbours"); got != "dfaas_agent_neighbours{} 0" {
		t.Errorf("neighbours gauge after expiry: %s", got)
	}
	for _, p := range a.Status(later).Peers {
		if p.ID == "b" && (p.Age != nil || p.Proxy != "") {
			t.Errorf("expired neighbour still has a proxy and an age in the status: %+v", p)
		}
	}
}
