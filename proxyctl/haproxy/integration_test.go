package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/haproxytech/client-native/v6/models"
)

// fakeServer is an HTTP server standing in for a FaaS gateway or a
// neighbour's proxy: it answers 200 with its name, counts requests and
// records the DFaaS headers of the last one.
type fakeServer struct {
	name     string
	srv      *httptest.Server
	hits     atomic.Int64
	mu       sync.Mutex
	lastNode string
	lastTok  string
	delay    atomic.Int64 // ns
	inflight atomic.Int64
	maxIn    atomic.Int64
}

func newFakeServer(t *testing.T, name string) *fakeServer {
	t.Helper()
	f := &fakeServer{name: name}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == HealthPath {
			io.WriteString(w, "ok\n")
			return
		}
		f.hits.Add(1)
		f.mu.Lock()
		f.lastNode, f.lastTok = r.Header.Get(proxyctl.HeaderNodeID), r.Header.Get(proxyctl.HeaderNodeToken)
		f.mu.Unlock()
		n := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for m := f.maxIn.Load(); n > m && !f.maxIn.CompareAndSwap(m, n); m = f.maxIn.Load() {
		}
		if d := f.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		if f.name != "gateway" {
			w.Header().Set(proxyctl.HeaderServedBy, f.name)
		}
		fmt.Fprintf(w, "%s %s", f.name, r.URL.Path)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) last() (node, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastNode, f.lastTok
}

// freeAddr returns a loopback address with a port free right now, never
// the same one twice (promtest.FreePort).
func freeAddr(t *testing.T) string { return promtest.FreePort(t) }

