package goproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/proxyctl"
)

// node is a proxy in front of a real embedded FaaS, both served with their
// limits on loopback, as the agent runs them.
type node struct {
	proxy    *Proxy
	faas     *embedded.Server
	url      string // the proxy's base URL
	faasURL  string
	user, pw string // the FaaS management credentials
}

func startNode(t *testing.T, proxyLimits, faasLimits Limits) *node {
	t.Helper()
	fs, err := embedded.New(embedded.Config{
		Functions:           []embedded.Function{{Name: "shasum", Capacity: 1000, Concurrency: 200}, {Name: "echo"}},
		GenerateCredentials: true, Limits: faasLimits,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{faas: fs}
	n.user, n.pw = fs.Credentials()
	n.faasURL = "http://" + serveOn(t, func(ctx context.Context, ln net.Listener) error { return fs.Serve(ctx, ln) })
	if n.proxy, err = New(Config{FaaSURL: n.faasURL, Limits: proxyLimits}); err != nil {
		t.Fatal(err)
	}
	if err := n.proxy.Apply(context.Background(), proxyctl.State{Self: "a",
		Functions: []proxyctl.Function{{Name: "echo"}, {Name: "shasum"}}}); err != nil {
		t.Fatal(err)
	}
	n.url = "http://" + serveOn(t, n.proxy.Serve)
	return n
}

// serveOn runs serve on a new loopback listener until the test ends and
// returns its address.
func serveOn(t *testing.T, serve func(context.Context, net.Listener) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// pattern is an endless reader of a repeating byte pattern.
type pattern struct{ off int }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte('a' + (p.off+i)%26)
	}
	p.off += len(b)
	return len(b), nil
}

// heapPeak samples the heap every 10 ms until stop is closed and returns
// the largest HeapAlloc seen.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// TestConcurrentUploadsBounded reproduces the upload attack: 150
// concurrent uploads of 10 MiB through the proxy to the FaaS. Bodies are
// streamed and the in-flight body bytes capped, so the process's heap stays
// under 256 MB; every upload gets 200 (with the right digest) or 503.
func TestConcurrentUploadsBounded(t *testing.T) {
	const size, n = 10 << 20, 150
	nd := startNode(t, Limits{}, Limits{})
	// One shared body: the clients add no memory of their own.
	body := make([]byte, size)
	io.ReadFull(&pattern{}, body)
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:]) + "  -\n"
	runtime.GC()
	stop := make(chan struct{})
	peak := heapPeak(stop)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, nd.url+"/function/shasum", bytes.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				// The proxy answered 503 and closed while the
				// client was still sending: the client may see
				// the reset first.
				refused.Add(1)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == 200 && string(b) == want:
				ok.Add(1)
			case resp.StatusCode == http.StatusServiceUnavailable:
				refused.Add(1)
			default:
				errs <- fmt.Sprintf("status %d: %.200s", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	close(stop)
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	p := <-peak
	t.Logf("%d uploads served, %d refused; heap peak %d MB; proxy listener %+v", ok.Load(), refused.Load(), p>>20, nd.proxy.lim.Stats())
	if ok.Load() == 0 {
		t.Fatal("no upload was served")
	}
	if p > 256<<20 {
		t.Fatalf("heap peaked at %d MB, want under 256 MB", p>>20)
	}
}

