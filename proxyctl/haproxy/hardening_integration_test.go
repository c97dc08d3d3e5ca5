package haproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haproxytech/client-native/v6/models"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// statOf returns the show stat row of a frontend or backend (server "")
// or of a server.
func statOf(t *testing.T, c *Controller, proxy, server string) *models.NativeStatStats {
	t.Helper()
	for _, r := range c.rt.GetStats().Stats {
		if r == nil || r.Stats == nil {
			continue
		}
		switch {
		case server == "" && (r.Type == models.NativeStatTypeFrontend || r.Type == models.NativeStatTypeBackend) && r.Name == proxy:
			return r.Stats
		case server != "" && r.Type == models.NativeStatTypeServer && r.BackendName == proxy && r.Name == server:
			return r.Stats
		}
	}
	t.Fatalf("no stats for %s/%s", proxy, server)
	return nil
}

func stot(s *models.NativeStatStats) int64 {
	if s == nil || s.Stot == nil {
		return 0
	}
	return *s.Stot
}

func reqTot(s *models.NativeStatStats) int64 {
	if s == nil || s.ReqTot == nil {
		return 0
	}
	return *s.ReqTot
}

// TestIntegrationOnePass checks that local, forwarded and rejected
// requests each pass through HAProxy once: node a's public frontend sees
// every request once and its retry frontend none; node b serves the
// forwarded ones through its gateway backend directly.
func TestIntegrationOnePass(t *testing.T) {
	p := newPair(t)
	r := strategy.NewRoute("figlet", 0.5, 0.2, map[strategy.NodeID]float64{"b": 0.3})
	apply(t, p.a, p.stateA(r))
	sb := p.stateB(strategy.Route{Function: "figlet", Local: 1})
	sb.Neighbours[0].Forward = false // b does not check a: a sees user requests only
	apply(t, p.b, sb)
	a0, b0 := reqTot(statOf(t, p.a, "public", "")), stot(statOf(t, p.b, "gw.figlet", ""))
	counts := send(t, p.a, "figlet", 1000, 8)
	for k, want := range map[string]int{"local:a": 500, "rejected:policy": 200, "forwarded:b": 300} {
		if d := counts[k] - want; d < -1 || d > 1 {
			t.Errorf("split %v, want 500 local, 200 rejected, 300 to b, each ±1 (smooth round robin)", counts)
		}
	}
	// Each request went through one backend of a, once (the public
	// frontend's own count may include a client's retries of requests it
	// could not send).
	if n := reqTot(statOf(t, p.a, "public", "")) - a0; n < 1000 {
		t.Errorf("a's public frontend saw %d requests for 1000 sent", n)
	}
	if n := stot(statOf(t, p.a, targetReject, "")); n != int64(counts["rejected:policy"]) {
		t.Errorf("a's reject backend: %d, want %d", n, counts["rejected:policy"])
	}
	for _, c := range []*Controller{p.a, p.b} {
		if n := reqTot(statOf(t, c, "retry", "")); n != 0 {
			t.Errorf("a retry frontend saw %d requests, want 0", n)
		}
	}
	if n := stot(statOf(t, p.a, "gw.figlet", "")); n != int64(counts["local:a"]) {
		t.Errorf("a's gateway backend: %d, want %d", n, counts["local:a"])
	}
	if n := stot(statOf(t, p.a, "out.n1", "")); n != int64(counts["forwarded:b"]) {
		t.Errorf("a's backend to b: %d, want %d", n, counts["forwarded:b"])
	}
	if n := stot(statOf(t, p.b, "gw.figlet", "")) - b0; n != int64(counts["forwarded:b"]) {
		t.Errorf("b's gateway backend: %d, want %d", n, counts["forwarded:b"])
	}
}

// refuser is a neighbour that answers every function request 403
// unknown-node (as a node that does not know the sender, for example one
// that just restarted) and passes its health checks.
func refuser(t *testing.T) *fakeServer {
	f := newFakeServer(t, "refuser")
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == HealthPath {
			io.WriteString(w, "ok\n")
			return
		}
		f.hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set(proxyctl.HeaderRejected, "unknown-node")
		w.WriteHeader(http.StatusForbidden)
	})
	return f
}