// startNode starts a controller with HAProxy on loopback in front of
// gateway.
func startNode(t *testing.T, gateway string, mod func(*Config)) *Controller {
	t.Helper()
	haproxyBinary(t)
	cfg := Config{
		Dir:         t.TempDir(),
		ListenAddr:  freeAddr(t),
		MetricsAddr: freeAddr(t),
		GatewayURL:  gateway,
		Slots:       4,
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (c *Controller) publicURL() string { return "http://" + strings.TrimPrefix(c.o.listen, ":") }

func apply(t *testing.T, c *Controller, s proxyctl.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// outcome of one request through a proxy.
type outcome struct {
	status    int
	servedBy  string
	fwdTo     string
	rejected  string
	err       error
	transport bool
}

func (o outcome) where() string {
	switch {
	case o.err != nil:
		return "error"
	case o.rejected != "":
		return "rejected:" + o.rejected
	case o.fwdTo != "":
		return "forwarded:" + o.fwdTo
	case o.status == 200:
		return "local:" + o.servedBy
	}
	return "status:" + strconv.Itoa(o.status)
}

func do(client *http.Client, method, url string, hdr map[string]string) outcome {
	req, err := http.NewRequest(method, url, strings.NewReader("x"))
	if err != nil {
		return outcome{err: err}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: err, transport: true}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return outcome{
		status:   resp.StatusCode,
		servedBy: resp.Header.Get(proxyctl.HeaderServedBy),
		fwdTo:    resp.Header.Get(proxyctl.HeaderForwardedTo),
		rejected: resp.Header.Get(proxyctl.HeaderRejected),
	}
}

// send sends n requests for fn through c, concurrency at a time, and counts
// where they went.
func send(t *testing.T, c *Controller, fn string, n, concurrency int) map[string]int {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				o := do(client, http.MethodPost, c.publicURL()+"/function/"+fn, nil)
				mu.Lock()
				counts[o.where()]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

func TestIntegrationWeights(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	b, cn := newFakeServer(t, "b"), newFakeServer(t, "c")
	c := startNode(t, gw.srv.URL, nil)
	state := func(local, reject, toB, toC float64) proxyctl.State {
		return proxyctl.State{
			Self:      "a",
			Functions: []proxyctl.Function{{Name: "figlet", Capacity: 1000}},
			Neighbours: []proxyctl.Neighbour{
				{ID: "b", URL: b.srv.URL, Functions: []string{"figlet"}, TokenOut: "to-b", TokenIn: "from-b", Forward: true},
				{ID: "c", URL: cn.srv.URL, Functions: []string{"figlet"}, TokenOut: "to-c", TokenIn: "from-c", Forward: true},
			},
			Decision: strategy.Decision{Routes: []strategy.Route{
				strategy.NewRoute("figlet", local, reject, map[strategy.NodeID]float64{"b": toB, "c": toC}),
			}},
		}
	}
	apply(t, c, state(0.5, 0.2, 0.3, 0))
	reloads := c.Stats().Reloads
	for _, tc := range []struct {
		local, reject, b, c float64
	}{
		{0.5, 0.2, 0.3, 0},
		{0.1, 0, 0.45, 0.45},
		{0.7, 0.3, 0, 0},
		{0, 0, 0.25, 0.75},
	} {
		start := time.Now()
		apply(t, c, state(tc.local, tc.reject, tc.b, tc.c))
		t.Logf("apply took %v", time.Since(start))
		counts := send(t, c, "figlet", 1000, 8)
		want := map[string]float64{"local:a": tc.local, "rejected:policy": tc.reject, "forwarded:b": tc.b, "forwarded:c": tc.c}
		for k, share := range want {
			got := float64(counts[k]) / 1000
			if d := got - share; d > 0.02 || d < -0.02 {
				t.Errorf("shares %+v: %s got %.3f of 1000 requests, want %.3f ± 0.02 (all: %v)", tc, k, got, share, counts)
			}
		}
		if n := counts["local:a"] + counts["rejected:policy"] + counts["forwarded:b"] + counts["forwarded:c"]; n != 1000 {
			t.Errorf("shares %+v: %d of 1000 requests accounted for: %v", tc, n, counts)
		}
	}
	if r := c.Stats().Reloads; r != reloads {
		t.Errorf("weight changes caused %d reloads", r-reloads)
	}
	// The neighbours got this node's identity and their own credential.
	if node, tok := b.last(); node != "a" || tok != "to-b" {
		t.Errorf("b saw node %q token %q, want a and to-b", node, tok)
	}
	if node, tok := cn.last(); node != "a" || tok != "to-c" {
		t.Errorf("c saw node %q token %q, want a and to-c", node, tok)
	}
}

// twoNodes returns real HAProxy nodes a and b that know each other, with
// their fake gateways; a forwards figlet to b as route says.
type pair struct {
	a, b     *Controller
	gwA, gwB *fakeServer
}

const (
	tokAB = "a-to-b-0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	tokBA = "b-to-a-0123456789abcdef0123456789abcdef0123456789abcdef01234567"
)

func newPair(t *testing.T) *pair {
	p := &pair{gwA: newFakeServer(t, "gateway"), gwB: newFakeServer(t, "gateway")}
	p.a = startNode(t, p.gwA.srv.URL, nil)
	p.b = startNode(t, p.gwB.srv.URL, nil)
	return p
}

func (p *pair) stateA(r strategy.Route) proxyctl.State {
	return proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: p.b.publicURL(), Functions: []string{"figlet"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{r}},
	}
}

func (p *pair) stateB(r strategy.Route) proxyctl.State {
	return proxyctl.State{
		Self:       "b",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "a", URL: p.a.publicURL(), Functions: []string{"figlet"}, TokenOut: tokBA, TokenIn: tokAB, Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{r}},
	}
}

func TestIntegrationForwardingIdentity(t *testing.T) {
	p := newPair(t)
	toB := strategy.Route{Function: "figlet", Forward: []strategy.Share{{Node: "b", Share: 1}}}
	toA := strategy.Route{Function: "figlet", Forward: []strategy.Share{{Node: "a", Share: 1}}}
	apply(t, p.a, p.stateA(toB))
	apply(t, p.b, p.stateB(toA)) // b forwards its own users to a
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	// A user request at a is forwarded to b and served there, not sent
	// back to a although b's users go to a.
	o := do(client, http.MethodPost, p.a.publicURL()+"/function/figlet", nil)
	if o.status != 200 || o.servedBy != "b" || o.fwdTo != "b" {
		t.Fatalf("user request at a: %+v, want 200 served by b, forwarded to b", o)
	}
	if node, tok := p.gwB.last(); node != "a" || tok != "" {
		t.Errorf("b's gateway saw node %q token %q; want a and no token (credentials stay in the proxies)", node, tok)
	}
	if p.gwA.hits.Load() != 0 {
		t.Errorf("a's gateway got %d requests, want 0", p.gwA.hits.Load())
	}

	direct := p.b.publicURL() + "/function/figlet"
	for _, c := range []struct {
		name    string
		hdr     map[string]string
		status  int
		reason  string
		servedB bool
	}{
		{"a with its credential", map[string]string{proxyctl.HeaderNodeID: "a", proxyctl.HeaderNodeToken: tokAB}, 200, "", true},
		{"a with a wrong credential", map[string]string{proxyctl.HeaderNodeID: "a", proxyctl.HeaderNodeToken: tokBA}, 403, "unknown-node", false},
		{"a with b's credential for a", map[string]string{proxyctl.HeaderNodeID: "a", proxyctl.HeaderNodeToken: tokAB + "x"}, 403, "unknown-node", false},
		{"a without credential", map[string]string{proxyctl.HeaderNodeID: "a"}, 403, "unknown-node", false},
		{"credential without identity", map[string]string{proxyctl.HeaderNodeToken: tokAB}, 403, "unknown-node", false},
		{"unknown node", map[string]string{proxyctl.HeaderNodeID: "z", proxyctl.HeaderNodeToken: tokAB}, 403, "unknown-node", false},
		{"empty identity", map[string]string{proxyctl.HeaderNodeID: "", proxyctl.HeaderNodeToken: ""}, 200, "", false},
	} {
		o := do(client, http.MethodPost, direct, c.hdr)
		if o.status != c.status || o.rejected != c.reason {
			t.Errorf("%s: got %d %q, want %d %q", c.name, o.status, o.rejected, c.status, c.reason)
		}
		if c.servedB && (o.servedBy != "b" || o.fwdTo != "") {
			t.Errorf("%s: served by %q forwarded to %q, want served by b and not forwarded again", c.name, o.servedBy, o.fwdTo)
		}
	}
	// Two identity headers are refused.
	req, _ := http.NewRequest(http.MethodPost, direct, nil)
	req.Header.Add(proxyctl.HeaderNodeID, "a")
	req.Header.Add(proxyctl.HeaderNodeID, "a")
	req.Header.Set(proxyctl.HeaderNodeToken, tokAB)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("two identity headers: %v %v, want 403", resp, err)
	} else {
		resp.Body.Close()
	}
	// A forwarded request for a function b does not run: 404, not
	// forwarded.
	o = do(client, http.MethodPost, p.b.publicURL()+"/function/ocr", map[string]string{proxyctl.HeaderNodeID: "a", proxyctl.HeaderNodeToken: tokAB})
	if o.status != 404 || o.rejected != "no-route" {
		t.Errorf("forwarded request for a function b lacks: %d %q, want 404 no-route", o.status, o.rejected)
	}

	// Admission limit 0 for a: b refuses a's requests with 429.
	apply(t, p.b, p.stateB(strategy.Route{Function: "figlet", Forward: []strategy.Share{{Node: "a", Share: 1}}, Admit: []strategy.Limit{{Node: "a", Rate: 0}}}))
	o = do(client, http.MethodPost, p.a.publicURL()+"/function/figlet", nil)
	if o.status != 429 || o.rejected != "admission" || o.fwdTo != "b" {
		t.Errorf("a's request to b above its admission limit: %+v, want 429 admission forwarded to b", o)
	}

	// A neighbour b has given no credential (yet) is refused whatever
	// token it presents, the empty one included.
	st := p.stateB(strategy.Route{Function: "figlet", Local: 1})
	st.Neighbours[0].TokenIn = ""
	apply(t, p.b, st)
	for _, tok := range []string{"", tokAB} {
		o = do(client, http.MethodPost, direct, map[string]string{proxyctl.HeaderNodeID: "a", proxyctl.HeaderNodeToken: tok})
		if o.status != 403 || o.rejected != "unknown-node" {
			t.Errorf("a without a credential at b, token %q: %+v, want 403 unknown-node", tok, o)
		}
	}

	// Once b forgets a, a's credential no longer works; a user request
	// a forwards to b is then retried once, locally (a runs figlet).
	st = p.stateB(strategy.Route{Function: "figlet", Local: 1})
	st.Neighbours = nil
	apply(t, p.b, st)
	o = do(client, http.MethodPost, direct, map[string]string{proxyctl.HeaderNodeID: "a", proxyctl.HeaderNodeToken: tokAB})
	if o.status != 403 || o.rejected != "unknown-node" {
		t.Errorf("a's credential at b after b dropped it: %+v, want 403 unknown-node", o)
	}
	hitsA := p.gwA.hits.Load()
	o = do(client, http.MethodPost, p.a.publicURL()+"/function/figlet", nil)
	if o.status != 200 || o.servedBy != "a" || o.fwdTo != "" || p.gwA.hits.Load() != hitsA+1 {
		t.Errorf("user request at a after b dropped a: %+v, want 200 served by a (b's 403 retried locally)", o)
	}
}

func TestIntegrationPublicPaths(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}})
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for _, tc := range []struct {
		method, path string
		status       int
		reason       string
	}{
		{"POST", "/function/figlet", 200, ""},
		{"GET", "/function/figlet/extra/path?q=1", 200, ""},
		{"POST", "/function/fig", 404, "no-route"},
		{"POST", "/function/figlet2", 404, "no-route"},
		{"POST", "/function/", 400, ""},
		{"POST", "/function/fig%6Cet", 400, ""},
		{"GET", "/system/functions", 403, ""},
		{"DELETE", "/system/functions", 403, ""},
		{"GET", "/system", 403, ""},
		{"GET", "/healthz", 404, ""},
		{"GET", "/", 404, ""},
		{"GET", "/function/figlet/../../system/functions", 400, ""},
		{"GET", "/function/figlet/%2e%2e/%2e%2e/system/functions", 400, ""},
		{"GET", "/function/figlet%2f..%2fsystem", 400, ""},
		{"GET", HealthPath, 200, ""},
	} {
		req, _ := http.NewRequest(tc.method, c.publicURL()+tc.path, nil)
		// Send the path as written (no cleaning).
		req.URL.Opaque = strings.SplitN(tc.path, "?", 2)[0]
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get(proxyctl.HeaderRejected) != tc.reason {
			t.Errorf("%s %s: %d %q, want %d %q (%s)", tc.method, tc.path, resp.StatusCode, resp.Header.Get(proxyctl.HeaderRejected), tc.status, tc.reason, body)
		}
		if resp.StatusCode == 200 && tc.path != HealthPath && !strings.HasPrefix(string(body), "gateway /function/figlet") {
			t.Errorf("%s %s: the gateway answered %q", tc.method, tc.path, body)
		}
	}
	if n := gw.hits.Load(); n != 2 {
		t.Errorf("the gateway got %d function requests, want 2", n)
	}
}

