package netlimit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// server serves h with lim on a loopback port until the test ends.
func server(t *testing.T, lim *Limiter, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lim.Serve(ctx, ln, lim.Handler(h)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

func newLimiter(t *testing.T, cfg Config) *Limiter {
	t.Helper()
	l, err := New("test", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// dialFrom opens a TCP connection to addr from the loopback address from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond every few milliseconds until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// get sends one request on c and returns the response status (0 if the
// connection failed).
func get(c net.Conn, path string) int {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// closedByPeer reports whether the server closed c (a read returns EOF or
// a reset within a second).
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && errTimeout(err) == nil
}

func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return nil
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
})

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name            string
		cfg             Config
		fd              uint64
		conns, perIP    int
		inflight, bodyM int64
	}{
		{"zero, fd limit unknown", Config{}, 0, DefaultMaxConns, DefaultMaxConns / 4, DefaultMaxInflightBodyBytes, DefaultMaxBodyBytes},
		{"zero, high fd limit", Config{}, 1 << 20, DefaultMaxConns, DefaultMaxConns / 4, DefaultMaxInflightBodyBytes, DefaultMaxBodyBytes},
		{"zero, fd limit 256", Config{}, 256, 32, 8, DefaultMaxInflightBodyBytes, DefaultMaxBodyBytes},
		{"zero, tiny fd limit", Config{}, 20, minConns, minConns / 4, DefaultMaxInflightBodyBytes, DefaultMaxBodyBytes},
		{"per-address cap above total", Config{MaxConns: 10, MaxConnsPerIP: 50}, 0, 10, 10, DefaultMaxInflightBodyBytes, DefaultMaxBodyBytes},
		{"in-flight at least one body", Config{MaxBodyBytes: 1 << 30, MaxInflightBodyBytes: 1}, 0, DefaultMaxConns, DefaultMaxConns / 4, 1 << 30, 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg.WithDefaults(tt.fd)
			if c.MaxConns != tt.conns || c.MaxConnsPerIP != tt.perIP || c.MaxInflightBodyBytes != tt.inflight || c.MaxBodyBytes != tt.bodyM {
				t.Fatalf("got %+v", c)
			}
		})
	}
}

// TestDefaultsSane checks that the defaults fit a small edge node facing
// the public: slow bodies are cut within 30 s, idle connections within a
// minute, and the three listeners of an agent (proxy, FaaS, admin) with the
// proxy's connections to the FaaS stay under the file-descriptor limit.
func TestDefaultsSane(t *testing.T) {
	for _, fd := range []uint64{0, 1024, 4096, 20000, 1 << 20} {
		c := Config{}.WithDefaults(fd)
		if c.BodyTimeout > 30*time.Second || c.HeaderTimeout > 30*time.Second || c.IdleTimeout > time.Minute {
			t.Fatalf("fd %d: time-outs too long: %+v", fd, c)
		}
		if c.RequestTimeout < c.BodyTimeout+30*time.Second {
			t.Fatalf("fd %d: RequestTimeout %v leaves a function less than 30 s after its body", fd, c.RequestTimeout)
		}
		if fd > 0 && uint64(4*c.MaxConns) >= fd {
			t.Fatalf("fd %d: 4 x MaxConns %d reaches the fd limit", fd, c.MaxConns)
		}
		if c.MaxConnsPerIP >= c.MaxConns || c.MaxConnsPerIP < 1 {
			t.Fatalf("fd %d: per-address cap %d vs total %d", fd, c.MaxConnsPerIP, c.MaxConns)
		}
		if c.MaxHeaderBytes > 1<<20 || c.MaxInflightBodyBytes > 256<<20 {
			t.Fatalf("fd %d: memory caps too large: %+v", fd, c)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{MaxConns: -1}, {MaxConnsPerIP: -1}, {IdleTimeout: -1}, {HeaderTimeout: -1},
		{BodyTimeout: -1}, {RequestTimeout: -1}, {MaxHeaderBytes: -1}, {MaxBodyBytes: -1}, {MaxInflightBodyBytes: -1}} {
		if _, err := New("x", c, nil); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("%+v: err %v", c, err)
		}
	}
}