// TestSlowAndIdleConnectionsCut reproduces the connection attacks with
// short time-outs: keep-alive connections left idle, and bodies sent one
// byte at a time, are all closed by the proxy within a bound.
func TestSlowAndIdleConnectionsCut(t *testing.T) {
	lim := Limits{IdleTimeout: 300 * time.Millisecond, BodyTimeout: 500 * time.Millisecond, MaxConnsPerIP: 1000, MaxConns: 1000}
	nd := startNode(t, lim, Limits{})
	addr := strings.TrimPrefix(nd.url, "http://")
	const idle, slow = 300, 50
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range idle + slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i < idle {
			fmt.Fprintf(c, "GET /function/shasum HTTP/1.1\r\nHost: x\r\n\r\n")
		} else {
			fmt.Fprintf(c, "POST /function/shasum HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
		}
	}
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	var wg sync.WaitGroup
	statuses := make([]int, len(conns))
	for i, c := range conns {
		wg.Go(func() {
			stop := make(chan struct{})
			defer close(stop)
			if i >= idle {
				go trickle(c, stop) // one byte every 100 ms
			}
			c.SetReadDeadline(deadline)
			br := bufio.NewReader(c)
			if resp, err := http.ReadResponse(br, nil); err == nil {
				statuses[i] = resp.StatusCode
				io.Copy(io.Discard, resp.Body)
			}
			// Then the server closes the connection.
			if _, err := br.ReadByte(); err == nil || time.Now().After(deadline) {
				t.Logf("conn %d: status %d, err %v after %v", i, statuses[i], err, time.Since(start))
				statuses[i] = -1
			}
		})
	}
	wg.Wait()
	t.Logf("%d idle and %d slow-body connections all closed within %v", idle, slow, time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("connections closed after %v, want within 5 s", d)
	}
	for i, s := range statuses {
		want := http.StatusOK
		if i >= idle {
			want = http.StatusRequestTimeout
		}
		if s != want {
			t.Fatalf("connection %d: status %d, want %d then a close", i, s, want)
		}
	}
}

func trickle(c net.Conn, stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}
}

// TestManagementAPIUnreachable tries path tricks to reach the FaaS
// management API through the proxy, and the API directly without the
// credential: no function is ever scaled.
func TestManagementAPIUnreachable(t *testing.T) {
	nd := startNode(t, Limits{}, Limits{})
	scale := `{"serviceName":"echo","replicas":0}`
	paths := []string{
		"/system/scale-function/echo",
		"//system/scale-function/echo",
		"/function/../system/scale-function/echo",
		"/function/echo/../../system/scale-function/echo",
		"/function/echo/%2e%2e/%2e%2e/system/scale-function/echo",
		"/function/echo%2F..%2F..%2Fsystem%2Fscale-function%2Fecho",
		"/function/./../system/scale-function/echo",
		"/FUNCTION/../system/scale-function/echo",
	}
	for _, p := range paths {
		code := rawPost(t, nd.url, p, scale, "")
		if code == http.StatusAccepted || code == http.StatusOK {
			t.Errorf("POST %s through the proxy: %d", p, code)
		}
	}
	if code := rawPost(t, nd.faasURL, "/system/scale-function/echo", scale, ""); code != http.StatusUnauthorized {
		t.Errorf("management API without the credential: %d, want 401", code)
	}
	fns, err := nd.faas.Functions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		if f.Replicas != 1 {
			t.Fatalf("%s scaled to %d", f.Name, f.Replicas)
		}
	}
	auth := "Basic " + basic(nd.user, nd.pw)
	if code := rawPost(t, nd.faasURL, "/system/scale-function/echo", `{"serviceName":"echo","replicas":2}`, auth); code != http.StatusAccepted {
		t.Fatalf("management API with the credential: %d, want 202", code)
	}
}

// rawPost sends path as written (no client-side cleaning) and returns the
// status.
func rawPost(t *testing.T, base, path, body, auth string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	hdr := ""
	if auth != "" {
		hdr = "Authorization: " + auth + "\r\n"
	}
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", path, hdr, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func basic(user, pw string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(user, pw)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestHostileRequestShapes: requests shaped to hurt get bounded, clear
// answers from a proxy served with its default limits.
func TestHostileRequestShapes(t *testing.T) {
	nd := startNode(t, Limits{}, Limits{})
	tests := []struct {
		name   string
		path   string
		header string
		status int
	}{
		{"100,000-character name", "/function/" + strings.Repeat("a", 100000), "", http.StatusBadRequest},
		{"NUL in the name", "/function/a%00b", "", http.StatusBadRequest},
		{"2 MB of headers", "/function/echo", "X-Big: " + strings.Repeat("h", 2<<20) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"management API", "/system/functions", "", http.StatusForbidden},
		{"a valid request still works", "/function/echo", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(nd.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// Written concurrently: the proxy may answer before reading it all.
			wg.Go(func() {
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 2\r\n\r\nhi", tt.path, tt.header)
			})
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}