// TestIntegrationRetryRefused checks that a request a neighbour refuses
// with 403 unknown-node is served locally when the function is deployed
// here, else by another neighbour, and retried only once; when the retry
// is refused too the user gets 503, not the refusal.
func TestIntegrationRetryRefused(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	bad, good := refuser(t), newFakeServer(t, "c")
	c := startNode(t, gw.srv.URL, nil)
	st := func(deployed bool, shares map[strategy.NodeID]float64, cURL string) proxyctl.State {
		s := proxyctl.State{Self: "a", Neighbours: []proxyctl.Neighbour{
			{ID: "b", URL: bad.srv.URL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true},
			{ID: "c", URL: cURL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true},
		}}
		if deployed {
			s.Functions = []proxyctl.Function{{Name: "figlet"}}
		}
		s.Decision.Routes = []strategy.Route{strategy.NewRoute("figlet", 0, 0, shares)}
		return s
	}
	// Deployed here: b's refusals are served locally.
	apply(t, c, st(true, map[strategy.NodeID]float64{"b": 1}, good.srv.URL))
	if counts := send(t, c, "figlet", 100, 4); counts["local:a"] != 100 || bad.hits.Load() != 100 {
		t.Errorf("refused by b, deployed here: %v (b got %d), want 100 served locally after b refused each", counts, bad.hits.Load())
	}
	// Not deployed here: served by c, b's other target.
	bad.hits.Store(0)
	apply(t, c, st(false, map[strategy.NodeID]float64{"b": 0.5, "c": 0.5}, good.srv.URL))
	counts := send(t, c, "figlet", 100, 4)
	if counts["forwarded:c"] != 100 || bad.hits.Load() != 50 || good.hits.Load() != 100 {
		t.Errorf("refused by b, not deployed here: %v (b got %d, c %d), want 100 served by c", counts, bad.hits.Load(), good.hits.Load())
	}
	// Both refuse: one retry only; the user gets a 503 (no node could
	// take the request), never a neighbour's refusal of this node.
	bad2 := refuser(t)
	bad.hits.Store(0)
	apply(t, c, st(false, map[strategy.NodeID]float64{"b": 0.5, "c": 0.5}, bad2.srv.URL))
	counts = send(t, c, "figlet", 100, 4)
	if counts["status:503"] != 100 || bad.hits.Load()+bad2.hits.Load() != 200 {
		t.Errorf("both refuse: %v, b %d + c %d attempts, want 100 answered 503 after 200 attempts (each request retried once)", counts, bad.hits.Load(), bad2.hits.Load())
	}
	// b alone, refusing (as when it restarted and this node cannot serve
	// locally): b once more, then 503.
	bad.hits.Store(0)
	apply(t, c, st(false, map[strategy.NodeID]float64{"b": 1}, bad2.srv.URL))
	counts = send(t, c, "figlet", 100, 4)
	if counts["status:503"] != 100 || bad.hits.Load() != 200 {
		t.Errorf("b alone refuses: %v, b %d attempts, want 100 answered 503 after 200 attempts", counts, bad.hits.Load())
	}
}

// TestIntegrationRetryUnreachable checks that a request whose target
// cannot be reached goes elsewhere: a neighbour that refuses connections
// (served locally), and the local gateway down (forwarded).
func TestIntegrationRetryUnreachable(t *testing.T) {
	gw, b := newFakeServer(t, "gateway"), newFakeServer(t, "b")
	c := startNode(t, gw.srv.URL, nil)
	dead := freeAddr(t) // nothing listens there
	st := func(bURL string, local float64) proxyctl.State {
		return proxyctl.State{
			Self:       "a",
			Functions:  []proxyctl.Function{{Name: "figlet"}},
			Neighbours: []proxyctl.Neighbour{{ID: "b", URL: bURL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true}},
			Decision:   strategy.Decision{Routes: []strategy.Route{strategy.NewRoute("figlet", local, 0, map[strategy.NodeID]float64{"b": 1 - local})}},
		}
	}
	apply(t, c, st("http://"+dead, 0))
	if counts := send(t, c, "figlet", 100, 4); counts["local:a"] != 100 {
		t.Errorf("neighbour unreachable: %v, want 100 served locally", counts)
	}
	// The gateway goes away: local requests go to b.
	apply(t, c, st(b.srv.URL, 0.5))
	gw.srv.Close()
	if counts := send(t, c, "figlet", 100, 4); counts["forwarded:b"] != 100 {
		t.Errorf("gateway unreachable: %v, want 100 forwarded to b", counts)
	}
}