func TestPerAddressCapEvictsOwnIdle(t *testing.T) {
	lim := newLimiter(t, Config{MaxConns: 8, MaxConnsPerIP: 3})
	addr := server(t, lim, ok)
	var conns []net.Conn
	for range 3 {
		conns = append(conns, dialFrom(t, "127.0.0.1", addr))
		waitFor(t, "accepted", func() bool { return lim.Conns() == len(conns) })
	}
	// The first has served a request and is idle; the others are unused.
	if code := get(conns[0], "/"); code != 200 {
		t.Fatalf("status %d", code)
	}
	fourth := dialFrom(t, "127.0.0.1", addr)
	if code := get(fourth, "/"); code != 200 {
		t.Fatalf("a new connection at the per-address cap got %d, want 200", code)
	}
	if !closedByPeer(conns[1]) {
		t.Fatal("the oldest unused connection of the address was not closed")
	}
	if n := lim.Conns(); n != 3 {
		t.Fatalf("%d connections open, want 3", n)
	}
	if s := lim.Stats(); s.Evicted != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// busy is a handler that holds every request until release is closed.
// Tests defer free, which runs before the server's clean-up waits for
// requests in flight.
type busy struct {
	in      chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBusy() *busy {
	return &busy{in: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *busy) free() { b.once.Do(func() { close(b.release) }) }

func (b *busy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/free" {
		io.WriteString(w, "ok")
		return
	}
	b.in <- struct{}{}
	<-b.release
}

func TestCapsRefuseWhenNothingIdle(t *testing.T) {
	for _, tt := range []struct {
		name string
		from string
		code int
	}{
		{"per address", "127.0.0.1", http.StatusTooManyRequests},
		{"total", "127.0.0.2", http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lim := newLimiter(t, Config{MaxConns: 2, MaxConnsPerIP: 2})
			b := newBusy()
			defer b.free()
			addr := server(t, lim, b)
			for range 2 {
				c := dialFrom(t, "127.0.0.1", addr)
				fmt.Fprintf(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
				<-b.in
			}
			c := dialFrom(t, tt.from, addr)
			if code := get(c, "/free"); code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
		})
	}
}

func TestTotalCapEvictsHeaviestAddress(t *testing.T) {
	lim := newLimiter(t, Config{MaxConns: 4, MaxConnsPerIP: 4})
	addr := server(t, lim, ok)
	heavy := []net.Conn{dialFrom(t, "127.0.0.1", addr)}
	waitFor(t, "accepted", func() bool { return lim.Conns() == 1 })
	light := dialFrom(t, "127.0.0.2", addr)
	waitFor(t, "accepted", func() bool { return lim.Conns() == 2 })
	for range 2 {
		heavy = append(heavy, dialFrom(t, "127.0.0.1", addr))
	}
	waitFor(t, "accepted", func() bool { return lim.Conns() == 4 })
	newcomer := dialFrom(t, "127.0.0.3", addr)
	if code := get(newcomer, "/"); code != 200 {
		t.Fatalf("newcomer got %d", code)
	}
	if !closedByPeer(heavy[0]) {
		t.Fatal("the oldest connection of the heaviest address was not closed")
	}
	if code := get(light, "/"); code != 200 {
		t.Fatalf("the light address lost its connection: %d", code)
	}
}

func TestTimeouts(t *testing.T) {
	cfg := Config{IdleTimeout: 200 * time.Millisecond, HeaderTimeout: 200 * time.Millisecond, BodyTimeout: 300 * time.Millisecond}
	tests := []struct {
		name string
		send func(c net.Conn)
		want int // status expected before the close, 0 for none
	}{
		{"idle keep-alive", func(c net.Conn) {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		}, 200},
		{"header trickle", func(c net.Conn) {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		}, 0},
		{"never a byte", func(c net.Conn) {}, 0},
		{"slow body", func(c net.Conn) {
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
		}, http.StatusRequestTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := newLimiter(t, cfg)
			addr := server(t, lim, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.Copy(io.Discard, r.Body); err != nil {
					http.Error(w, err.Error(), Status(err))
					return
				}
				io.WriteString(w, "ok")
			}))
			c := dialFrom(t, "127.0.0.1", addr)
			start := time.Now()
			tt.send(c)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			if tt.want != 0 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil || resp.StatusCode != tt.want {
					t.Fatalf("response %v %v, want %d", resp, err, tt.want)
				}
				io.Copy(io.Discard, resp.Body)
			}
			if _, err := br.ReadByte(); err == nil || errTimeout(err) != nil {
				t.Fatalf("connection not closed: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("closed after %v", d)
			}
			waitFor(t, "connection forgotten", func() bool { return lim.Conns() == 0 })
		})
	}
}

