package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/heavytest"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

func static(local float64) func() strategy.Strategy {
	return func() strategy.Strategy { return &strategy.Static{LocalShare: local} }
}

func echo(capacity float64) []embedded.Function {
	return []embedded.Function{{Name: "echo", Capacity: capacity, Concurrency: 50}}
}

// metricsText returns m's metrics as the agent serves them on /metrics.
func (m *member) metricsText(t *testing.T) []byte {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&b, mf)
	}
	return b.Bytes()
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestUnknownNamesAttack (issue 20, attack 1): 10,000 requests for names
// that exist nowhere (and more, until three control cycles ran under the
// attack) leave the node announcing every cycle, its /metrics
// under 100 KB and its memory within 20 MB; its users still reach the
// functions only the neighbour runs.
func TestUnknownNamesAttack(t *testing.T) {
	testUnknownNames(t, startEmbedded, 500*time.Millisecond)
}

func testUnknownNames(t *testing.T, plane newPlane, period time.Duration) {
	heavytest.Lock(t) // timing: one heavy test at a time across packages
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a := join(t, net, spec{id: "a", functions: echo(500), strategy: static(1), period: period})
	b := join(t, net, spec{id: "b", functions: []embedded.Function{{Name: "remote", Handler: "echo", Capacity: 500, Concurrency: 50}}, strategy: static(1), period: period})
	a.start(plane)
	b.start(plane)
	waitFor(t, "a's users reach remote, run by b", 30*time.Second, func() bool { return call(a.url("remote"), nil).status == 200 })

	// Every cycle announces, during the attack and after: sample a's
	// cycle and sent counters; two cycles begun since the last message
	// sent means that a whole cycle (Step runs one at a time, and every
	// cycle ends with an announcement) sent nothing. Counted in cycles,
	// not in seconds: a loaded machine slows the cycles down (under -race
	// beside other jobs, more than two 500 ms periods passed between two
	// announcements of cycles that all announced), the attack must not
	// silence them. Handshake messages count as sent too: they can hide a
	// silent cycle, never invent one.
	var quiet atomic.Int64
	var unknownSeen atomic.Bool // the aggregate of unknown names on /status
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	st0 := a.node.Status(time.Now())
	watch.Go(func() {
		last, lastCycle := st0.Sent, st0.Cycles
		tick := time.NewTicker(period / 4)
		defer tick.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
			st := a.node.Status(time.Now())
			if st.Unknown.OfferedRPS > 0 {
				unknownSeen.Store(true)
			}
			if s := st.Sent; s > last {
				last, lastCycle = s, st.Cycles
			} else if st.Cycles >= lastCycle+2 {
				quiet.Add(1)
				lastCycle = st.Cycles // count each silent cycle once
			}
		}
	})
	before := heapInUse()
	var wg sync.WaitGroup
	var notFound atomic.Int64
	names := make(chan string)
	for range 16 {
		wg.Go(func() {
			for n := range names {
				if call(a.url(n), nil).status == http.StatusNotFound {
					notFound.Add(1)
				}
			}
		})
	}
	// 10,000 names at least, and more until three cycles have begun under
	// the attack (a cycle the attack blocks fails the test here).
	cycles := func() uint64 { return a.node.Status(time.Now()).Cycles }
	attackEnd := time.Now().Add(60 * time.Second)
	sent := 0
	for ; sent < 10000 || cycles() < st0.Cycles+3; sent++ {
		if time.Now().After(attackEnd) {
			break
		}
		names <- fmt.Sprintf("made-up-%05d", sent)
	}
	close(names)
	wg.Wait()
	after := heapInUse()
	if c := cycles(); c < st0.Cycles+3 {
		close(stopWatch)
		watch.Wait()
		t.Fatalf("%d cycles during %d requests for made-up names (60 s): the attack blocks the control loop", c-st0.Cycles, sent)
	}
	deadline := cycles() + 2
	waitFor(t, "two cycles after the attack", 30*time.Second, func() bool { return cycles() >= deadline })
	close(stopWatch)
	watch.Wait()

	if n := notFound.Load(); n != int64(sent) {
		t.Errorf("%d of %d made-up names answered 404", n, sent)
	}
	if q := quiet.Load(); q > 0 {
		t.Errorf("a ran %d cycles that announced nothing", q)
	}
	if grew := int64(after) - int64(before); grew > 20<<20 {
		t.Errorf("heap in use grew by %d MB", grew>>20)
	}
	text := a.metricsText(t)
	if len(text) > 100<<10 || bytes.Contains(text, []byte("made-up")) {
		t.Errorf("/metrics: %d bytes, made-up names in it: %v", len(text), bytes.Contains(text, []byte("made-up")))
	}
	st := a.node.Status(time.Now())
	if !unknownSeen.Load() {
		t.Error("the requests for unknown names never showed in /status's aggregate")
	}
	if len(st.Functions) != 2 {
		t.Errorf("a's status lists %d functions, want 2 (echo, remote)", len(st.Functions))
	}
	if ok, failing := a.node.Healthy(); !ok {
		t.Errorf("a unhealthy after the attack: %v", failing)
	}
	if r := call(a.url("remote"), nil); r.status != 200 || r.forwarded != "b" {
		t.Errorf("after the attack a's users get %d for remote (forwarded to %q)", r.status, r.forwarded)
	}
	t.Logf("%d requests for made-up names; heap in use %d -> %d KB; /metrics %d bytes; a sent %d messages in %d cycles", sent, before>>10, after>>10, len(text), st.Sent, st.Cycles)
}

