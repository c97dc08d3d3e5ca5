package dfaas_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// newNode is newTestNode with the config changed by mutate (on transport
// tr, for a node that restarts on the same transport).
func newNode(t *testing.T, tr *peer.MemTransport, st strategy.Strategy, mutate func(*dfaas.Config), fns ...faas.Function) *testNode {
	t.Helper()
	tn := &testNode{tr: tr, proxy: proxyctl.NewRecorder(0), faas: faas.NewStatic(fns...), metrics: metricsrc.NewStatic(metricsrc.Sample{}), reg: prometheus.NewRegistry()}
	cfg := dfaas.Config{
		Strategy: st, Proxy: tn.proxy, FaaS: tn.faas, Metrics: tn.metrics, Peers: tr,
		ProxyURL: "http://" + string(tr.LocalID()) + ".example:30080", Period: time.Second, Registerer: tn.reg,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	var err error
	if tn.node, err = dfaas.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.node.Close() })
	return tn
}

func join(t *testing.T, net *peer.MemNetwork, id string) *peer.MemTransport {
	t.Helper()
	tr, err := net.Join(peer.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// metricsText returns n's metrics as the agent serves them on /metrics.
func (n *testNode) metricsText(t *testing.T) []byte {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestUnknownNamesDoNotCutOff: requests for 10,000 names that exist nowhere
// (issue 20, attack 1) leave the node announcing every period, with its
// metrics bounded and the names counted as one aggregate.
func TestUnknownNamesDoNotCutOff(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	fc, _ := forecast.ByName("auto")
	withForecast := func(c *dfaas.Config) { c.Forecaster = fc }
	a := newNode(t, join(t, net, "a"), strategy.AllLocal{}, withForecast, figlet("100"))
	b := newNode(t, join(t, net, "b"), strategy.AllLocal{}, withForecast, faas.Function{Name: "remote", AvailableReplicas: 1, Labels: map[string]string{faas.LabelMaxRate: "50"}})
	sample := metricsrc.Sample{Window: time.Second, Functions: []metricsrc.FunctionRates{{Name: "figlet", Offered: 5, Local: 5}, {Name: "remote", Offered: 3, Forwarded: 3}}}
	for i := range 10000 {
		sample.Functions = append(sample.Functions, metricsrc.FunctionRates{Name: fmt.Sprintf("made-up-%05d", i), Offered: 0.5, Rejected: 0.5})
	}
	a.metrics.Set(sample)
	t0 := time.Unix(1000, 0)
	for k := range 6 {
		before := b.node.Status(t0).Received
		step(t, t0.Add(time.Duration(k)*time.Second), a, b)
		if got := b.node.Status(t0).Received; got <= before {
			t.Fatalf("cycle %d: b received nothing from a (announcement gone quiet)", k)
		}
	}
	st := a.node.Status(t0.Add(6 * time.Second))
	if len(st.Functions) != 2 {
		t.Fatalf("status lists %d functions, want 2 (figlet, remote)", len(st.Functions))
	}
	if st.Unknown.Names != 10000 || st.Unknown.OfferedRPS < 4999 {
		t.Fatalf("unknown aggregate %+v", st.Unknown)
	}
	if ok, failing := a.node.Healthy(); !ok {
		t.Fatalf("unhealthy: %v", failing)
	}
	text := a.metricsText(t)
	if len(text) > 100<<10 || bytes.Contains(text, []byte("made-up")) {
		t.Fatalf("/metrics is %d bytes, names made up: %v", len(text), bytes.Contains(text, []byte("made-up")))
	}
	if !bytes.Contains(text, []byte("dfaas_agent_unknown_functions 10000")) {
		t.Fatal("the aggregate of unknown names is not on /metrics")
	}
}

// TestAnnouncementTrimmed: an announcement over the message limit goes out
// without the least loaded functions the node does not run (every function
// it runs and every grant stay); the node reports it (health, metric).
// One that cannot be built even so is reported too.
func TestAnnouncementTrimmed(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	// b and c run 40 functions each (their announcements fit a's limit);
	// a's users request all 80, so a's announcement does not.
	remote := map[string][]faas.Function{}
	sample := metricsrc.Sample{Window: time.Second, Functions: []metricsrc.FunctionRates{{Name: "figlet", Offered: 5, Local: 5}}}
	for i := range 80 {
		name := fmt.Sprintf("fn-%02d", i)
		owner := []string{"b", "c"}[i%2]
		remote[owner] = append(remote[owner], faas.Function{Name: name, AvailableReplicas: 1, Labels: map[string]string{faas.LabelMaxRate: "50"}})
		sample.Functions = append(sample.Functions, metricsrc.FunctionRates{Name: name, Offered: float64(i + 1), Forwarded: float64(i + 1)})
	}
	logs := &warnings{}
	a := newNode(t, join(t, net, "a"), strategy.AllLocal{}, func(c *dfaas.Config) {
		c.MaxMessageSize = 4096
		c.Logger = slog.New(logs)
	}, figlet("100"))
	var seen strategy.Snapshot // by b (lock-step: no concurrent access)
	record := strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
		seen = s
		return strategy.AllLocal{}.Decide(s)
	})
	b := newNode(t, join(t, net, "b"), record, nil, remote["b"]...)
	c := newNode(t, join(t, net, "c"), strategy.AllLocal{}, nil, remote["c"]...)
	a.metrics.Set(sample)
	t0 := time.Unix(1000, 0)
	for k := range 3 {
		step(t, t0.Add(time.Duration(k)*time.Second), a, b, c)
	}
	ok, failing := a.node.Healthy()
	if ok || !strings.Contains(failing[dfaas.ComponentAnnounce], "message limit") {
		t.Fatalf("health %v %v, want announce failing over the message limit", ok, failing)
	}
	if n := a.counter(t, "dfaas_agent_announce_failures_total", "reason", "trimmed"); n < 2 {
		t.Fatalf("trimmed announcements counted %v", n)
	}
	if n := logs.count("announcement failed"); n != 1 {
		t.Fatalf("%d warnings of a failing announcement over 3 cycles, want 1 (rate-limited)", n)
	}
	bs := b.node.Status(t0.Add(3 * time.Second))
	var fromA *dfaas.PeerStatus
	for i := range bs.Peers {
		if bs.Peers[i].ID == "a" {
			fromA = &bs.Peers[i]
		}
	}
	if fromA == nil || fromA.Age == nil || *fromA.Age > time.Second {
		t.Fatalf("b has no fresh announcement of a: %+v", bs.Peers)
	}
	// The least loaded went first; a's own function stays.
	nb, ok := seen.Neighbour("a")
	_, hasFiglet := nb.Announcement.Function("figlet")
	_, hasTop := nb.Announcement.Function("fn-79")
	_, hasBottom := nb.Announcement.Function("fn-00")
	if !ok || !hasFiglet || !hasTop || hasBottom {
		t.Fatalf("b sees a announce figlet %v, fn-79 %v, fn-00 %v: want the deployed one and the most loaded", hasFiglet, hasTop, hasBottom)
	}
	if st := a.node.Status(t0); st.Announce.Trimmed == 0 || st.Announce.LeftOut == 0 || st.Announce.LeftOut >= 80 {
		t.Fatalf("announce status %+v: want trimmed, some functions left out, not all", st.Announce)
	}

	// Even without the functions it does not run, 30 deployed functions
	// do not fit 1 KiB: reported as unbuildable.
	var many []faas.Function
	for i := range 30 {
		many = append(many, faas.Function{Name: fmt.Sprintf("deployed-%02d", i), AvailableReplicas: 1})
	}
	d := newNode(t, join(t, net, "d"), strategy.AllLocal{}, func(c *dfaas.Config) { c.MaxMessageSize = 1024 }, many...)
	step(t, t0, d)
	if ok, failing := d.node.Healthy(); ok || !strings.Contains(failing[dfaas.ComponentAnnounce], "cannot be built") {
		t.Fatalf("health %v %v, want announce failing: cannot be built", ok, failing)
	}
	if n := d.counter(t, "dfaas_agent_announce_failures_total", "reason", "unbuildable"); n != 1 {
		t.Fatalf("unbuildable announcements counted %v", n)
	}
}

// hanging is a metric source and a FaaS backend that answer only when
// their context ends: an overloaded data plane's runtime API, a hung
// gateway.
type hanging struct{ calls atomic.Int64 }

func (h *hanging) Sample(ctx context.Context, _ time.Time, _ time.Duration) (metricsrc.Sample, error) {
	h.calls.Add(1)
	<-ctx.Done()
	return metricsrc.Sample{}, ctx.Err()
}

func (h *hanging) Functions(ctx context.Context) ([]faas.Function, error) {
	h.calls.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestHangingBackendsDoNotSilence (issue 20, attack 1's symptom): a cycle
// whose FaaS backend and metric source hang ends when its measuring
// time-out (one period) does: the node reports both failing, keeps its
// decision and still announces.
func TestHangingBackendsDoNotSilence(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	h := &hanging{}
	a := newNode(t, join(t, net, "a"), strategy.AllLocal{}, func(c *dfaas.Config) {
		c.Period, c.Metrics, c.FaaS = 50*time.Millisecond, h, h
	})
	b := newNode(t, join(t, net, "b"), strategy.AllLocal{}, nil, figlet("10"))
	t0 := time.Unix(1000, 0)
	step(t, t0, b)
	done := make(chan error, 1)
	go func() {
		_, err := a.node.Step(context.Background(), t0.Add(time.Second))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "metrics") {
			t.Errorf("Step on hanging backends: %v, want a metrics error", err)
		}
	case <-time.After(10 * time.Second): // 200 periods: the time-out is one
		t.Fatal("Step still running 10 s after its measuring time-out of one period")
	}
	if h.calls.Load() != 2 {
		t.Errorf("%d calls of the hanging backends, want 2 (functions, sample)", h.calls.Load())
	}
	ok, failing := a.node.Healthy()
	if ok || failing[dfaas.ComponentMetrics] == "" || failing[dfaas.ComponentFaaS] == "" {
		t.Errorf("health %v %v, want metrics and faas failing", ok, failing)
	}
	if st := a.node.Status(t0); st.Sent == 0 {
		t.Error("a node whose backends hang announced nothing")
	}
}

// TestRestartIsANewIncarnation (issue 20, fault 7): a neighbour that
// restarts with the same identity is taken at once as a new incarnation:
// its messages are not dropped as stale, the credential it was handed is
// replaced, and each end greets the other as soon as it hears it, so that
// in lock-step a forwards to the restarted b again after one cycle of b
// (live, after a round trip; see TestIntegrationNeighbourRestart...).
func TestRestartIsANewIncarnation(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	static := &strategy.Static{LocalShare: 0.5}
	a := newNode(t, join(t, net, "a"), static, func(c *dfaas.Config) { c.Incarnation = 10 }, figlet("100"))
	trB := join(t, net, "b")
	b := newNode(t, trB, static, func(c *dfaas.Config) { c.Incarnation = 10 }, figlet("100"))
	t0 := time.Unix(1000, 0)
	step(t, t0, a, b)
	step(t, t0.Add(time.Second), a, b)
	st, _ := a.proxy.Last()
	old, _ := st.Neighbour("b")
	if r, _ := st.Decision.Route("figlet"); r.ForwardShare("b") != 0.5 || old.TokenIn == "" {
		t.Fatalf("a does not forward to b before the restart: %+v", st)
	}
	b.node.Close()
	b = newNode(t, trB, static, func(c *dfaas.Config) { c.Incarnation = 11 }, figlet("100"))
	step(t, t0.Add(2*time.Second), b) // b's first cycle: it announces to a, accepting no one yet
	before := len(a.proxy.History())
	step(t, t0.Add(2*time.Second), a) // a greets b at once, then runs its cycle
	hist := a.proxy.History()
	if len(hist) != before+2 {
		t.Fatalf("a applied %d states in the cycle after b restarted, want 2: the greeting and the cycle's", len(hist)-before)
	}
	nb, _ := hist[before].Neighbour("b")
	if nb.TokenIn == "" || nb.TokenIn == old.TokenIn || nb.TokenOut != "" {
		t.Fatalf("after b restarted, a accepts %q (old %q) and presents %q to it: want a new credential and none to present", nb.TokenIn, old.TokenIn, nb.TokenOut)
	}
	if d := a.node.Status(t0).Dropped[dfaas.DropStale]; d != 0 {
		t.Fatalf("a dropped %d messages of the restarted b as stale", d)
	}
	step(t, t0.Add(3*time.Second), b) // b greets a back with its credential
	step(t, t0.Add(3*time.Second), a)
	st, _ = a.proxy.Last()
	nb, _ = st.Neighbour("b")
	bst, _ := b.proxy.Last()
	nbA, _ := bst.Neighbour("a")
	if r, _ := st.Decision.Route("figlet"); r.ForwardShare("b") != 0.5 || nb.TokenOut != nbA.TokenIn {
		t.Fatalf("a does not forward to the restarted b a cycle later with the credential b accepts: %+v", st)
	}
	if nbA.TokenOut != nb.TokenIn {
		t.Fatalf("b presents %q to a, which expects %q", nbA.TokenOut, nb.TokenIn)
	}
	if n := a.counter(t, "dfaas_agent_neighbour_restarts_total", "", ""); n != 1 {
		t.Fatalf("restarts counted %v", n)
	}
}

// forwardsTo reports whether the last state n's proxy applied forwards
// function figlet to id with the credential id's proxy accepts from n.
func forwardsTo(n, to *testNode) bool {
	st, ok := n.proxy.Last()
	if !ok {
		return false
	}
	nb, _ := st.Neighbour(to.node.ID())
	r, _ := st.Decision.Route("figlet")
	tst, ok := to.proxy.Last()
	if !ok || r.ForwardShare(to.node.ID()) == 0 || nb.TokenOut == "" {
		return false
	}
	back, _ := tst.Neighbour(n.node.ID())
	return back.TokenIn == nb.TokenOut
}

// TestColdStartForwardsWithinAPeriod (issue 20, cold start): two nodes
// started at once forward to each other well within one period: each
// greets the other when it first hears it, and replans at once when the
// other accepts it, instead of waiting for its next cycles.
func TestColdStartForwardsWithinAPeriod(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	const period = 2 * time.Second
	static := &strategy.Static{LocalShare: 0.5}
	slow := func(c *dfaas.Config) { c.Period = period }
	a := newNode(t, join(t, net, "a"), static, slow, figlet("100"))
	b := newNode(t, join(t, net, "b"), static, slow, figlet("100"))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start := time.Now()
	for _, n := range []*testNode{a, b} {
		wg.Go(func() {
			if err := n.node.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	deadline := start.Add(period)
	for !(forwardsTo(a, b) && forwardsTo(b, a)) {
		if time.Now().After(deadline) {
			t.Fatalf("after one period (%v), a forwards to b: %v, b to a: %v", period, forwardsTo(a, b), forwardsTo(b, a))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("both forward %v after starting (period %v)", time.Since(start).Round(time.Millisecond), period)
}

// TestLyingNeighbourIsCapped (issue 20, attack 6): a member that announces
// a huge capacity and grants far above it, and answers nothing, attracts
// at most the floor share of the node's traffic; the grant is clamped to
// the announced capacity; both anomalies are counted and shown.
func TestLyingNeighbourIsCapped(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	flow, err := strategy.Builtin().New("flow", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := newNode(t, join(t, net, "a"), flow, nil, figlet("100"))
	liar := join(t, net, "liar")
	lie := func(seq uint64) {
		m := dfaas.StateMessage{
			Version: dfaas.WireVersion, Type: "state", Incarnation: 1, Seq: seq, Proxy: "http://liar.example:1", Token: strings.Repeat("ab", 32),
			Announcement: strategy.Announcement{
				Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true, Capacity: 1e6, Spare: 1e9}},
				Grants:    []strategy.Grant{{To: "a", Function: "figlet", Rate: 1e9}},
			},
		}
		data, err := dfaas.EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := liar.Send(context.Background(), "a", data); err != nil {
			t.Fatal(err)
		}
	}
	// a's users send 400 req/s; a's proxy measures the liar's answers:
	// none succeeded.
	sample := metricsrc.Sample{Window: time.Second, Answers: true, Functions: []metricsrc.FunctionRates{{
		Name: "figlet", Offered: 400, Local: 100, Forwarded: 300,
		Neighbours: []metricsrc.NeighbourRates{{ID: "liar", Forwarded: 300, Failed: 300}},
	}}}
	a.metrics.Set(sample)
	t0 := time.Unix(1000, 0)
	for k := range 4 {
		lie(uint64(k + 1))
		step(t, t0.Add(time.Duration(k)*time.Second), a)
	}
	st, _ := a.proxy.Last()
	r, _ := st.Decision.Route("figlet")
	if share := r.ForwardShare("liar"); share == 0 || share > control.DefaultFloorShare+1e-9 {
		t.Fatalf("the liar gets a share of %v of a's traffic; want at most the floor %v (route %+v)", share, control.DefaultFloorShare, r)
	}
	status := a.node.Status(t0)
	if status.Trust.GrantsBounded == 0 || status.Trust.SharesCapped == 0 || status.Trust.ByNeighbour["liar"] == 0 {
		t.Fatalf("anomalies not shown: %+v", status.Trust)
	}
	if len(status.Trust.Allowances) != 1 || math.Abs(status.Trust.Allowances[0].AllowanceRPS-400*control.DefaultFloorShare) > 1e-9 || !status.Trust.Allowances[0].Capped {
		t.Fatalf("allowances %+v, want the liar's at a third of 400 req/s, capped", status.Trust.Allowances)
	}
	if n := a.counter(t, "dfaas_agent_neighbour_anomalies_total", "kind", "share_capped"); n < 1 {
		t.Fatalf("capped shares counted %v", n)
	}
	if n := a.counter(t, "dfaas_agent_neighbour_anomalies_total", "kind", "grant_bounded"); n < 1 {
		t.Fatalf("bounded grants counted %v", n)
	}

	// A neighbour that serves what it is sent may receive three times as
	// much each period: the cap follows its answers.
	sample.Functions[0].Neighbours[0] = metricsrc.NeighbourRates{ID: "liar", Forwarded: 80, Succeeded: 80, Latency: 20 * time.Millisecond}
	a.metrics.Set(sample)
	lie(11)
	step(t, t0.Add(6*time.Second), a)
	st, _ = a.proxy.Last()
	r, _ = st.Decision.Route("figlet")
	if share := r.ForwardShare("liar"); share <= control.DefaultFloorShare || share > 0.6+1e-9 {
		t.Fatalf("after serving 80 req/s the neighbour gets %v; want above the floor, at most 240 req/s (0.6)", share)
	}
}

// TestCredentialRotation (issue 20, attack 3): the credential a node hands
// each neighbour is replaced every CredentialRotation; the neighbour
// switches to the new one, and the old one is accepted only for the
// neighbour expiry.
func TestCredentialRotation(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	static := &strategy.Static{LocalShare: 0.5}
	rotate := func(c *dfaas.Config) { c.CredentialRotation = 4 * time.Second }
	a := newNode(t, join(t, net, "a"), static, rotate, figlet("100"))
	b := newNode(t, join(t, net, "b"), static, rotate, figlet("100"))
	t0 := time.Unix(1000, 0)
	tokenOf := func(n *testNode, id strategy.NodeID) proxyctl.Neighbour {
		st, _ := n.proxy.Last()
		nb, _ := st.Neighbour(id)
		return nb
	}
	var issued []string
	for k := range 12 {
		step(t, t0.Add(time.Duration(k)*time.Second), a, b)
		tok := tokenOf(a, "b").TokenIn
		if len(issued) == 0 || issued[len(issued)-1] != tok {
			issued = append(issued, tok)
		}
		// b presents what a accepts.
		if k > 0 {
			if out, in := tokenOf(b, "a"), tokenOf(a, "b"); out.TokenOut != in.TokenIn && out.TokenOut != in.TokenInPrev {
				t.Fatalf("cycle %d: b presents a credential a refuses", k)
			}
		}
	}
	if len(issued) < 3 {
		t.Fatalf("%d credentials over 12 periods with a rotation every 4", len(issued))
	}
	last := tokenOf(a, "b")
	for _, old := range issued[:len(issued)-2] {
		if old == last.TokenIn || old == last.TokenInPrev {
			t.Fatal("a credential two rotations old is still accepted")
		}
	}
	if n := a.counter(t, "dfaas_agent_credential_rotations_total", "", ""); n < 2 {
		t.Fatalf("rotations counted %v", n)
	}
}

// warnings is a slog handler that counts WARN records by message.
type warnings struct {
	mu sync.Mutex
	n  map[string]int
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		w.mu.Lock()
		if w.n == nil {
			w.n = map[string]int{}
		}
		w.n[r.Message]++
		w.mu.Unlock()
	}
	return nil
}

func (w *warnings) count(msg string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[msg]
}
