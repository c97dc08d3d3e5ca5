package dfaas_test

import (
	"context"
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

// injectTransport is a transport whose incoming messages the test writes,
// with any sender it likes (a compromised or buggy transport may deliver
// a message claiming to come from this node).
type injectTransport struct {
	*peer.MemTransport
	in chan peer.Message
}

func (t *injectTransport) Recv() <-chan peer.Message { return t.in }

// TestMessageFromSelfRefused: a message claiming this node's own ID (or no
// sender) is dropped and counted as "self", whatever it carries; it never
// becomes a neighbour, and the node neither forwards to itself nor admits
// itself.
func TestMessageFromSelfRefused(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	mt, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	tr := &injectTransport{MemTransport: mt, in: make(chan peer.Message, 4)}
	rec := proxyctl.NewRecorder(0)
	reg := prometheus.NewRegistry()
	n, err := dfaas.New(dfaas.Config{
		Strategy: &strategy.Static{LocalShare: 0.5}, Proxy: rec, FaaS: faas.NewStatic(figlet("100")),
		Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: tr, ProxyURL: "http://a:1", Period: time.Second, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	valid := dfaas.StateMessage{Version: dfaas.WireVersion, Type: "state", Incarnation: 1, Seq: 5, Proxy: "http://evil:1", Token: strings.Repeat("ab", 32),
		Announcement: strategy.Announcement{Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true, Capacity: 1000, Spare: 1000}}}}
	data, err := dfaas.EncodeMessage(valid)
	if err != nil {
		t.Fatal(err)
	}
	tr.in <- peer.Message{From: "a", Data: data}
	tr.in <- peer.Message{From: "", Data: data}
	// Refused before it is decoded: counted as self, not as invalid.
	tr.in <- peer.Message{From: "a", Data: []byte("{not json")}
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	for i := range 2 {
		if _, err := n.Step(ctx, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	st := n.Status(t0.Add(time.Second))
	if st.Dropped[dfaas.DropSelf] != 3 || st.Received != 0 {
		t.Fatalf("dropped %v, received %d: want the three messages dropped as %q", st.Dropped, st.Received, dfaas.DropSelf)
	}
	ps, _ := rec.Last()
	if len(ps.Neighbours) != 0 {
		t.Fatalf("a message from this node's own ID made a neighbour: %+v", ps.Neighbours)
	}
	if r, _ := ps.Decision.Route("figlet"); len(r.Forward) != 0 || r.Local != 1 {
		t.Fatalf("route %+v: want everything local (no neighbour)", r)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var counted float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == dfaas.DropSelf && m.GetCounter() != nil {
					counted += m.GetCounter().GetValue()
				}
			}
		}
	}
	if counted != 3 {
		t.Fatalf("metric of messages dropped as %q = %v, want 3", dfaas.DropSelf, counted)
	}
}