// TestCapturedCredential (issue 20, attack 3): a credential captured on the
// path between two nodes is accepted from a third party only until it is
// rotated out (rotation plus grace), and one captured before the issuing
// node restarted is refused by its new incarnation.
func TestCapturedCredential(t *testing.T) {
	testCapturedCredential(t, startEmbedded, 200*time.Millisecond)
}

// testCapturedCredential runs the test with a control period (the proxy
// must apply a state well within it).
func testCapturedCredential(t *testing.T, plane newPlane, period time.Duration) {
	heavytest.Lock(t) // timing: one heavy test at a time across packages
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	rotate := func(c *dfaas.Config) { c.CredentialRotation = 4 * period }
	a := join(t, net, spec{id: "a", functions: echo(500), strategy: static(1), period: period, config: rotate})
	b := join(t, net, spec{id: "b", functions: echo(500), strategy: static(1), period: period, config: rotate})
	a.start(plane)
	b.start(plane)
	// What b presents to a, as a third party on the path would see it.
	captured := func() string {
		var tok string
		waitFor(t, "b holds a credential of a", 30*time.Second, func() bool {
			nb, ok := b.rec.neighbour("a")
			tok = nb.TokenOut
			return ok && tok != ""
		})
		return tok
	}
	replay := func(tok string) result {
		return call(a.url("echo"), http.Header{proxyctl.HeaderNodeID: {"b"}, proxyctl.HeaderNodeToken: {tok}})
	}
	tok := captured()
	waitFor(t, "the captured credential accepted while current", 30*time.Second, func() bool { return replay(tok).status == 200 })
	waitFor(t, "the captured credential rotated out (rotation and grace)", 30*period, func() bool {
		nb, _ := a.rec.neighbour("b")
		return nb.TokenIn != tok && nb.TokenInPrev != tok
	})
	if r := replay(tok); r.status != http.StatusForbidden || r.rejected != "unknown-node" {
		t.Fatalf("a rotated-out credential replayed: %d %q, want 403 unknown-node", r.status, r.rejected)
	}
	// b kept forwarding with the current one all along.
	if nb, _ := b.rec.neighbour("a"); replay(nb.TokenOut).status != 200 {
		t.Fatal("b's current credential is refused")
	}

	tok = captured()
	a.stop()
	a.start(plane) // the issuer restarts with the same identity
	waitFor(t, "b holds a credential of the restarted a", 30*time.Second, func() bool {
		nb, _ := b.rec.neighbour("a")
		return nb.TokenOut != "" && nb.TokenOut != tok
	})
	if r := replay(tok); r.status != http.StatusForbidden || r.rejected != "unknown-node" {
		t.Fatalf("a credential of a's previous incarnation replayed: %d %q, want 403 unknown-node", r.status, r.rejected)
	}
	nb, _ := b.rec.neighbour("a")
	waitFor(t, "the restarted a accepts b's new credential", 30*time.Second, func() bool { return replay(nb.TokenOut).status == 200 })
}