// TestLongHandlerKeepsContext checks that a handler running longer than
// the body time-out is not cancelled once its body is read (the server's
// background read must not hit the body deadline).
func TestLongHandlerKeepsContext(t *testing.T) {
	lim := newLimiter(t, Config{BodyTimeout: 100 * time.Millisecond})
	addr := server(t, lim, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(500 * time.Millisecond):
			io.WriteString(w, "ok")
		case <-r.Context().Done():
			http.Error(w, "cancelled", 500)
		}
	}))
	for _, body := range []string{"", "some body"} {
		resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("body %q: status %d: the request was cancelled by the body deadline", body, resp.StatusCode)
		}
	}
}

func TestBodyCaps(t *testing.T) {
	lim := newLimiter(t, Config{MaxBodyBytes: 1000, MaxInflightBodyBytes: 1500})
	b := newBusy()
	defer b.free()
	addr := server(t, lim, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), Status(err))
			return
		}
		if r.URL.Path == "/hold" {
			b.ServeHTTP(w, r)
		}
	}))
	post := func(path string, body io.Reader) int {
		resp, err := http.Post("http://"+addr+path, "text/plain", body)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	chunked := func(n int) io.Reader { return io.MultiReader(strings.NewReader(strings.Repeat("x", n))) }
	if code := post("/", strings.NewReader(strings.Repeat("x", 1001))); code != 413 {
		t.Fatalf("declared too large: %d", code)
	}
	if code := post("/", chunked(1001)); code != 413 {
		t.Fatalf("chunked too large: %d", code)
	}
	if code := post("/", chunked(1000)); code != 200 {
		t.Fatalf("chunked at the cap: %d", code)
	}
	held := make(chan int, 1)
	go func() { held <- post("/hold", strings.NewReader(strings.Repeat("x", 800))) }()
	<-b.in
	if code := post("/", strings.NewReader(strings.Repeat("x", 800))); code != 503 {
		t.Fatalf("declared above the in-flight budget: %d", code)
	}
	if code := post("/", chunked(800)); code != 503 {
		t.Fatalf("chunked above the in-flight budget: %d", code)
	}
	if code := post("/", strings.NewReader(strings.Repeat("x", 500))); code != 200 {
		t.Fatalf("within the budget: %d", code)
	}
	b.release <- struct{}{}
	if code := <-held; code != 200 {
		t.Fatalf("held request: %d", code)
	}
	waitFor(t, "budget returned", func() bool { return lim.Stats().InflightBodyBytes == 0 })
	s := lim.Stats()
	if s.Refused[ReasonBodyTooLarge] != 2 || s.Refused[ReasonBodyInflight] != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMetrics(t *testing.T) {
	lim := newLimiter(t, Config{MaxConns: 1, MaxConnsPerIP: 1})
	b := newBusy()
	defer b.free()
	addr := server(t, lim, b)
	c := dialFrom(t, "127.0.0.1", addr)
	fmt.Fprintf(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
	<-b.in
	if code := get(dialFrom(t, "127.0.0.1", addr), "/free"); code != 429 {
		t.Fatalf("status %d", code)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(lim)
	got := gather(t, reg)
	want := map[string]float64{
		`dfaas_listener_connections{listener="test"}`:                           1,
		`dfaas_listener_refused_total{listener="test",reason="conns_per_ip"}`:   1,
		`dfaas_listener_refused_total{listener="test",reason="conns_total"}`:    0,
		`dfaas_listener_refused_total{listener="test",reason="body_too_large"}`: 0,
		`dfaas_listener_refused_total{listener="test",reason="body_inflight"}`:  0,
		`dfaas_listener_refused_total{listener="test",reason="body_timeout"}`:   0,
		`dfaas_listener_connections_accepted_total{listener="test"}`:            1,
		`dfaas_listener_connections_evicted_total{listener="test"}`:             0,
		`dfaas_listener_inflight_body_bytes{listener="test"}`:                   0,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// gather returns every sample of reg as name{labels} -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

// TestConcurrentChurn opens and closes connections from several addresses
// at once, under the race detector, and checks the books balance.
func TestConcurrentChurn(t *testing.T) {
	lim := newLimiter(t, Config{MaxConns: 8, MaxConnsPerIP: 3})
	addr := server(t, lim, ok)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			from := fmt.Sprintf("127.0.0.%d", i+1)
			for range 30 {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					continue
				}
				get(c, "/")
				c.Close()
			}
		})
	}
	wg.Wait()
	waitFor(t, "every connection forgotten", func() bool { return lim.Conns() == 0 })
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if len(lim.clients) != 0 {
		t.Fatalf("%d addresses still tracked", len(lim.clients))
	}
}