// TestIntegrationSourceCap checks that one address cannot hold more than
// MaxConnPerSource connections while another address is served at once.
func TestIntegrationSourceCap(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	c := startNode(t, gw.srv.URL, func(cfg *Config) { cfg.MaxConnPerSource = 5 })
	apply(t, c, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}})
	addr := strings.TrimPrefix(c.publicURL(), "http://")
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	open := 0
	for range 50 {
		cn, err := net.Dial("tcp", addr)
		if err != nil { // reset while connecting: refused beyond the cap
			continue
		}
		conns = append(conns, cn)
	}
	// The connections beyond the cap are closed at once.
	for _, cn := range conns {
		cn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := cn.Read(make([]byte, 1)); err != nil && isTimeout(err) {
			open++
		}
	}
	if open != 5 {
		t.Errorf("%d idle connections from one address stay open, want 5", open)
	}
	// Another address is served within 1 s.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: time.Second}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	start := time.Now()
	o := do(client, http.MethodPost, c.publicURL()+"/function/figlet", nil)
	if o.status != 200 {
		t.Errorf("a client from 127.0.0.2: %+v after %v", o, time.Since(start))
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestIntegrationBodyLimit checks the body size limit: 413 above it, 411
// for a body of unknown length.
func TestIntegrationBodyLimit(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	c := startNode(t, gw.srv.URL, func(cfg *Config) { cfg.MaxBodySize = 1000 })
	apply(t, c, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}})
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for _, tc := range []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"under the limit", strings.NewReader(strings.Repeat("x", 1000)), 200},
		{"over the limit", strings.NewReader(strings.Repeat("x", 1001)), 413},
	} {
		req, _ := http.NewRequest(http.MethodPost, c.publicURL()+"/function/figlet", tc.body)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	for _, tc := range []struct {
		name, head string
		status     int
	}{
		// Refused from the headers, before any of the body arrives.
		{"announced body over the limit (and the buffer)", "Content-Length: 40000\r\n\r\n", 413},
		{"chunked body (unknown length)", "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", 411},
	} {
		if status, err := rawPost(c.publicURL(), tc.head); err != nil || status != tc.status {
			t.Errorf("%s: %d %v, want %d", tc.name, status, err, tc.status)
		}
	}
	if n := gw.hits.Load(); n != 1 {
		t.Errorf("the gateway got %d requests, want 1", n)
	}
	// Each refusal is a user request of figlet, rejected (as the embedded
	// proxy counts them); they used to be counted nowhere.
	tot, err := c.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := findFn(tot, "figlet"); f.Offered != 4 || f.Rejected != 3 || f.Local != 1 {
		t.Errorf("figlet counted %+v, want 4 offered, 3 rejected, 1 local", f)
	}
}

