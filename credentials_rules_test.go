package dfaas

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// TestCredentialRotationRules: the credential handed a peer is made on
// first use, replaced exactly when the rotation is due (and only when the
// caller rotates), and the previous one is accepted until exactly the
// neighbour expiry after the rotation.
func TestCredentialRotationRules(t *testing.T) {
	const rotation, expiry = 4 * time.Second, 3 * time.Second
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, reg, _ := newRulesNode(t, net, nil, func(c *Config) { c.CredentialRotation, c.NeighbourExpiry = rotation, expiry })
	t0 := time.Unix(1000, 0)
	n.mu.Lock()
	defer n.mu.Unlock()
	first, prev := n.inbound("b", t0, true)
	if len(first) != 64 || prev != "" {
		t.Fatalf("first credential %q, previous %q: want 64 hex digits and none", first, prev)
	}
	type want struct {
		cur     string // "first", "second" or "third"
		prevSet string // "" or which
	}
	names := map[string]string{}
	steps := []struct {
		at     time.Duration
		rotate bool
		want   want
	}{
		{rotation - 1, true, want{"first", ""}},
		{rotation, false, want{"first", ""}}, // due, but this caller does not rotate
		{rotation, true, want{"second", "first"}},
		{rotation + expiry - 1, false, want{"second", "first"}},
		{rotation + expiry, false, want{"second", ""}},
		{2*rotation - 1, true, want{"second", ""}},
		{2 * rotation, true, want{"third", "second"}},
	}
	names[first] = "first"
	for _, s := range steps {
		cur, prev := n.inbound("b", t0.Add(s.at), s.rotate)
		if _, ok := names[cur]; !ok {
			names[cur] = map[int]string{1: "second", 2: "third"}[len(names)]
		}
		if got := (want{names[cur], names[prev]}); got != s.want {
			t.Fatalf("at %v (rotate %v): %+v, want %+v", s.at, s.rotate, got, s.want)
		}
	}
	if got := series(t, reg, "dfaas_agent_credential_rotations_total"); got != "dfaas_agent_credential_rotations_total{} 2" {
		t.Errorf("rotations: %s", got)
	}
	// Another peer gets its own credential.
	if other, _ := n.inbound("c", t0, true); other == first || len(other) != 64 {
		t.Errorf("c's credential %q (b's first %q)", other, first)
	}
}

