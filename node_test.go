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
	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// testNode is one node of an in-memory federation with in-memory parts.
type testNode struct {
	node    *dfaas.Node
	tr      *peer.MemTransport
	proxy   *proxyctl.Recorder
	faas    *faas.Static
	metrics *metricsrc.Static
	reg     *prometheus.Registry
}

func figlet(capacity string) faas.Function {
	return faas.Function{Name: "figlet", Replicas: 1, AvailableReplicas: 1, Labels: map[string]string{faas.LabelMaxRate: capacity}}
}

func newTestNode(t *testing.T, net *peer.MemNetwork, id string, st strategy.Strategy, fns ...faas.Function) *testNode {
	t.Helper()
	tr, err := net.Join(peer.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{tr: tr, proxy: proxyctl.NewRecorder(0), faas: faas.NewStatic(fns...), metrics: metricsrc.NewStatic(metricsrc.Sample{}), reg: prometheus.NewRegistry()}
	tn.node, err = dfaas.New(dfaas.Config{
		Strategy: st, Proxy: tn.proxy, FaaS: tn.faas, Metrics: tn.metrics, Peers: tr,
		ProxyURL: "http://" + id + ".example:30080", Period: time.Second, Registerer: tn.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.node.Close() })
	return tn
}

func offered(name string, rate float64) metricsrc.Sample {
	return metricsrc.Sample{Window: time.Second, Functions: []metricsrc.FunctionRates{{Name: name, Offered: rate, Local: rate}}}
}

// step runs one cycle on every node at the same instant.
func step(t *testing.T, now time.Time, nodes ...*testNode) {
	t.Helper()
	for _, n := range nodes {
		if _, err := n.node.Step(context.Background(), now); err != nil {
			t.Fatalf("%s: %v", n.node.ID(), err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, _ := net.Join("a")
	good := dfaas.Config{
		Strategy: strategy.AllLocal{}, Proxy: proxyctl.NewRecorder(0), FaaS: faas.NewStatic(),
		Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: tr, ProxyURL: "http://127.0.0.1:30080",
	}
	if _, err := dfaas.New(good); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		field  string
		mutate func(c *dfaas.Config)
	}{
		{"Strategy", func(c *dfaas.Config) { c.Strategy = nil }},
		{"Proxy", func(c *dfaas.Config) { c.Proxy = nil }},
		{"FaaS", func(c *dfaas.Config) { c.FaaS = nil }},
		{"Metrics", func(c *dfaas.Config) { c.Metrics = nil }},
		{"Peers", func(c *dfaas.Config) { c.Peers = nil }},
		{"ProxyURL", func(c *dfaas.Config) { c.ProxyURL = "ftp://x" }},
		{"ProxyURL", func(c *dfaas.Config) { c.ProxyURL = "" }},
		{"Period", func(c *dfaas.Config) { c.Period = -time.Second }},
		{"Period", func(c *dfaas.Config) { c.Period = time.Millisecond }},
		{"NeighbourExpiry", func(c *dfaas.Config) { c.Period = time.Second; c.NeighbourExpiry = time.Millisecond * 500 }},
		{"Nearest", func(c *dfaas.Config) { c.Nearest = -1 }},
		{"MaxRTT", func(c *dfaas.Config) { c.MaxRTT = -1 }},
		{"ApplyTimeout", func(c *dfaas.Config) { c.ApplyTimeout = -1 }},
		{"AdviceTimeout", func(c *dfaas.Config) { c.AdviceTimeout = -1 }},
		{"Bootstrap", func(c *dfaas.Config) { c.Bootstrap = []peer.ID{""} }},
		{"Strategy", func(c *dfaas.Config) { c.Strategy = &strategy.Static{LocalShare: 3} }},
	}
	for _, tt := range tests {
		c := good
		tt.mutate(&c)
		_, err := dfaas.New(c)
		if !errors.Is(err, dfaas.ErrConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: got %v, want ErrConfig naming the field", tt.field, err)
		}
	}
}

// TestFederationForwards runs three nodes in lock-step: the overloaded
// one forwards its excess to the two others, in proportion to their grants.
func TestFederationForwards(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{Seed: 1})
	defer net.Close()
	a := newTestNode(t, net, "a", &strategy.Recalc{Utilization: 1}, figlet("100"))
	b := newTestNode(t, net, "b", &strategy.Recalc{Utilization: 1}, figlet("100"))
	c := newTestNode(t, net, "c", &strategy.Recalc{Utilization: 1}, figlet("100"))
	a.metrics.Set(offered("figlet", 160))
	b.metrics.Set(offered("figlet", 20))
	c.metrics.Set(offered("figlet", 40))
	t0 := time.Unix(1000, 0)
	step(t, t0, a, b, c)                  // everyone announces
	step(t, t0.Add(time.Second), a, b, c) // grants computed and announced
	step(t, t0.Add(2*time.Second), a, b, c)

	st, ok := a.proxy.Last()
	if !ok {
		t.Fatal("a applied nothing")
	}
	r, ok := st.Decision.Route("figlet")
	if !ok {
		t.Fatal("no route for figlet")
	}
	// b grants (100-20)/2 = 40 to a, c grants (100-40)/2 = 30: a's excess
	// of 60 fits (40+30 = 70), split 40:30.
	if got, want := r.Local, 100.0/160; abs(got-want) > 1e-9 {
		t.Errorf("local share %v, want %v", got, want)
	}
	if got, want := r.ForwardShare("b"), 60*40.0/70/160; abs(got-want) > 1e-9 {
		t.Errorf("share to b %v, want %v", got, want)
	}
	if got, want := r.ForwardShare("c"), 60*30.0/70/160; abs(got-want) > 1e-9 {
		t.Errorf("share to c %v, want %v", got, want)
	}
	if r.Reject > 1e-9 {
		t.Errorf("reject share %v, want 0", r.Reject)
	}
	if r.LocalLimit != 100 {
		t.Errorf("local limit %v, want 100", r.LocalLimit)
	}
	// The proxy learns the neighbours, their URLs and credentials.
	if len(st.Neighbours) != 2 || st.Neighbours[0].URL != "http://b.example:30080" || !st.Neighbours[0].Forward {
		t.Fatalf("neighbours %+v", st.Neighbours)
	}
	bst, _ := b.proxy.Last()
	nbA, _ := bst.Neighbour("a")
	if nbA.TokenIn == "" || nbA.TokenIn != st.Neighbours[0].TokenOut {
		t.Errorf("b expects token %q from a, a presents %q", nbA.TokenIn, st.Neighbours[0].TokenOut)
	}
	cst, _ := c.proxy.Last()
	if nbA2, _ := cst.Neighbour("a"); nbA2.TokenIn == nbA.TokenIn {
		t.Error("b and c expect the same token from a; tokens must be per pair")
	}
	status := a.node.Status(t0.Add(2 * time.Second))
	if len(status.Peers) != 2 || !status.Peers[0].Neighbour {
		t.Errorf("status peers %+v", status.Peers)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestFailStatic shows that a node keeps its last decision when its metric
// source, its FaaS backend, its strategy or its proxy fails, and recovers.
func TestFailStatic(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{Seed: 1})
	defer net.Close()
	boom := errors.New("boom")
	var failStrategy bool
	st := strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
		if failStrategy {
			return strategy.Decision{}, boom
		}
		return strategy.AllLocal{}.Decide(s)
	})
	a := newTestNode(t, net, "a", st, figlet("100"))
	a.metrics.Set(offered("figlet", 10))
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	good, err := a.node.Step(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	applied := len(a.proxy.History())

	check := func(name string, wantErr bool, at time.Time) {
		t.Helper()
		d, err := a.node.Step(ctx, at)
		if (err != nil) != wantErr {
			t.Fatalf("%s: err = %v, want error %v", name, err, wantErr)
		}
		if !d.Equal(good) {
			t.Fatalf("%s: decision in force changed to %+v", name, d)
		}
	}

	a.metrics.SetErr(boom)
	check("metrics down", true, t0.Add(time.Second))
	if ok, failing := a.node.Healthy(); ok || failing[dfaas.ComponentMetrics] == "" {
		t.Errorf("healthy with metrics down: %v", failing)
	}
	if n := len(a.proxy.History()); n != applied {
		t.Errorf("proxy re-applied while metrics were down (%d -> %d)", applied, n)
	}
	a.metrics.SetErr(nil)

	a.faas.SetErr(boom)
	check("faas down keeps last functions", false, t0.Add(2*time.Second))
	last, _ := a.proxy.Last()
	if len(last.Functions) != 1 || last.Functions[0].Name != "figlet" {
		t.Errorf("functions forgotten while the FaaS was down: %+v", last.Functions)
	}
	if ok, _ := a.node.Healthy(); ok {
		t.Error("healthy with the FaaS down")
	}
	a.faas.SetErr(nil)

	failStrategy = true
	check("strategy error", true, t0.Add(3*time.Second))
	failStrategy = false

	a.proxy.SetErr(boom)
	check("proxy down", true, t0.Add(4*time.Second))
	a.proxy.SetErr(nil)

	check("recovered", false, t0.Add(5*time.Second))
	if ok, failing := a.node.Healthy(); !ok {
		t.Errorf("still unhealthy after recovery: %v", failing)
	}
	if errs := a.counter(t, "dfaas_agent_cycle_errors_total", "component", "metrics"); errs != 1 {
		t.Errorf("metrics errors counted %v, want 1", errs)
	}
}

// counter returns the value of counter name with the given label in n's
// registry.
func (n *testNode) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

// TestPanickingStrategy: a strategy that panics does not take the node down.
func TestPanickingStrategy(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a := newTestNode(t, net, "a", strategy.Func(func(strategy.Snapshot) (strategy.Decision, error) { panic("bad plug-in") }), figlet("10"))
	if _, err := a.node.Step(context.Background(), time.Unix(1, 0)); err == nil || !strings.Contains(err.Error(), "bad plug-in") {
		t.Fatalf("got %v", err)
	}
}

// TestHostilePeer: malformed, oversized, stale and spoofed messages are
// dropped and counted; the node's state is untouched.
func TestHostilePeer(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a := newTestNode(t, net, "a", strategy.AllLocal{}, figlet("10"))
	evil, _ := net.Join("evil")
	ctx := context.Background()
	valid := dfaas.StateMessage{Version: dfaas.WireVersion, Type: "state", Incarnation: 1, Seq: 5, Proxy: "http://evil:1", Token: strings.Repeat("ab", 32)}
	good, err := dfaas.EncodeMessage(valid)
	if err != nil {
		t.Fatal(err)
	}
	valid.Seq = 4
	stale, _ := dfaas.EncodeMessage(valid)
	for _, m := range [][]byte{
		[]byte("{"),
		[]byte(`{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + strings.Repeat("ab", 32) + `","evil":1}`),
		[]byte(`{"v":9,"type":"state"}`),
		[]byte(`{"v":2,"type":"state","inc":1,"seq":1,"proxy":"javascript:alert(1)","token":"` + strings.Repeat("ab", 32) + `"}`),
		[]byte(`{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + strings.Repeat("ab", 32) + `","ann":{"functions":[{"name":"f","capacity":-1}]}}`),
		make([]byte, dfaas.DefaultMaxMessageSize+1),
		good,
		stale,
	} {
		if err := evil.Send(ctx, "a", m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.node.Step(ctx, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	st := a.node.Status(time.Unix(1, 0))
	want := map[string]uint64{dfaas.DropMalformed: 2, dfaas.DropVersion: 1, dfaas.DropInvalid: 2, dfaas.DropOversize: 1, dfaas.DropStale: 1}
	for reason, n := range want {
		if st.Dropped[reason] != n {
			t.Errorf("dropped[%s] = %d, want %d (all: %v)", reason, st.Dropped[reason], n, st.Dropped)
		}
	}
	if st.Received != 1 {
		t.Errorf("accepted %d messages, want 1", st.Received)
	}
}

// spoofTransport is a MemTransport whose incoming messages the test
// delivers itself, with any sender: what a transport would deliver if a
// peer presented this node's own identity (a stolen key, a clone).
type spoofTransport struct {
	*peer.MemTransport
	in chan peer.Message
}

func (s *spoofTransport) Recv() <-chan peer.Message { return s.in }

// TestSelfMessageRefused: a message claiming to come from this node, or
// from no one, is dropped and counted as "self" and changes nothing; a
// valid message from another peer in the same batch is accepted.
func TestSelfMessageRefused(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	sp := &spoofTransport{MemTransport: tr, in: make(chan peer.Message, 4)}
	a := newNode(t, tr, strategy.AllLocal{}, func(c *dfaas.Config) { c.Peers = sp }, figlet("10"))
	msg := dfaas.StateMessage{Version: dfaas.WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://x.example:1", Token: strings.Repeat("ab", 32),
		Announcement: strategy.Announcement{Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true, Capacity: 1e6}}}}
	data, err := dfaas.EncodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []peer.ID{"a", "", "b"} {
		sp.in <- peer.Message{From: from, Data: data}
	}
	now := time.Unix(1, 0)
	if _, err := a.node.Step(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	st := a.node.Status(now)
	if st.Dropped[dfaas.DropSelf] != 2 || st.Received != 1 {
		t.Errorf("dropped %v, received %d; want 2 dropped as %q and 1 received", st.Dropped, st.Received, dfaas.DropSelf)
	}
	for _, p := range st.Peers {
		if p.ID == "a" || p.ID == "" {
			t.Errorf("a message claiming to be from %q entered the peer table: %+v", p.ID, p)
		}
	}
	last, _ := a.proxy.Last()
	if nb, ok := last.Neighbour("a"); ok {
		t.Errorf("the proxy state names this node as its own neighbour: %+v", nb)
	}
}

// TestNeighbourExpiry: a neighbour that goes silent is dropped from the
// snapshot after the expiry, and forwarding to it stops.
func TestNeighbourExpiry(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a := newTestNode(t, net, "a", &strategy.Static{LocalShare: 0.5}, figlet("100"))
	b := newTestNode(t, net, "b", &strategy.Static{LocalShare: 0.5}, figlet("100"))
	t0 := time.Unix(1000, 0)
	step(t, t0, a, b)
	step(t, t0.Add(time.Second), a, b)
	st, _ := a.proxy.Last()
	if r, _ := st.Decision.Route("figlet"); r.ForwardShare("b") != 0.5 {
		t.Fatalf("not forwarding to b: %+v", r)
	}
	net.Partition("a") // b goes silent for a, and the transport sees it down
	step(t, t0.Add(2*time.Second), a, b)
	st, _ = a.proxy.Last()
	if r, _ := st.Decision.Route("figlet"); r.ForwardShare("b") != 0 {
		t.Fatalf("still forwarding to a peer the transport reports down: %+v", r)
	}
	for i := 3; i <= 6; i++ { // b's last message, queued before the cut, arrived at t0+2s
		step(t, t0.Add(time.Duration(i)*time.Second), a, b)
	}
	st, _ = a.proxy.Last()
	if r, _ := st.Decision.Route("figlet"); r.ForwardShare("b") != 0 || len(st.Neighbours) != 0 {
		t.Fatalf("still forwarding to an expired neighbour: %+v", st)
	}
	net.Heal()
	step(t, t0.Add(7*time.Second), a, b)
	step(t, t0.Add(8*time.Second), a, b)
	st, _ = a.proxy.Last()
	if r, _ := st.Decision.Route("figlet"); r.ForwardShare("b") != 0.5 {
		t.Fatalf("b not back after healing: %+v", r)
	}
}

// TestDataNetwork: with Nearest, only the nearest peers by RTT receive
// forwarded requests, but every peer still gets announcements.
func TestDataNetwork(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	mk := func(id string) *testNode {
		tr, _ := net.Join(peer.ID(id))
		tn := &testNode{tr: tr, proxy: proxyctl.NewRecorder(0), faas: faas.NewStatic(figlet("100")), metrics: metricsrc.NewStatic(metricsrc.Sample{})}
		var err error
		tn.node, err = dfaas.New(dfaas.Config{
			Strategy: &strategy.Static{LocalShare: 0.5}, Proxy: tn.proxy, FaaS: tn.faas, Metrics: tn.metrics,
			Peers: tr, ProxyURL: "http://" + id + ":1", Period: time.Second, Nearest: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	a, b, c := mk("a"), mk("b"), mk("c")
	net.SetDelay("a", "b", 20*time.Millisecond)
	net.SetDelay("b", "a", 20*time.Millisecond)
	net.SetDelay("a", "c", 5*time.Millisecond)
	net.SetDelay("c", "a", 5*time.Millisecond)
	t0 := time.Unix(1000, 0)
	step(t, t0, a, b, c)
	settle(t, a, b, c)                    // let the delayed announcements land
	step(t, t0.Add(time.Second), a, b, c) // credentials handed out
	settle(t, a, b, c)
	step(t, t0.Add(2*time.Second), a, b, c)
	st, _ := a.proxy.Last()
	r, _ := st.Decision.Route("figlet")
	if r.ForwardShare("c") != 0.5 || r.ForwardShare("b") != 0 {
		t.Fatalf("want everything forwarded to the nearest (c): %+v", r)
	}
	if len(st.Neighbours) != 2 {
		t.Fatalf("the proxy must still accept from every neighbour: %+v", st.Neighbours)
	}
	bst, _ := b.proxy.Last()
	if _, ok := bst.Neighbour("a"); !ok {
		t.Fatal("b did not hear a's announcement (control network must stay all-to-all)")
	}
}

// settle waits (polling, for at most 5 s) until no message sent among
// nodes is still in flight (delayed by the network).
func settle(t *testing.T, nodes ...*testNode) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var sent, arrived uint64
		for _, tn := range nodes {
			st := tn.tr.Stats()
			sent += st.Sent
			arrived += st.Received + st.DroppedFull + st.DroppedLink
		}
		if sent == arrived {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages arrived after 5 s", arrived, sent)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestForecaster: with a forecaster, the snapshot's Forecast is its
// prediction, fed one observation per cycle.
func TestForecaster(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, _ := net.Join("a")
	var seen []float64
	st := strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
		f, _ := s.Function("figlet")
		seen = append(seen, f.Forecast)
		return strategy.AllLocal{}.Decide(s)
	})
	m := metricsrc.NewStatic(metricsrc.Sample{})
	n, err := dfaas.New(dfaas.Config{
		Strategy: st, Proxy: proxyctl.NewRecorder(1), FaaS: faas.NewStatic(figlet("10")), Metrics: m, Peers: tr,
		ProxyURL: "http://a:1", Period: time.Second, Forecaster: func() forecast.Forecaster { return &forecast.EWMA{Alpha: 0.5} },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, rate := range []float64{10, 20} {
		m.Set(offered("figlet", rate))
		if _, err := n.Step(context.Background(), time.Unix(int64(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 || seen[0] != 10 || seen[1] != 15 {
		t.Fatalf("forecasts %v, want [10 15]", seen)
	}
}

// TestRunStopsCleanly: Run returns nil when its context is cancelled, and
// ErrClosed after Close.
func TestRunStopsCleanly(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a := newTestNode(t, net, "a", strategy.AllLocal{}, figlet("10"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.node.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(a.proxy.History()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	ran := len(a.proxy.History()) > 0
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !ran {
		t.Fatal("Run applied no decision within 5 s")
	}
	a.node.Close()
	if err := a.node.Run(context.Background()); !errors.Is(err, dfaas.ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if _, err := a.node.Step(context.Background(), time.Now()); !errors.Is(err, dfaas.ErrClosed) {
		t.Fatalf("Step after Close: %v", err)
	}
}

// TestNoForwardBeforeAccepted: a node forwards to a neighbour only once
// that neighbour's proxy accepts its credential, so the first forwarded
// requests are never refused as coming from an unknown node.
func TestNoForwardBeforeAccepted(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	nodes := map[string]*testNode{}
	for _, id := range []string{"a", "b", "c"} {
		nodes[id] = newTestNode(t, net, id, &strategy.Static{LocalShare: 0.5}, figlet("100"))
	}
	t0 := time.Unix(1000, 0)
	forwarding := false
	for i := range 4 {
		// Apply on every node in turn, checking after each Step: a
		// forwarding target must already accept the forwarder.
		for _, id := range []string{"c", "a", "b"} {
			step(t, t0.Add(time.Duration(i)*time.Second), nodes[id])
			st, _ := nodes[id].proxy.Last()
			for _, nb := range st.Neighbours {
				if !nb.Forward {
					continue
				}
				forwarding = true
				other, ok := nodes[string(nb.ID)].proxy.Last()
				back, known := other.Neighbour(strategy.NodeID(id))
				if !ok || !known || back.TokenIn != nb.TokenOut {
					t.Fatalf("step %d: %s may forward to %s, whose proxy does not accept it yet", i, id, nb.ID)
				}
			}
		}
	}
	if !forwarding {
		t.Fatal("no node ever forwarded")
	}
}