// stream sends POSTs for fn to c at rate req/s until stop is closed, over
// keep-alive connections, and records every outcome with its time. wait
// stops nothing: it waits for the requests to end (after stop is closed)
// and returns the records; await waits until n more requests than now
// have completed (for at most 10 s).
type streamRec struct {
	at time.Time
	o  outcome
}

func stream(t *testing.T, c *Controller, fn string, rate float64, stop <-chan struct{}) (wait func() []streamRec, await func(n int)) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	var mu sync.Mutex
	var recs []streamRec
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			wg.Go(func() {
				at := time.Now()
				o := do(client, http.MethodPost, c.publicURL()+"/function/"+fn, nil)
				mu.Lock()
				recs = append(recs, streamRec{at, o})
				mu.Unlock()
			})
		}
	})
	wait = func() []streamRec {
		wg.Wait()
		client.CloseIdleConnections()
		return recs
	}
	await = func(n int) {
		t.Helper()
		mu.Lock()
		want := len(recs) + n
		mu.Unlock()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := len(recs)
			mu.Unlock()
			if got >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d requests completed in 10 s, want %d", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return wait, await
}

// slotStatus returns the status column of out.<slot>/nb in show stat.
func slotStatus(t *testing.T, c *Controller, slot string) string {
	t.Helper()
	for _, r := range c.rt.GetStats().Stats {
		if r.BackendName == "out."+slot && r.Name == "nb" && r.Stats != nil {
			return r.Stats.Status
		}
	}
	return ""
}