// rawPost sends a POST of /function/figlet to url on a new connection,
// its request line and Host header followed by rest as written, and
// returns the status of the answer.
func rawPost(url, rest string) (int, error) {
	cn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		return 0, err
	}
	defer cn.Close()
	if _, err := io.WriteString(cn, "POST /function/figlet HTTP/1.1\r\nHost: a\r\n"+rest); err != nil {
		return 0, err
	}
	cn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(cn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestIntegrationTimeouts checks the header, whole-request and idle
// time-outs with short settings.
func TestIntegrationTimeouts(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	c := startNode(t, gw.srv.URL, func(cfg *Config) {
		cfg.HeaderTimeout, cfg.RequestTimeout, cfg.IdleTimeout = 300*time.Millisecond, 400*time.Millisecond, 300*time.Millisecond
	})
	apply(t, c, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}})
	addr := strings.TrimPrefix(c.publicURL(), "http://")
	// answer sends start, then one byte every 100 ms until the server
	// answers or closes, and returns the status line and when it came.
	answer := func(start string) (string, time.Duration) {
		cn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer cn.Close()
		t0 := time.Now()
		io.WriteString(cn, start)
		lines := make(chan string, 1)
		go func() {
			l, _ := bufio.NewReader(cn).ReadString('\n')
			lines <- strings.TrimSpace(l)
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for time.Since(t0) < 10*time.Second {
			select {
			case l := <-lines:
				return l, time.Since(t0)
			case <-tick.C:
				io.WriteString(cn, "x")
			}
		}
		return "", time.Since(t0)
	}
	// Headers that never end: 408 after the header time-out.
	if l, d := answer("POST /function/figlet HTTP/1.1\r\nHost: a\r\nX-Slow: "); !strings.Contains(l, "408") || d > 3*time.Second {
		t.Errorf("slow headers: %q after %v, want 408 within 3s", l, d)
	}
	// A body that trickles in: 408 after the request time-out.
	if l, d := answer("POST /function/figlet HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"); !strings.Contains(l, "408") || d > 3*time.Second {
		t.Errorf("slow body: %q after %v, want 408 within 3s", l, d)
	}
	// An idle keep-alive connection is closed after the idle time-out.
	cn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	fmt.Fprintf(cn, "POST /function/figlet HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
	br := bufio.NewReader(cn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	t0 := time.Now()
	cn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF || time.Since(t0) > 3*time.Second {
		t.Errorf("idle connection: %v after %v, want closed (EOF) within 3s", err, time.Since(t0))
	}
}

// helperEnv names the environment variable that makes the test binary run
// a controller as an agent would (a child process of
// TestIntegrationRestartOldToken; see TestMain).
const helperEnv = "DFAAS_HAPROXY_HELPER"

// TestMain runs the test binary as helperAgent when helperEnv is set, else
// the tests.
func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		if err := helperAgent(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// helperAgent, run by TestIntegrationRestartOldToken in a child process,
// starts a controller as an agent would (spec: dir,listen,gateway),
// applies a state in which node b presents the credential
// "captured-token", says "ready" and waits to be killed. It returns only
// on error.
func helperAgent(spec string) error {
	f := strings.Split(spec, ",")
	if len(f) != 3 {
		return fmt.Errorf("helper spec %q: want dir,listen,gateway", spec)
	}
	c, err := New(context.Background(), Config{Dir: f[0], ListenAddr: f[1], GatewayURL: f[2], MetricsAddr: MetricsOff})
	if err != nil {
		return err
	}
	err = c.Apply(context.Background(), proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:9", TokenOut: "x", TokenIn: "captured-token"}},
	})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	select {}
}

// TestIntegrationRestartOldToken checks that when an agent dies (SIGKILL)
// and a new one starts on the same work directory, the HAProxy the old one
// left running keeps serving until then, and a credential captured before
// the restart is refused once the new controller has started, on new and
// on kept-alive connections.
func TestIntegrationRestartOldToken(t *testing.T) {
	haproxyBinary(t)
	gw := newFakeServer(t, "gateway")
	dir, listen := t.TempDir(), freeAddr(t)
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), helperEnv+"="+dir+","+listen+","+gw.srv.URL)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// If the test fails before a new controller takes the orphaned
	// HAProxy over, stop it (cleanups run last in, first out: after the
	// new controller's Close).
	t.Cleanup(func() {
		out, err := masterCommand(context.Background(), filepath.Join(dir, "master.sock"), "show proc", time.Second)
		if ps, perr := parseShowProc(out); err == nil && perr == nil && ps.masterPID > 0 {
			syscall.Kill(ps.masterPID, syscall.SIGTERM)
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the helper agent exited before it was ready")
		}
	case <-time.After(30 * time.Second):
		child.Process.Kill()
		t.Fatal("the helper agent is not ready after 30s")
	}
	url := "http://" + listen + "/function/figlet"
	captured := map[string]string{proxyctl.HeaderNodeID: "b", proxyctl.HeaderNodeToken: "captured-token"}
	kept := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer kept.CloseIdleConnections()
	if o := do(kept, http.MethodPost, url, captured); o.status != 200 {
		t.Fatalf("b's credential before the restart: %+v", o)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	// The agent is gone; its HAProxy still serves.
	if o := do(&http.Client{Timeout: 5 * time.Second}, http.MethodPost, url, nil); o.status != 200 {
		t.Fatalf("user request after the agent died: %+v", o)
	}
	c := startNode(t, gw.srv.URL, func(cfg *Config) { cfg.Dir, cfg.ListenAddr, cfg.MetricsAddr = dir, listen, MetricsOff })
	fresh := &http.Client{Timeout: 5 * time.Second}
	if o := do(fresh, http.MethodPost, url, captured); o.status != 403 || o.rejected != "unknown-node" {
		t.Errorf("captured credential on a new connection after the restart: %+v, want 403 unknown-node", o)
	}
	if o := do(kept, http.MethodPost, url, captured); o.status == 200 {
		t.Errorf("captured credential on a connection kept from before the restart: %+v, want refused", o)
	}
	if o := do(fresh, http.MethodPost, url, nil); o.status != 200 {
		t.Errorf("user request after the restart: %+v", o)
	}
	// Only the new HAProxy is left.
	out2, err := masterCommand(context.Background(), c.o.masterSocket, "show proc", time.Second)
	if ps, perr := parseShowProc(out2); err != nil || perr != nil || ps.masterPID != c.sup.masterPID() {
		t.Errorf("show proc after the takeover: %v %v %q", err, perr, out2)
	}
}

// TestIntegrationUnknownNames checks that requests for made-up function
// names leave no per-name state: 2,000 of them get 404, the stick tables
// hold only the function deployed here, and so do the totals.
func TestIntegrationUnknownNames(t *testing.T) {
	gw := newFakeServer(t, "gateway")
	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}})
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for i := range 2000 {
		if o := do(client, http.MethodPost, fmt.Sprintf("%s/function/made-up-%d", c.publicURL(), i), nil); o.status != 404 || o.rejected != "no-route" {
			t.Fatalf("made-up name %d: %+v, want 404 no-route", i, o)
		}
	}
	if o := do(client, http.MethodPost, c.publicURL()+"/function/figlet", nil); o.status != 200 {
		t.Fatalf("figlet: %+v", o)
	}
	for _, table := range []string{"st_fn", "st_out", "st_in"} {
		out, err := c.rt.ExecuteRaw("show table " + table)
		if err != nil {
			t.Fatal(err)
		}
		if es := parseTable(out); len(es) > 1 || len(es) == 1 && !strings.HasPrefix(es[0].key, "figlet") {
			t.Errorf("table %s holds %d entries after 2,000 made-up names: %.200q", table, len(es), out)
		}
	}
	tot, err := c.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tot.Functions) != 1 || tot.Functions[0].Name != "figlet" || tot.Functions[0].Offered != 1 {
		t.Errorf("totals %+v, want figlet only, 1 offered", tot.Functions)
	}
	// The made-up names are one aggregate (one stick-table entry).
	if tot.Other.Offered != 2000 || tot.Other.Rejected != 2000 {
		t.Errorf("aggregate of unrouted names %+v, want 2000 offered and rejected", tot.Other)
	}
}