// TestOutOfCycleApplyKeepsGrace: an apply between cycles builds the
// credentials as of the last cycle: a previous credential still in grace
// at that cycle is still accepted, and one out of grace stays revoked.
func TestOutOfCycleApplyKeepsGrace(t *testing.T) {
	const rotation, expiry = 4 * time.Second, 3 * time.Second
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, _, rec := newRulesNode(t, net, nil, func(c *Config) { c.CredentialRotation, c.NeighbourExpiry = rotation, expiry })
	for _, id := range []peer.ID{"b", "c"} {
		if _, err := net.Join(id); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Unix(1000, 0)
	ctx := context.Background()
	seq := uint64(0)
	from := func(id peer.ID, now time.Time) {
		seq++
		n.handle(ctx, peer.Message{From: id, Data: stateData(t, 1, seq, strings.Repeat("ab", 32))}, now, false)
	}
	// b is heard every second; a rotates at 4 s, the previous credential
	// is in grace until 7 s.
	for k := range 7 {
		now := t0.Add(time.Duration(k) * time.Second)
		from("b", now)
		if _, err := n.Step(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := rec.Last() // the cycle at 6 s: b's previous credential in grace
	b, _ := st.Neighbour("b")
	if b.TokenInPrev == "" {
		t.Fatalf("at 6 s, 2 s after the rotation, b's previous credential is not accepted: %+v", b)
	}
	// c, new, makes a react between the cycles: the state it applies
	// still accepts b's previous credential.
	from("c", t0.Add(6500*time.Millisecond))
	st, _ = rec.Last()
	if _, ok := st.Neighbour("c"); !ok {
		t.Fatalf("no out-of-cycle apply for the new peer c: %+v", st.Neighbours)
	}
	if again, _ := st.Neighbour("b"); again.TokenInPrev != b.TokenInPrev || again.TokenIn != b.TokenIn {
		t.Fatalf("out of cycle, b's credentials changed: %+v, were %+v", again, b)
	}
	// At the cycle at 7 s the grace is over.
	from("b", t0.Add(7*time.Second))
	if _, err := n.Step(ctx, t0.Add(7*time.Second)); err != nil {
		t.Fatal(err)
	}
	st, _ = rec.Last()
	if b, _ := st.Neighbour("b"); b.TokenInPrev != "" {
		t.Fatalf("at 7 s, 3 s after the rotation, b's previous credential is still accepted")
	}
	from("c", t0.Add(7500*time.Millisecond)) // a new credential: reapply
	st, _ = rec.Last()
	if b, _ := st.Neighbour("b"); b.TokenInPrev != "" {
		t.Fatalf("an apply between cycles accepts b's revoked credential again")
	}
}

// TestForwardCapOnlyOnTargets: the proxy caps what it forwards to a
// neighbour only when it forwards to it and the cycle measured answers
// (over a window).
func TestForwardCapOnlyOnTargets(t *testing.T) {
	cases := []struct {
		answers bool
		window  time.Duration
		capped  bool
	}{
		{false, time.Second, false},
		{true, 0, false},
		{true, time.Second, true},
	}
	for _, tc := range cases {
		net := peer.NewMemNetwork(peer.MemNetworkOptions{})
		n, _, rec := newRulesNode(t, net, nil, func(c *Config) {
			c.Strategy = &strategy.Static{LocalShare: 0.5}
			c.Metrics = fixedSample{Window: tc.window, Answers: tc.answers}
		})
		for _, id := range []peer.ID{"b", "c"} {
			if _, err := net.Join(id); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Unix(1000, 0)
		ctx := context.Background()
		for k := range 2 {
			now := t0.Add(time.Duration(k) * time.Second)
			// b accepts a (hands it a credential) and runs figlet; c does not.
			n.handle(ctx, peer.Message{From: "b", Data: stateDataFns(t, uint64(k+1), strings.Repeat("ab", 32), "figlet")}, now, false)
			n.handle(ctx, peer.Message{From: "c", Data: stateDataFns(t, uint64(k+1), "", "figlet")}, now, false)
			if _, err := n.Step(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
		st, _ := rec.Last()
		b, _ := st.Neighbour("b")
		c, _ := st.Neighbour("c")
		if !b.Forward || c.Forward {
			t.Fatalf("%+v: forward to b %v, to c %v; want b only", tc, b.Forward, c.Forward)
		}
		if b.Cap.On != tc.capped || c.Cap.On {
			t.Errorf("%+v: cap on b %+v, on c %+v; want b capped only when answers are measured", tc, b.Cap, c.Cap)
		}
		if tc.capped && (b.Cap.Share <= 0 || b.Cap.Growth <= 0) {
			t.Errorf("b's cap %+v: want a floor share and a growth", b.Cap)
		}
		net.Close()
	}
}

// fixedSample is a metric source that returns its sample as it is (a
// first sample has no window).
type fixedSample metricsrc.Sample

func (f fixedSample) Sample(context.Context, time.Time, time.Duration) (metricsrc.Sample, error) {
	return metricsrc.Sample(f), nil
}

// stateData is a peer's encoded state message.
func stateData(t *testing.T, inc, seq uint64, token string) []byte {
	t.Helper()
	data, err := EncodeMessage(StateMessage{Version: WireVersion, Type: "state", Incarnation: inc, Seq: seq, Proxy: "http://peer.example:1", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// stateDataFns is stateData (incarnation 1) announcing deployed functions.
func stateDataFns(t *testing.T, seq uint64, token string, fns ...string) []byte {
	t.Helper()
	m := StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: seq, Proxy: "http://peer.example:1", Token: token}
	for _, f := range fns {
		m.Announcement.Functions = append(m.Announcement.Functions, strategy.FunctionState{Name: f, Deployed: true, Capacity: 100, Spare: 100})
	}
	data, err := EncodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestForwardCapForgetsAFailingNeighbour: a neighbour that served well and
// then only fails loses its credit once the failures fill the trust
// memory: the rate the proxy may forward to it falls to what failures
// support (nothing beyond the floor share).
func TestForwardCapForgetsAFailingNeighbour(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, src, rec := forwardingNode(t, net)
	t0 := time.Unix(1000, 0)
	ctx := context.Background()
	rate := func(k int, s metricsrc.Sample) float64 {
		src.Set(s)
		now := t0.Add(time.Duration(k) * time.Second)
		n.handle(ctx, peer.Message{From: "b", Data: stateDataFns(t, uint64(k+1), strings.Repeat("ab", 32), "figlet")}, now, false)
		if _, err := n.Step(ctx, now); err != nil {
			t.Fatal(err)
		}
		st, _ := rec.Last()
		b, _ := st.Neighbour("b")
		return b.Cap.Rate
	}
	rate(0, answered(80, 0))
	if r := rate(1, answered(80, 0)); r < 80 {
		t.Fatalf("after serving 80 req/s b may receive %v req/s", r)
	}
	var r float64
	for k := range 3 { // control.TrustMemory periods of failures only
		r = rate(2+k, answered(0, 50))
	}
	if r != 0 {
		t.Fatalf("after only failures b may still receive %v req/s on its old credit", r)
	}
}

// TestReplanRecordsNoAnswers: a replan decides again on the last cycle's
// observation, whose neighbours' answers that cycle already recorded: it
// records them no second time, so replans (a neighbour restarting brings
// several) do not push a neighbour's best periods out of its trust record.
func TestReplanRecordsNoAnswers(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, src, rec := forwardingNode(t, net)
	t0 := time.Unix(1000, 0)
	ctx := context.Background()
	capRate := func() float64 {
		st, _ := rec.Last()
		b, _ := st.Neighbour("b")
		return b.Cap.Rate
	}
	for k, s := range []metricsrc.Sample{answered(80, 0), answered(80, 0), answered(0, 50)} {
		src.Set(s)
		now := t0.Add(time.Duration(k) * time.Second)
		n.handle(ctx, peer.Message{From: "b", Data: stateDataFns(t, uint64(k+1), strings.Repeat("ab", 32), "figlet")}, now, false)
		if _, err := n.Step(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	if r := capRate(); r != 240 {
		t.Fatalf("after 80, 80 and 0 req/s served b may receive %v req/s, want 240 (3 × its best)", r)
	}
	for k := range control.TrustMemory {
		if _, err := n.replan(ctx, t0.Add(2*time.Second+time.Duration(k+1)*100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if r := capRate(); r != 240 {
		t.Fatalf("after %d replans b may receive %v req/s, want still 240: a replan recorded the last cycle's answers again", control.TrustMemory, r)
	}
}

// forwardingNode is a node "a" on net that serves half of figlet and
// forwards half to its neighbour b (joined), with its observations set
// through the returned source.
func forwardingNode(t *testing.T, net *peer.MemNetwork) (*Node, *metricsrc.Static, *proxyctl.Recorder) {
	t.Helper()
	src := metricsrc.NewStatic(metricsrc.Sample{})
	n, _, rec := newRulesNode(t, net, nil, func(c *Config) {
		c.Strategy = &strategy.Static{LocalShare: 0.5}
		c.Metrics = src
	})
	if _, err := net.Join("b"); err != nil {
		t.Fatal(err)
	}
	return n, src, rec
}

// answered is a second's observation of 100 req/s of figlet, half sent
// to b, which answered succeeded and failed of them.
func answered(succeeded, failed float64) metricsrc.Sample {
	return metricsrc.Sample{Window: time.Second, Answers: true, Functions: []metricsrc.FunctionRates{{
		Name: "figlet", Offered: 100, Local: 50, Forwarded: 50,
		Neighbours: []metricsrc.NeighbourRates{{ID: "b", Forwarded: 50, Succeeded: succeeded, Failed: failed}},
	}}}
}
