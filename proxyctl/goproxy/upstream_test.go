package goproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// localProxy returns a proxy (served on loopback) whose FaaS is h, with
// function fn deployed with timeout.
func localProxy(t *testing.T, h http.Handler, timeout time.Duration) (*Proxy, string) {
	t.Helper()
	faas := httptest.NewServer(h)
	t.Cleanup(faas.Close)
	return localProxyAt(t, faas.URL, timeout)
}

func localProxyAt(t *testing.T, faasURL string, timeout time.Duration) (*Proxy, string) {
	t.Helper()
	p, err := New(Config{FaaSURL: faasURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Apply(context.Background(), proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn", Timeout: timeout}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func doReq(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestFastPathAnswers checks that answers of every shape reach the client
// intact through the fast local path.
func TestFastPathAnswers(t *testing.T) {
	big := strings.Repeat("0123456789", 20000)
	_, url := localProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", fmt.Sprintf("%s %s %s len=%d %s", r.Method, r.URL.Path, r.URL.RawQuery, len(b), r.Header.Get("X-Client")))
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		switch r.URL.Query().Get("shape") {
		case "big":
			io.WriteString(w, big)
		case "chunked":
			w.WriteHeader(201)
			io.WriteString(w, "part1 ")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part2")
		case "early-hints":
			w.Header().Set("Link", "</x>")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(202)
			io.WriteString(w, "after hints")
		case "empty":
			w.WriteHeader(204)
		default:
			io.WriteString(w, "ok")
		}
	}), 0)
	tests := []struct {
		method, query, body string
		status              int
		answer              string
	}{
		{"POST", "", "hello", 200, "ok"},
		{"GET", "shape=big", "", 200, big},
		{"POST", "shape=chunked", strings.Repeat("b", 20000), 201, "part1 part2"}, // a streamed body
		{"GET", "shape=early-hints", "", 202, "after hints"},
		{"DELETE", "shape=empty", "", 204, ""},
		{"HEAD", "", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.query, func(t *testing.T) {
			for range 3 { // and again on the kept-alive connection
				req, _ := http.NewRequest(tt.method, url+"/function/fn/sub?"+tt.query, strings.NewReader(tt.body))
				req.Header.Set("X-Client", "c")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.status || string(b) != tt.answer {
					t.Fatalf("status %d, %d bytes; want %d, %d bytes", resp.StatusCode, len(b), tt.status, len(tt.answer))
				}
				want := fmt.Sprintf("%s /function/fn/sub %s len=%d c", tt.method, tt.query, len(tt.body))
				if got := resp.Header.Get("X-Got"); got != want {
					t.Fatalf("the FaaS saw %q, want %q", got, want)
				}
				if c := resp.Header.Values("Set-Cookie"); len(c) != 2 || resp.Header.Get(proxyctl.HeaderServedBy) != "a" {
					t.Fatalf("headers %v", resp.Header)
				}
			}
		})
	}
}

// closingFaaS answers each request on a connection, then closes it after
// a while without saying so: the proxy must not reuse a dead connection
// for a request it cannot send twice.
func closingFaaS(t *testing.T) (url string, served, closed *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served, closed = new(atomic.Int64), new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { ln.Close() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer closed.Add(1)
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				served.Add(1)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			})
		}
	})
	return "http://" + ln.Addr().String(), served, closed
}

func TestDeadIdleConnectionsNotReused(t *testing.T) {
	faasURL, served, closed := closingFaaS(t)
	_, url := localProxyAt(t, faasURL, 0)
	for i := range 5 {
		if resp, _ := doReq(t, "POST", url+"/function/fn", "x"); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		waitForCount(t, closed, int64(i+1))
		// The connection then stays idle a while, as on a quiet node.
		time.Sleep(checkIdle)
	}
	if served.Load() != 5 {
		t.Fatalf("the FaaS served %d requests, want 5", served.Load())
	}
}

func TestFastPathTimeoutsAndCancellation(t *testing.T) {
	var cancelled atomic.Int64
	_, url := localProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled.Add(1)
		case <-time.After(10 * time.Second):
		}
	}), 300*time.Millisecond)
	start := time.Now()
	if resp, _ := doReq(t, "GET", url+"/function/fn", ""); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502 after the function's time-out", resp.StatusCode)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("answered after %v", d)
	}
	waitForCount(t, &cancelled, 1)

	// A client that goes away: the FaaS sees its request cancelled.
	_, url = localProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		cancelled.Add(1)
	}), time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/function/fn", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("no error for a cancelled request")
	}
	waitForCount(t, &cancelled, 2)
}

func waitForCount(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); n.Load() < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("count %d, want %d", n.Load(), want)
		}
	}
}

// TestFastPathBounds: answer headers above the limit get 502, and the pool
// opens no more connections than its size.
func TestFastPathBounds(t *testing.T) {
	_, url := localProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Huge", strings.Repeat("h", 200<<10))
	}), 0)
	if resp, _ := doReq(t, "GET", url+"/function/fn", ""); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("huge answer headers: status %d, want 502", resp.StatusCode)
	}

	var open, peak atomic.Int64
	release := make(chan struct{})
	faas := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	faas.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			n := open.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
		case http.StateClosed:
			open.Add(-1)
		}
	}
	faas.Start()
	defer faas.Close()
	u := newUpstream(mustURL(t, faas.URL), 2, 1<<10)
	defer u.close()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", "http://x/function/fn", nil)
			c, err := u.roundTrip(context.Background(), req, extraHeaders{}, nil, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			var h head
			buf, _ := c.br.Peek(c.br.Buffered())
			if !parseHead(buf, "GET", &h) {
				t.Error("unexpected answer")
			}
			c.br.Discard(h.size)
			u.finish(c, true)
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for peak.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a third connection, were the cap broken
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Fatalf("%d connections at once, want the pool's 2", p)
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// BenchmarkLocalRequest measures a POST with a small body through the
// proxy to a trivial FaaS on loopback, against the same request sent to
// the FaaS directly (the baseline: read the ratio of ns/op, not the
// figure), both through the fast path and through http.Transport (the
// path before it existed). Client, proxy and FaaS share the process.
func BenchmarkLocalRequest(b *testing.B) {
	faas := okFaaS(b)
	serve := func(cfg Config) string {
		p, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Apply(context.Background(), proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}}}); err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(p)
		b.Cleanup(srv.Close)
		return srv.URL
	}
	targets := []struct{ name, url string }{
		{"direct", faas.URL},
		{"proxy", serve(Config{FaaSURL: faas.URL})},
		{"proxy-transport", serve(Config{FaaSURL: faas.URL, Transport: &http.Transport{MaxIdleConnsPerHost: 64}})},
	}
	for _, tt := range targets {
		b.Run(tt.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(tt.url+"/function/fn", "text/plain", strings.NewReader("hello world"))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
