package dfaas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// failingSends is a MemTransport (and its directory) whose sends to the
// peers in fail return that error instead of delivering.
type failingSends struct {
	*peer.MemTransport
	fail map[peer.ID]error
}

func (f failingSends) Send(ctx context.Context, to peer.ID, data []byte) error {
	if err := f.fail[to]; err != nil {
		return err
	}
	return f.MemTransport.Send(ctx, to, data)
}

// newRulesNode is a node "a" on net with its transport wrapped by wrap
// (if not nil) and its config changed by mutate (if not nil).
func newRulesNode(t *testing.T, net *peer.MemNetwork, wrap func(*peer.MemTransport) peer.Transport, mutate func(*Config)) (*Node, *prometheus.Registry, *proxyctl.Recorder) {
	t.Helper()
	tr, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	var pt peer.Transport = tr
	if wrap != nil {
		pt = wrap(tr)
	}
	reg := prometheus.NewRegistry()
	rec := proxyctl.NewRecorder(0)
	cfg := Config{
		Strategy: strategy.AllLocal{}, Proxy: rec, FaaS: faas.NewStatic(faas.Function{Name: "figlet", AvailableReplicas: 1}),
		Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: pt, ProxyURL: "http://a.example:1", Period: time.Second, Registerer: reg,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, reg, rec
}

// TestAnnounceSendFailures: what a cycle's announcement reports when some
// or all of its sends fail: messages sent and failed (counters), the
// announce component (failing only when no peer was reached), the
// "unsent" count, and the peers component (failing only when the
// transport itself is closed).
func TestAnnounceSendFailures(t *testing.T) {
	lost := fmt.Errorf("%w %q", peer.ErrUnknownPeer, "x")
	cases := []struct {
		name              string
		fail              map[peer.ID]error
		sent, failed      float64
		unsent            uint64
		announce, peers   string // health: "ok" or a substring of the error
		failuresByUnsent1 bool
	}{
		{"all sent", nil, 2, 0, 0, "ok", "ok", false},
		{"one of two lost", map[peer.ID]error{"b": lost}, 1, 1, 0, "ok", "ok", false},
		{"both lost", map[peer.ID]error{"b": lost, "c": lost}, 0, 2, 1, "reached none of 2 peers", "ok", true},
		{"transport closed", map[peer.ID]error{"b": peer.ErrClosed, "c": peer.ErrClosed}, 0, 2, 1, "reached none of 2 peers", peer.ErrClosed.Error(), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net := peer.NewMemNetwork(peer.MemNetworkOptions{})
			defer net.Close()
			for _, id := range []peer.ID{"b", "c"} {
				if _, err := net.Join(id); err != nil {
					t.Fatal(err)
				}
			}
			n, reg, _ := newRulesNode(t, net, func(tr *peer.MemTransport) peer.Transport { return failingSends{tr, c.fail} }, nil)
			now := time.Unix(100, 0)
			_, _ = n.Step(context.Background(), now)
			got := series(t, reg, "dfaas_agent_peer_messages_sent_total", "dfaas_agent_peer_send_errors_total")
			want := fmt.Sprintf("dfaas_agent_peer_messages_sent_total{} %g\ndfaas_agent_peer_send_errors_total{} %g", c.sent, c.failed)
			if got != want {
				t.Errorf("counters:\n%s\nwant:\n%s", got, want)
			}
			st := n.Status(now)
			if st.Announce.Unsent != c.unsent || st.Sent != uint64(c.sent) {
				t.Errorf("announce status %+v, sent %d; want unsent %d, sent %v", st.Announce, st.Sent, c.unsent, c.sent)
			}
			for comp, want := range map[string]string{ComponentAnnounce: c.announce, ComponentPeers: c.peers} {
				if h := st.Health[comp]; (want == "ok") != (h == "ok") || !strings.Contains(h, want) {
					t.Errorf("%s health %q, want %q", comp, h, want)
				}
			}
			fails := series(t, reg, "dfaas_agent_announce_failures_total")
			if has := strings.Contains(fails, "{reason=unsent} 1"); has != c.failuresByUnsent1 {
				t.Errorf("announce failures:\n%s", fails)
			}
		})
	}
}