func TestIntegrationDeadNeighbour(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	b := newFakeServer(t, "b")
	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: b.srv.URL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{strategy.NewRoute("figlet", 1, 0, map[strategy.NodeID]float64{"b": 1})}},
	})
	stop := make(chan struct{})
	wait, await := stream(t, c, "figlet", 200, stop)
	await(200) // traffic under way, b in rotation
	if b.hits.Load() == 0 {
		t.Fatal("b received nothing before it died")
	}
	killed := time.Now()
	b.srv.CloseClientConnections()
	b.srv.Listener.Close() // b is dead: connections are refused
	var down time.Duration
	for time.Since(killed) < 5*time.Second {
		if st := slotStatus(t, c, "n1"); strings.HasPrefix(st, "DOWN") {
			down = time.Since(killed)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	await(200) // traffic once b is out of rotation
	close(stop)
	recs := wait()
	if down == 0 || down > 2*time.Second {
		t.Errorf("dead neighbour out of rotation after %v, want within 2s", down)
	}
	t.Logf("dead neighbour out of rotation after %v", down)
	var failed, before, after, late int
	for _, r := range recs {
		switch {
		case r.o.status != 200:
			failed++
			t.Logf("failed at +%v: %+v", r.at.Sub(killed), r.o)
		case r.o.fwdTo == "b" && r.at.Before(killed):
			before++
		case r.o.fwdTo == "b" && r.at.After(killed.Add(down)):
			late++
		case r.o.fwdTo == "b":
			after++
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed; each request that could not reach b should be retried elsewhere", failed, len(recs))
	}
	if before == 0 {
		t.Error("b got no request while alive")
	}
	if late > 0 {
		t.Errorf("%d requests reached b after it was out of rotation", late)
	}
	t.Logf("%d requests: %d to b before it died, %d after, %d failed", len(recs), before, after, failed)
}

func TestIntegrationHungNeighbour(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	// A neighbour whose host accepts connections but, once hung, never
	// answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hung := atomic.Bool{}
	hl := &hangListener{Listener: ln, hung: &hung}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})}
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(hl) })
	defer func() { srv.Close(); wg.Wait(); hl.closeHeld() }()

	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://" + ln.Addr().String(), Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{strategy.NewRoute("figlet", 1, 0, map[strategy.NodeID]float64{"b": 1})}},
	})
	// Wait until a health check of b has passed (not only the UP a
	// server starts with), so that the checks run their normal course.
	// b then hangs just after a check: the worst phase, where the
	// detection takes the next check's interval, its time-out, the fast
	// interval and the second time-out (inter 500 ms, timeout check
	// 500 ms, fastinter 250 ms, fall 2: 1.75 s), plus scheduling.
	checked := func() bool {
		st := statOf(t, c, "out.n1", "nb")
		return strings.HasPrefix(st.Status, "UP") && strings.HasSuffix(st.CheckStatus, "OK")
	}
	for deadline := time.Now().Add(5 * time.Second); !checked(); {
		if time.Now().After(deadline) {
			t.Fatalf("b is %q (last check %q) before hanging, want UP after a passed check within 5 s",
				slotStatus(t, c, "n1"), statOf(t, c, "out.n1", "nb").CheckStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := chkfail(statOf(t, c, "out.n1", "nb"))
	hung.Store(true)
	start := time.Now()
	var down time.Duration
	for time.Since(start) < 10*time.Second {
		if st := slotStatus(t, c, "n1"); strings.HasPrefix(st, "DOWN") {
			down = time.Since(start)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := statOf(t, c, "out.n1", "nb")
	failed := chkfail(st) - before
	t.Logf("hung neighbour out of rotation after %v: %d failed checks, last %q", down, failed, st.CheckStatus)
	if down == 0 {
		t.Fatalf("hung neighbour still %q after 10 s", slotStatus(t, c, "n1"))
	}
	// The precise claim counts HAProxy's own checks, not the clock (a
	// loaded machine delays HAProxy's timers): out after exactly fall
	// (2) checks, each failed by its time-out, not by a refusal.
	if failed != 2 {
		t.Errorf("hung neighbour out of rotation after %d failed checks, want 2 (fall)", failed)
	}
	if !strings.Contains(st.CheckStatus, "TOUT") {
		t.Errorf("last check of the hung neighbour %q, want a time-out (L4TOUT or L7TOUT)", st.CheckStatus)
	}
	// The clock, loosely: twice the worst phase plus a second still
	// tells these intervals from HAProxy's defaults (inter 2 s, fall 3:
	// about 12 s in the worst phase).
	worst := DefaultCheckInterval + DefaultCheckInterval + DefaultCheckInterval/2 + DefaultCheckInterval // inter + timeout + fastinter + timeout
	if limit := 2*worst + time.Second; down > limit {
		t.Errorf("hung neighbour out of rotation after %v, want within %v (%v in the worst phase, doubled for scheduling, plus 1 s)", down, limit, worst)
	}
}

// chkfail is HAProxy's count of failed checks of a server while it was
// up.
func chkfail(s *models.NativeStatStats) int64 {
	if s == nil || s.Chkfail == nil {
		return 0
	}
	return *s.Chkfail
}

// hangListener accepts connections and, once hung, holds them open
// without serving them.
type hangListener struct {
	net.Listener
	hung *atomic.Bool
	mu   sync.Mutex
	held []net.Conn
}

func (l *hangListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.hung.Load() {
			return c, err
		}
		l.mu.Lock()
		l.held = append(l.held, c)
		l.mu.Unlock()
	}
}

func (l *hangListener) closeHeld() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.held {
		c.Close()
	}
}

// killProcess kills the master HAProxy process started by c.
func killProcess(t *testing.T, c *Controller) int {
	t.Helper()
	pid := c.sup.masterPID()
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestIntegrationRestart(t *testing.T) {
	const period = 5 * time.Second
	gw := newFakeServer(t, "gateway")
	b := newFakeServer(t, "b")
	c := startNode(t, gw.srv.URL, nil)
	st := proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: b.srv.URL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{strategy.NewRoute("figlet", 0.3, 0.2, map[strategy.NodeID]float64{"b": 0.5})}},
	}
	apply(t, c, st)
	full := c.Stats().FullApplies
	old := killProcess(t, c)
	killed := time.Now()
	// The node applies its state periodically (here 4 times a period, as
	// the kill may happen at any time within one): the state must be
	// back, re-applied in full to the new process, within one period.
	var err error
	for time.Since(killed) < period && c.Stats().FullApplies == full {
		time.Sleep(period / 4)
		ctx, cancel := context.WithTimeout(context.Background(), period)
		err = c.Apply(ctx, st)
		cancel()
	}
	back := time.Since(killed)
	if c.Stats().FullApplies == full {
		t.Fatalf("state not re-applied within one period (%v) of the kill (last error: %v)", period, err)
	}
	if c.sup.masterPID() == old {
		t.Fatal("HAProxy was not restarted")
	}
	counts := send(t, c, "figlet", 1000, 8)
	want := map[string]float64{"local:a": 0.3, "rejected:policy": 0.2, "forwarded:b": 0.5}
	for k, share := range want {
		if d := float64(counts[k])/1000 - share; d > 0.02 || d < -0.02 {
			t.Errorf("after the restart %s got %d of 1000, want %.0f ± 20 (%v)", k, counts[k], share*1000, counts)
		}
	}
	t.Logf("killed HAProxy (master %d); full state back after %v; split %v", old, back, counts)
}

func TestIntegrationReloadHitless(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	nbs := []*fakeServer{newFakeServer(t, "b"), newFakeServer(t, "c")}
	c := startNode(t, gw.srv.URL, func(cfg *Config) { cfg.Slots = 1 })
	state := func(fns []string, nb int) proxyctl.State {
		s := proxyctl.State{Self: "a"}
		for _, f := range fns {
			s.Functions = append(s.Functions, proxyctl.Function{Name: f})
		}
		fwd := map[strategy.NodeID]float64{}
		for i := range nb {
			id := strategy.NodeID(nbs[i].name)
			s.Neighbours = append(s.Neighbours, proxyctl.Neighbour{ID: id, URL: nbs[i].srv.URL, Functions: fns, TokenOut: "t", TokenIn: "u", Forward: true})
			fwd[id] = 1
		}
		s.Decision.Routes = []strategy.Route{strategy.NewRoute("figlet", 1, 0, fwd)}
		return s
	}
	apply(t, c, state([]string{"figlet"}, 1))
	stop := make(chan struct{})
	wait, await := stream(t, c, "figlet", 300, stop)
	await(150)
	r0 := c.Stats().Reloads
	// b leaves and comes back: no reload.
	apply(t, c, state([]string{"figlet"}, 0))
	await(90)
	apply(t, c, state([]string{"figlet"}, 1))
	await(90)
	if r := c.Stats().Reloads; r != r0 {
		t.Errorf("a neighbour leaving and joining caused %d reloads", r-r0)
	}
	// A new function: one reload, hitless.
	apply(t, c, state([]string{"figlet", "shasum"}, 1))
	if r := c.Stats().Reloads; r != r0+1 {
		t.Errorf("adding a function caused %d reloads, want 1", r-r0)
	}
	await(150)
	// A second neighbour outgrows the single slot: one more reload.
	apply(t, c, state([]string{"figlet", "shasum"}, 2))
	if r := c.Stats().Reloads; r != r0+2 {
		t.Errorf("outgrowing the slots caused %d reloads in all, want 2", r-r0)
	}
	await(150)
	close(stop)
	recs := wait()
	failed := 0
	for _, r := range recs {
		if r.o.status != 200 {
			failed++
			t.Logf("failed: %+v", r.o)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed across updates and reloads", failed, len(recs))
	}
	if o := do(http.DefaultClient, http.MethodPost, c.publicURL()+"/function/shasum", nil); o.status != 200 {
		t.Errorf("the new function: %+v", o)
	}
	t.Logf("%d requests, %d failed, %d reloads", len(recs), failed, c.Stats().Reloads-r0)
}

func TestIntegrationTotals(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	b := newFakeServer(t, "b")
	c := startNode(t, gw.srv.URL, nil)
	st := func(fns []string, admitC *float64) proxyctl.State {
		s := proxyctl.State{
			Self: "a",
			Neighbours: []proxyctl.Neighbour{
				{ID: "b", URL: b.srv.URL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true},
				{ID: "c", URL: "http://127.0.0.1:9", Functions: []string{"figlet"}, TokenOut: "x", TokenIn: "from-c"},
			},
		}
		for _, f := range fns {
			s.Functions = append(s.Functions, proxyctl.Function{Name: f})
		}
		r := strategy.NewRoute("figlet", 0.5, 0.25, map[strategy.NodeID]float64{"b": 0.25})
		if admitC != nil {
			r.Admit = []strategy.Limit{{Node: "c", Rate: *admitC}}
		}
		s.Decision.Routes = []strategy.Route{r}
		return s
	}
	apply(t, c, st([]string{"figlet"}, nil))
	ctx := context.Background()
	t0, err := c.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := send(t, c, "figlet", 400, 4)
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	fromC := map[string]string{proxyctl.HeaderNodeID: "c", proxyctl.HeaderNodeToken: "from-c"}
	for range 20 {
		if o := do(client, http.MethodPost, c.publicURL()+"/function/figlet", fromC); o.status != 200 {
			t.Fatalf("request from c: %+v", o)
		}
	}
	zero := 0.0
	apply(t, c, st([]string{"figlet"}, &zero))
	for range 5 {
		if o := do(client, http.MethodPost, c.publicURL()+"/function/figlet", fromC); o.status != 429 {
			t.Fatalf("request from c above its admission limit: %+v", o)
		}
	}
	t1, err := c.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := findFn(t1, "figlet")
	f0, _ := findFn(t0, "figlet")
	local, rej, fwd := counts["local:a"], counts["rejected:policy"], counts["forwarded:b"]
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"Offered", f.Offered - f0.Offered, 400},
		{"Local", f.Local - f0.Local, uint64(local) + 20},
		{"FromNeighbours", f.FromNeighbours - f0.FromNeighbours, 20},
		{"Forwarded", f.Forwarded - f0.Forwarded, uint64(fwd)},
		{"Rejected", f.Rejected - f0.Rejected, uint64(rej) + 5},
		{"Failed", f.Failed - f0.Failed, 0},
		{"LatencyCount", f.LatencyCount - f0.LatencyCount, uint64(local) + 20},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d (client saw %v)", c.name, c.got, c.want, counts)
		}
	}
	nbs := map[string]metricsrc.NeighbourTotals{}
	for _, n := range f.Neighbours {
		nbs[n.ID] = n
	}
	if nbs["b"].Forwarded != uint64(fwd) || nbs["c"].Received != 20 {
		t.Errorf("per neighbour: %+v, want b forwarded %d and c received 20", f.Neighbours, fwd)
	}
	// A reload (new function) does not reset the totals.
	apply(t, c, st([]string{"figlet", "shasum"}, &zero))
	if c.Stats().Reloads == 0 {
		t.Fatal("no reload")
	}
	if counts := send(t, c, "figlet", 100, 4); counts["error"]+counts["status:503"] > 0 {
		t.Errorf("after a reload: %v", counts)
	}
	t2, err := c.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f2, _ := findFn(t2, "figlet"); f2.Offered != f.Offered+100 {
		t.Errorf("after a reload Offered is %d, want %d", f2.Offered, f.Offered+100)
	}
	// As a metricsrc.Source through Delta.
	d := metricsrc.NewDelta(c)
	now := time.Now()
	if _, err := d.Sample(ctx, now, time.Second); err != nil {
		t.Fatal(err)
	}
	send(t, c, "figlet", 100, 4)
	s, err := d.Sample(ctx, now.Add(2*time.Second), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Function("figlet"); r.Offered != 50 {
		t.Errorf("offered rate %v req/s, want 50 (100 requests over 2s)", r.Offered)
	}
}