// liar is a fake member: it announces a huge capacity and grant to its
// victim every period, and its proxy answers every request with 503.
type liar struct {
	received atomic.Int64
	srv      *httptest.Server
	mu       sync.Mutex
	at       []time.Time // when each request arrived
}

// receivedIn returns how many requests the liar received in [from, to).
func (l *liar) receivedIn(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, at := range l.at {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

func startLiar(t *testing.T, net *peer.MemNetwork, victim string, period time.Duration) *liar {
	t.Helper()
	l := &liar{}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.received.Add(1)
		l.mu.Lock()
		l.at = append(l.at, time.Now())
		l.mu.Unlock()
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	t.Cleanup(l.srv.Close)
	tr, err := net.Join("liar")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		tick := time.NewTicker(period / 2)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			m := dfaas.StateMessage{
				Version: dfaas.WireVersion, Type: "state", Incarnation: 1, Seq: seq, Proxy: l.srv.URL, Token: strings.Repeat("ab", 32),
				Announcement: strategy.Announcement{
					Functions: []strategy.FunctionState{{Name: "echo", Deployed: true, Capacity: 1e6, Spare: 1e9}},
					Grants:    []strategy.Grant{{To: strategy.NodeID(victim), Function: "echo", Rate: 1e9}},
				},
			}
			data, _ := dfaas.EncodeMessage(m)
			tr.Send(ctx, peer.ID(victim), data)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return l
}

// TestLyingMember (issue 20, attack 6): a member announcing a capacity and
// a grant of a million req/s, whose proxy answers nothing but errors,
// receives no more than its cap, a third of the node's traffic, from the
// load's onset: over the whole run and in its first seconds, while the
// node's forecast has not caught up with the load yet (the proxy's
// forwarding cap, proxyctl.ForwardCap, counts the requests as they come).
func TestLyingMember(t *testing.T) { testLyingMember(t, startEmbedded, 500*time.Millisecond) }

func testLyingMember(t *testing.T, plane newPlane, period time.Duration) {
	heavytest.Lock(t) // timing: one heavy test at a time across packages
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	flow := func() strategy.Strategy {
		st, err := strategy.Builtin().New("flow", nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := join(t, net, spec{id: "a", functions: echo(50), strategy: flow, period: period})
	a.start(plane)
	l := startLiar(t, net, "a", period)
	waitFor(t, "the liar in a's data network, capped", 30*time.Second, func() bool {
		nb, ok := a.rec.neighbour("liar")
		return ok && nb.Forward && nb.Cap.On
	})
	stop := make(chan struct{})
	onset := time.Now()
	got := load(a.url("echo"), 200, stop)
	// The first seconds: a's forecast lags the load (it sees 0 req/s at
	// first), and the local limit overflows to the liar's share.
	first := onset.Add(max(time.Second, 2*period))
	time.Sleep(time.Until(first))
	waitFor(t, "a's forecast caught up with the load", 30*time.Second, func() bool {
		fs := a.node.Status(time.Now()).Functions
		return len(fs) > 0 && fs[0].Forecast >= 100
	})
	time.Sleep(6 * period)
	close(stop)
	results := <-got
	var early int
	for _, r := range results {
		if r.start.Before(first) {
			early++
		}
	}
	whole := float64(l.received.Load()) / float64(len(results))
	firstShare := float64(l.receivedIn(onset, first)) / float64(max(early, 1))
	st := a.node.Status(time.Now())
	t.Logf("%d requests; the liar received %.3f of them in all, %.3f of the %d of the first %v after the onset; trust %+v",
		len(results), whole, firstShare, early, first.Sub(onset).Round(time.Millisecond), st.Trust)
	// The cap is a third of a's user requests, counted by the proxy (by
	// HAProxy over its one-second rate counters): allow for rounding.
	limit := control.DefaultFloorShare * 1.1
	if whole > limit {
		t.Errorf("the liar received %.3f of a's requests, above the cap of %.3f", whole, control.DefaultFloorShare)
	}
	if firstShare > limit {
		t.Errorf("the liar received %.3f of a's requests in the first %v after the onset, above the cap of %.3f", firstShare, first.Sub(onset), control.DefaultFloorShare)
	}
	if st.Trust.SharesCapped == 0 || st.Trust.ByNeighbour["liar"] == 0 {
		t.Errorf("capped shares not counted: %+v (health %v, errors %v)", st.Trust, st.Health, st.Errors)
	}
}

// TestNeighbourRestart (issue 20, fault 7): with 100 req/s of user
// requests half forwarded to b, b's restart fails no user request but
// those in flight at b when it stopped: a's proxy sends the others
// elsewhere while b is down or does not know a's credential yet, and a
// forwards to b's new incarnation again within a round trip. A data plane
// that health-checks its own FaaS (HAProxy) may take it out of rotation
// when its checks time out on a starved machine: a request it then
// answers 429 policy or 503, with nowhere to serve it, is counted apart
// (from the data plane's own server state, polled), never a 403.
func TestNeighbourRestart(t *testing.T) {
	testNeighbourRestart(t, startEmbedded, 500*time.Millisecond)
}

func testNeighbourRestart(t *testing.T, plane newPlane, period time.Duration) {
	heavytest.Lock(t) // timing: one heavy test at a time across packages
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a := join(t, net, spec{id: "a", functions: echo(1000), strategy: static(0.5), period: period})
	b := join(t, net, spec{id: "b", functions: echo(1000), strategy: static(1), period: period})
	a.start(plane)
	b.start(plane)
	waitFor(t, "a forwards to b", 30*time.Second, func() bool { return call(a.url("echo"), nil).forwarded == "b" })
	stop := make(chan struct{})
	end := sync.OnceFunc(func() { close(stop) })
	defer end() // a failed wait: the load and the watch stop too
	got := load(a.url("echo"), 100, stop)
	gatewayOut := gatewayWatch(a.plane, stop)
	// Before the fault, a steady state: the load has run two periods and
	// a's decision caps nothing (b's answers support its share).
	time.Sleep(2 * period) // pacing: the load runs
	waitFor(t, "a's decision caps nothing", 30*time.Second, func() bool {
		for _, c := range a.node.Status(time.Now()).Trust.Allowances {
			if c.Capped {
				return false
			}
		}
		return true
	})
	steady := time.Now()
	// b's stop takes a while (its agent, then its data plane): a request
	// that a sent to b before the plane stopped is in flight at b's stop,
	// whether it began before stop or during it. So is one sent on a
	// connection to b that b closed as it stopped: the Go proxy reuses a
	// connection idle less than 10 ms without checking it (goproxy's
	// checkIdle), and does not send a POST that failed on it again (it
	// cannot know that b did not serve it). Under load, both failed the
	// test now and then: a 502 for a request begun 2 ms after the stop
	// began, and one begun 10.1 ms after it, 9 ms after b was down. The
	// 10 ms are the clock's guess: a's proxy may put a connection back in
	// its pool well after b closed it (the answer it carried read late on
	// a starved machine) and reuse it unchecked, so a 502 naming b with a
	// connection closed under it (closedByB), for a request begun before
	// b restarted, is one of those too, whenever it came (13 ms after the
	// stop ended, at load 7).
	stopped := time.Now()
	b.stop()
	inFlightUntil := time.Now().Add(10 * time.Millisecond)
	time.Sleep(period / 2) // b is down for a while (the fault's duration)
	restarted := time.Now()
	b.start(plane)
	waitFor(t, "a forwards to the restarted b", 30*time.Second, func() bool {
		nb, _ := a.rec.neighbour("b")
		bnb, _ := b.rec.neighbour("a")
		return nb.TokenOut != "" && nb.Forward && bnb.TokenIn == nb.TokenOut
	})
	forwarding := time.Now()
	time.Sleep(2 * period)
	end()
	results := <-got
	out := <-gatewayOut
	var failed, inFlight, duringStop, afterB, warmup, noGateway int
	for _, r := range results {
		switch {
		case r.start.Before(steady) && r.end.Before(stopped):
			if r.status != 200 {
				warmup++ // the cold start's, not the restart's (see TestColdStart)
			}
		case r.status == 200:
			if r.forwarded == "b" && r.start.After(forwarding) {
				afterB++
			}
		case r.start.Before(inFlightUntil) && r.end.After(stopped),
			closedByB(r) && r.start.Before(restarted) && r.end.After(stopped):
			inFlight++
			if r.start.After(stopped) {
				duringStop++
			}
		case unservable(r) && slices.ContainsFunc(out, func(s span) bool { return s.overlaps(r.start, r.end) }):
			noGateway++ // a's own FaaS out of rotation: a had nowhere to serve it
		default:
			failed++
			t.Errorf("request at %v (b stopping at 0, requests in flight at its stop until %v, restarted at %v): status %d %q %q", r.start.Sub(stopped), inFlightUntil.Sub(stopped), restarted.Sub(stopped), r.status, r.rejected, r.body)
		}
	}
	t.Logf("%d requests (%d refused while the federation warmed up); %d failed in flight at b's stop (%d begun during it or within 10 ms of its end, %v after its start); %d refused while a's data plane had its own FaaS out of rotation (%d spans); %d other failures; b back in a's data network %v after its restart; %d forwarded to it since",
		len(results), warmup, inFlight, duringStop, inFlightUntil.Add(-10*time.Millisecond).Sub(stopped).Round(time.Millisecond), noGateway, len(out), failed, forwarding.Sub(restarted).Round(time.Millisecond), afterB)
	if afterB == 0 {
		t.Error("a did not forward to the restarted b")
	}
}

// gatewayWatch watches, until stop is closed, when plane has its local
// FaaS out of rotation (watchGateway), if it health-checks it; else it
// returns no span.
func gatewayWatch(plane dataPlane, stop <-chan struct{}) <-chan []span {
	if g, ok := plane.(gatewayChecker); ok {
		return watchGateway(g, stop)
	}
	out := make(chan []span, 1)
	out <- nil
	return out
}

// closedByB reports whether r failed because b closed the connection a's
// proxy sent it on (the embedded proxy's 502 naming b, with the error of
// a connection closed by its peer).
func closedByB(r result) bool {
	if r.status != http.StatusBadGateway || !strings.Contains(r.body, "neighbour b unreachable") {
		return false
	}
	return strings.Contains(r.body, "EOF") || strings.Contains(r.body, "connection reset") || strings.Contains(r.body, "broken pipe")
}

// unservable reports whether r got the answer of a node that could serve
// it nowhere: 429 policy (no target left but rejection) or 503 (no node
// could take it). Never a neighbour's refusal of the node (403).
func unservable(r result) bool {
	return r.status == http.StatusTooManyRequests && r.rejected == "policy" ||
		r.status == http.StatusServiceUnavailable && r.rejected == ""
}

// TestColdStart (issue 20, cold start): two nodes started at once forward
// to each other within one period, with no request refused for want of a
// credential.
func TestColdStart(t *testing.T) {
	testColdStart(t, startEmbedded, 2*time.Second)
}

func testColdStart(t *testing.T, plane newPlane, period time.Duration) {
	heavytest.Lock(t) // timing: one heavy test at a time across packages
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	a := join(t, net, spec{id: "a", functions: echo(1000), strategy: static(0.5), period: period})
	b := join(t, net, spec{id: "b", functions: echo(1000), strategy: static(0.5), period: period})
	a.start(plane)
	b.start(plane)
	start := time.Now() // both agents run: the federation can form
	var first time.Duration
	var refused int
	waitFor(t, "a request forwarded from a to b", period, func() bool {
		r := call(a.url("echo"), nil)
		if r.status == http.StatusForbidden {
			refused++
		}
		if r.status == 200 && r.forwarded == "b" {
			first = time.Since(start)
			return true
		}
		return false
	})
	t.Logf("first request forwarded %v after both agents started (period %v)", first.Round(time.Millisecond), period)
	if refused > 0 {
		t.Errorf("%d requests refused 403 during the cold start", refused)
	}
}