// TestAnnounceReportCounts: each cycle's outcome is counted once under its
// own reason (status and metric), the functions left out are those of the
// last cycle, and a cycle that went well makes the component healthy again.
func TestAnnounceReportCounts(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, reg, _ := newRulesNode(t, net, nil, nil)
	lost := errors.New("lost")
	rounds := []struct {
		r     sendResult
		peers int
		want  AnnounceStatus
		err   string
	}{
		{sendResult{sent: 2, leftOut: 3}, 2, AnnounceStatus{Trimmed: 1, LeftOut: 3}, "sent without 3 functions"},
		{sendResult{sent: 2, leftOut: 5}, 2, AnnounceStatus{Trimmed: 2, LeftOut: 5}, "sent without 5 functions"},
		{sendResult{failed: 2, leftOut: 7, buildErr: lost}, 2, AnnounceStatus{Trimmed: 2, LeftOut: 7, Unbuildable: 1}, "cannot be built"},
		{sendResult{failed: 1, sendErr: lost}, 1, AnnounceStatus{Trimmed: 2, Unbuildable: 1, Unsent: 1}, "reached none of 1 peers: lost"},
		{sendResult{failed: 1, sendErr: lost}, 1, AnnounceStatus{Trimmed: 2, Unbuildable: 1, Unsent: 2}, "reached none"},
		{sendResult{}, 0, AnnounceStatus{Trimmed: 2, Unbuildable: 1, Unsent: 2}, ""}, // no peer: nothing to reach
		{sendResult{sent: 1}, 1, AnnounceStatus{Trimmed: 2, Unbuildable: 1, Unsent: 2}, ""},
	}
	for i, r := range rounds {
		n.report(r.r, r.peers)
		st := n.Status(time.Unix(100, 0))
		if st.Announce != r.want {
			t.Errorf("round %d: announce status %+v, want %+v", i, st.Announce, r.want)
		}
		h := st.Health[ComponentAnnounce]
		if r.err == "" && h != "ok" || r.err != "" && !strings.Contains(h, r.err) {
			t.Errorf("round %d: announce health %q, want %q", i, h, r.err)
		}
	}
	got := series(t, reg, "dfaas_agent_announce_failures_total")
	want := "dfaas_agent_announce_failures_total{reason=trimmed} 2\ndfaas_agent_announce_failures_total{reason=unbuildable} 1\ndfaas_agent_announce_failures_total{reason=unsent} 2"
	if got != want {
		t.Errorf("failures:\n%s\nwant:\n%s", got, want)
	}
}

// TestUnbuildableCountedAsFailedSends: an announcement that cannot be built
// within the limit is not sent to anyone, and each peer it was for counts
// as a failed send.
func TestUnbuildableCountedAsFailedSends(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, reg, _ := newRulesNode(t, net, nil, func(c *Config) { c.MaxMessageSize = 200 })
	big := StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://a.example:1"}
	for i := range 10 {
		big.Announcement.Functions = append(big.Announcement.Functions, strategy.FunctionState{Name: fmt.Sprintf("deployed-%02d", i), Deployed: true})
	}
	r := n.sendAll(context.Background(), []peer.ID{"b", "c"}, []StateMessage{big, big})
	if r.sent != 0 || r.failed != 2 || r.buildErr == nil || r.sendErr != nil {
		t.Fatalf("result %+v: want 2 failed to build, none sent", r)
	}
	if got := series(t, reg, "dfaas_agent_peer_send_errors_total"); got != "dfaas_agent_peer_send_errors_total{} 2" {
		t.Errorf("send errors: %s", got)
	}
}

// TestEncodeTrimsLeastLoaded: an announcement over the limit loses the
// functions this node does not run, the least offered first whatever their
// order in the announcement, and only as many as needed; one exactly at the
// limit is sent whole.
func TestEncodeTrimsLeastLoaded(t *testing.T) {
	m := StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://a.example:1"}
	// Offered rates falling with the index: the last ones are the least
	// loaded; "mine" (last by name) is deployed and stays whatever its rate.
	var fns []strategy.FunctionState
	for i := range 10 {
		fns = append(fns, strategy.FunctionState{Name: fmt.Sprintf("fn-%02d", i), Offered: float64(100 - i)})
	}
	mine := strategy.FunctionState{Name: "mine", Deployed: true}
	kept := func(k int) []strategy.FunctionState { // without the k least loaded
		return append(slices.Clone(fns[:len(fns)-k]), mine)
	}
	m.Announcement.Functions = kept(0)
	whole, err := EncodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	without := func(k int) int { // size without the k least loaded
		t2 := m
		t2.Announcement.Functions = kept(k)
		data, err := EncodeMessage(t2)
		if err != nil {
			t.Fatal(err)
		}
		return len(data)
	}
	cases := []struct {
		limit int
		left  int
	}{
		{len(whole), 0},
		{len(whole) - 1, 1},
		{without(1), 1},
		{without(1) - 1, 2},
		{without(3), 3},
		{without(10), 10},
	}
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	for _, c := range cases {
		n := &Node{cfg: Config{MaxMessageSize: c.limit}}
		data, left, err := n.encode(m)
		if err != nil || left != c.left || len(data) > c.limit {
			t.Fatalf("limit %d: %d bytes, %d left out, err %v; want %d left out", c.limit, len(data), left, err, c.left)
		}
		got, err := DecodeMessage(data, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range got.Announcement.Functions {
			names = append(names, f.Name)
		}
		var want []string
		for _, f := range kept(c.left) {
			want = append(want, f.Name)
		}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("limit %d: sent %v, want %v (the least offered left out)", c.limit, names, want)
		}
	}
	n := &Node{cfg: Config{MaxMessageSize: without(10) - 1}}
	if _, left, err := n.encode(m); err == nil || left != 10 {
		t.Fatalf("below the size of the deployed function alone: %d left out, err %v; want an error, 10 left out", left, err)
	}
}