func findFn(t metricsrc.Totals, name string) (metricsrc.FunctionTotals, bool) {
	for _, f := range t.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return metricsrc.FunctionTotals{}, false
}

func TestIntegrationLocalLimit(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	b := newFakeServer(t, "b")
	c := startNode(t, gw.srv.URL, nil)
	st := func(toB float64) proxyctl.State {
		r := strategy.NewRoute("figlet", 1-toB, 0, map[strategy.NodeID]float64{"b": toB})
		r.LocalLimit = 20
		return proxyctl.State{
			Self:       "a",
			Functions:  []proxyctl.Function{{Name: "figlet"}},
			Neighbours: []proxyctl.Neighbour{{ID: "b", URL: b.srv.URL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true}},
			Decision:   strategy.Decision{Routes: []strategy.Route{r}},
		}
	}
	for _, tc := range []struct {
		toB      float64
		overflow string
	}{{0, "rejected:policy"}, {0.1, "forwarded:b"}} {
		apply(t, c, st(tc.toB))
		// HAProxy's rate counter spans one second: the previous case's
		// rate must leave it (a property of time, not an event).
		time.Sleep(1100 * time.Millisecond)
		stop := make(chan struct{})
		wait, _ := stream(t, c, "figlet", 100, stop)
		time.Sleep(3 * time.Second) // the measurement window
		close(stop)
		counts := map[string]int{}
		for _, r := range wait() {
			counts[r.o.where()]++
		}
		// 3 s at 100 req/s with local service capped at 20 req/s.
		if l := counts["local:a"]; l < 45 || l > 75 {
			t.Errorf("forward share %v: %d requests served locally in 3s, want about 60 (limit 20 req/s): %v", tc.toB, l, counts)
		}
		// Everything not served locally overflows (the load generator,
		// paced by a ticker, gets fewer than 300 requests out when the
		// machine is busy: it must get well above the limit).
		total := 0
		for _, n := range counts {
			total += n
		}
		if total < 150 || counts[tc.overflow] != total-counts["local:a"] {
			t.Errorf("forward share %v: of %d requests (at least 150 needed), all but the local ones should go to %s: %v", tc.toB, total, tc.overflow, counts)
		}
		t.Logf("forward share %v: %v", tc.toB, counts)
	}
}