// slowChecks is a server whose health paths hang (its checks time out, as
// on a saturated node) while it serves function requests.
func slowChecks(t *testing.T, name string) *fakeServer {
	f := newFakeServer(t, name)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == HealthPath {
			select {
			case <-release:
			case <-time.After(3 * time.Second):
			}
			return
		}
		f.hits.Add(1)
		io.Copy(io.Discard, r.Body)
		if name != "gateway" {
			w.Header().Set(proxyctl.HeaderServedBy, name)
		}
		io.WriteString(w, name)
	})
	return f
}

// TestIntegrationSlowChecks checks that when the health checks of the
// gateway and of the only neighbour time out (a saturated node), requests
// are still served rather than refused: each is retried once on a target
// without waiting for its checks.
func TestIntegrationSlowChecks(t *testing.T) {
	gw, b := slowChecks(t, "gateway"), slowChecks(t, "b")
	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: b.srv.URL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{strategy.NewRoute("figlet", 0.5, 0, map[strategy.NodeID]float64{"b": 0.5})}},
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !(strings.HasPrefix(slotStatus(t, c, "n1"), "DOWN") && strings.HasPrefix(statOf(t, c, "gateway", "gw").Status, "DOWN")) {
		time.Sleep(100 * time.Millisecond)
	}
	if st := slotStatus(t, c, "n1"); !strings.HasPrefix(st, "DOWN") {
		t.Fatalf("b is %q, want DOWN (its checks hang)", st)
	}
	counts := send(t, c, "figlet", 100, 4)
	if counts["forwarded:b"] != 100 {
		t.Errorf("gateway and b marked down by slow checks: %v, want all 100 served by b", counts)
	}
}