// TestCredentialOnlyToAccepted: a peer that the proxy in force lists but
// the core does not count as accepted (a neighbour that restarted since
// the last commit) is sent no credential; once accepted it is sent the one
// the proxy in force accepts from it.
func TestCredentialOnlyToAccepted(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, _, rec := newRulesNode(t, net, nil, nil)
	if _, err := net.Join("b"); err != nil {
		t.Fatal(err)
	}
	data, err := EncodeMessage(StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://b.example:1"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(100, 0)
	n.handle(context.Background(), peer.Message{From: "b", Data: data}, now, false)
	if _, err := n.Step(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	st, _ := rec.Last()
	nb, ok := st.Neighbour("b")
	if !ok || nb.TokenIn == "" {
		t.Fatalf("the proxy in force does not accept b: %+v", st.Neighbours)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, accepted := range []bool{false, true} {
		msg := n.stateMessage(control.Outgoing{To: "b", Incarnation: 1, Seq: 9, Accepted: accepted})
		if want := map[bool]string{false: "", true: nb.TokenIn}[accepted]; msg.Token != want {
			t.Errorf("accepted %v: token %q, want %q", accepted, msg.Token, want)
		}
	}
	if msg := n.stateMessage(control.Outgoing{To: "z", Accepted: true}); msg.Token != "" {
		t.Errorf("a peer unknown to the proxy in force is handed %q", msg.Token)
	}
}

// TestAnnounceUnsentAtStart: before its first announcement goes out (the
// peers still being dialled at start-up) a node that reaches no peer says
// so at info level; once it has sent one, reaching none is a warning.
// Health and the metric count both.
func TestAnnounceUnsentAtStart(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	for _, id := range []peer.ID{"b", "c"} {
		if _, err := net.Join(id); err != nil {
			t.Fatal(err)
		}
	}
	lost := fmt.Errorf("%w %q", peer.ErrUnknownPeer, "x")
	fail := map[peer.ID]error{"b": lost, "c": lost}
	var logs bytes.Buffer
	n, reg, _ := newRulesNode(t, net, func(tr *peer.MemTransport) peer.Transport { return failingSends{tr, fail} }, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	now := time.Unix(100, 0)
	levels := func() (info, warn int) {
		for line := range strings.Lines(logs.String()) {
			switch {
			case strings.Contains(line, "level=INFO") && strings.Contains(line, "announcement not sent yet"):
				info++
			case strings.Contains(line, "level=WARN") && strings.Contains(line, "announcement failed"):
				warn++
			}
		}
		return info, warn
	}
	_, _ = n.Step(context.Background(), now)
	if info, warn := levels(); info != 1 || warn != 0 {
		t.Fatalf("before any announcement went out: %d info, %d warnings of an unsent one, want 1 and 0\n%s", info, warn, logs.String())
	}
	if h := n.Status(now).Health[ComponentAnnounce]; !strings.Contains(h, "reached none") {
		t.Errorf("announce health before any went out: %q", h)
	}
	clear(fail)
	_, _ = n.Step(context.Background(), now.Add(time.Second))
	fail["b"], fail["c"] = lost, lost
	_, _ = n.Step(context.Background(), now.Add(2*time.Second))
	if info, warn := levels(); info != 1 || warn != 1 {
		t.Errorf("after one went out, none reached: %d info, %d warnings, want 1 and 1\n%s", info, warn, logs.String())
	}
	if got := series(t, reg, "dfaas_agent_announce_failures_total"); !strings.Contains(got, "{reason=unsent} 2") {
		t.Errorf("announce failures:\n%s", got)
	}
}