func TestIntegrationQueue(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	gw.delay.Store(int64(100 * time.Millisecond))
	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet", Concurrency: 2}}})
	// A burst of 20 requests for a function that serves 2 at once: they
	// wait in HAProxy's queue instead of failing or piling onto it.
	counts := send(t, c, "figlet", 20, 20)
	if counts["local:a"] != 20 {
		t.Errorf("burst: %v, want 20 served", counts)
	}
	if m := gw.maxIn.Load(); m != 2 {
		t.Errorf("the function saw %d requests at once, want 2 (its concurrency)", m)
	}
	// The limit follows the function's concurrency at run time.
	apply(t, c, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet", Concurrency: 5}}})
	gw.maxIn.Store(0)
	send(t, c, "figlet", 20, 20)
	if m := gw.maxIn.Load(); m != 5 {
		t.Errorf("after raising the concurrency to 5 the function saw %d at once", m)
	}
}

func TestIntegrationAttach(t *testing.T) {
	bin := haproxyBinary(t)
	gw := newFakeServer(t, "gateway")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	boot := "global\n    master-worker\ndefaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend boot\n    bind " + freeAddr(t) + "\n"
	if err := os.WriteFile(cfgPath, []byte(boot), 0o600); err != nil {
		t.Fatal(err)
	}
	startExternal := func() *exec.Cmd {
		cmd := exec.Command(bin, "-W", "-S", filepath.Join(dir, "master.sock"), "-f", cfgPath)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := masterCommand(context.Background(), filepath.Join(dir, "master.sock"), "show proc", time.Second); err == nil {
				return cmd
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("external HAProxy did not start")
		return nil
	}
	ext := startExternal()
	defer func() { ext.Process.Kill(); ext.Wait() }()
	c := startNode(t, gw.srv.URL, func(cfg *Config) { cfg.Dir = dir; cfg.Attach = true })
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}}
	apply(t, c, st)
	if counts := send(t, c, "figlet", 10, 2); counts["local:a"] != 10 {
		t.Fatalf("attached: %v", counts)
	}
	// Someone restarts HAProxy from the configuration the controller
	// wrote: the next Apply re-applies the full state.
	ext.Process.Kill()
	ext.Wait()
	// Its worker exits when it sees the master gone: wait until it has
	// let go of the public address.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ln, err := net.Listen("tcp", c.o.listen)
		if err == nil {
			ln.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed HAProxy's worker still holds %s: %v", c.o.listen, err)
		}
	}
	ext = startExternal()
	full := c.Stats().FullApplies
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().FullApplies == full && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.Apply(ctx, st)
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	if c.Stats().FullApplies == full {
		t.Fatal("no full apply after an external restart")
	}
	if counts := send(t, c, "figlet", 10, 2); counts["local:a"] != 10 {
		t.Fatalf("after an external restart: %v", counts)
	}
	// Close leaves an attached HAProxy running.
	c.Close()
	if _, err := masterCommand(context.Background(), filepath.Join(dir, "master.sock"), "show proc", time.Second); err != nil {
		t.Errorf("attached HAProxy stopped by Close: %v", err)
	}
}

func TestIntegrationNewErrors(t *testing.T) {
	haproxyBinary(t)
	gw := newFakeServer(t, "gateway")
	ctx := context.Background()
	if _, err := New(ctx, Config{GatewayURL: gw.srv.URL, Binary: "/nonexistent/haproxy"}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Binary") {
		t.Errorf("missing binary: %v", err)
	}
	// The public port is taken: HAProxy cannot start, and says why.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	if _, err := New(ctx, Config{Dir: dir, GatewayURL: gw.srv.URL, ListenAddr: busy.Addr().String(), MetricsAddr: MetricsOff}); err == nil || !strings.Contains(err.Error(), "bind") {
		t.Errorf("port in use: %v", err)
	}
	// A second controller on the directory of a running one.
	c := startNode(t, gw.srv.URL, nil)
	if _, err := New(ctx, Config{Dir: c.Dir(), GatewayURL: gw.srv.URL, ListenAddr: freeAddr(t), MetricsAddr: MetricsOff}); err == nil || !strings.Contains(err.Error(), "already runs") {
		t.Errorf("second controller on a directory: %v", err)
	}
	// Close stops HAProxy: its master CLI no longer answers.
	sock := c.o.masterSocket
	c.Close()
	if _, err := masterCommand(ctx, sock, "show proc", time.Second); err == nil {
		t.Error("HAProxy still runs after Close")
	}
}

// TestIntegrationSlotReuse checks that a slot passed from one neighbour to
// another sends nothing more to the first one, not even over a kept-alive
// connection, and presents the second one's credential.
func TestIntegrationSlotReuse(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	b, cn := newFakeServer(t, "b"), newFakeServer(t, "c")
	c := startNode(t, gw.srv.URL, func(cfg *Config) { cfg.Slots = 1 })
	st := func(id string, srv *fakeServer) proxyctl.State {
		return proxyctl.State{
			Self:       "a",
			Functions:  []proxyctl.Function{{Name: "figlet"}},
			Neighbours: []proxyctl.Neighbour{{ID: strategy.NodeID(id), URL: srv.srv.URL, Functions: []string{"figlet"}, TokenOut: "to-" + id, TokenIn: "from-" + id, Forward: true}},
			Decision:   strategy.Decision{Routes: []strategy.Route{strategy.NewRoute("figlet", 0, 0, map[strategy.NodeID]float64{strategy.NodeID(id): 1})}},
		}
	}
	apply(t, c, st("b", b))
	if counts := send(t, c, "figlet", 50, 4); counts["forwarded:b"] != 50 {
		t.Fatalf("to b: %v", counts)
	}
	apply(t, c, st("c", cn))
	bHits := b.hits.Load()
	counts := send(t, c, "figlet", 50, 4)
	if counts["forwarded:c"] != 50 || b.hits.Load() != bHits {
		t.Errorf("after c took b's slot: %v, b got %d more", counts, b.hits.Load()-bHits)
	}
	if node, tok := cn.last(); node != "a" || tok != "to-c" {
		t.Errorf("c saw %q %q", node, tok)
	}
	if c.Stats().Reloads != 1 { // the first Apply
		t.Errorf("%d reloads", c.Stats().Reloads)
	}
}
