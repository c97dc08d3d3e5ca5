package goproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestPoolClosedWhileInFlight: a neighbour that leaves the routing state
// while a request forwarded to it is in flight gets its answer relayed,
// then the connection closed (not kept in a pool nobody uses).
func TestPoolClosedWhileInFlight(t *testing.T) {
	in, release := make(chan struct{}), make(chan struct{})
	nb := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
		if conn == 1 && n == 1 {
			in <- struct{}{}
			<-release
		}
		return okAnswer(conn, n, c, req, body)
	})
	p, url := forwarder(t, Config{}, "http://127.0.0.1:1", nb.url, "", false)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	status, done := make(chan int, 1), make(chan struct{})
	defer func() { unblock(); <-done }()
	go func() {
		defer close(done)
		resp, err := http.Post(url+"/function/fn", "text/plain", strings.NewReader("x"))
		if err != nil {
			status <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-in
	if err := p.Apply(context.Background(), proxyctl.State{Self: "a"}); err != nil {
		t.Fatal(err)
	}
	unblock()
	if s := <-status; s != 200 {
		t.Fatalf("status %d, want 200 relayed from the neighbour that left", s)
	}
	for deadline := time.Now().Add(5 * time.Second); nb.closed.Load() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the connection to the neighbour that left is still open (%d connections)", nb.conns.Load())
		}
	}
}

// TestSlowGeneralAnswerRelayed: an answer the fast client reads with
// http.ReadResponse (chunked) whose body comes after the polling interval
// is relayed whole: the request's own deadline applies, not the polling
// one.
func TestSlowGeneralAnswerRelayed(t *testing.T) {
	faas := newRawFaaS(t, func(_, _ int, c net.Conn, _ *http.Request, _ []byte) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		time.Sleep(2 * pollInterval) // the body comes late: the scenario, not synchronisation
		io.WriteString(c, "2\r\nok\r\n0\r\n\r\n")
		return true
	})
	_, url := localProxyAt(t, faas.url, 0)
	resp, err := http.Get(url + "/function/fn")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("status %d, body %q, %v: want the whole late body", resp.StatusCode, body, err)
	}
}

// TestUpstreamDefaultPorts: a fast client to a URL without a port dials
// the scheme's default one.
func TestUpstreamDefaultPorts(t *testing.T) {
	for raw, want := range map[string]string{
		"http://node.example":       "node.example:80",
		"https://node.example":      "node.example:443",
		"https://node.example:8443": "node.example:8443",
		"http://[::1]":              "[::1]:80",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := newUpstream(u, 1, 1<<10).host; got != want {
			t.Errorf("%s: dials %s, want %s", raw, got, want)
		}
	}
}

// TestRefusalBodyReadUpTo4KiB: the refusal of a neighbour whose request is
// sent elsewhere is read, for its connection to be reused, when its body
// is at most 4 KiB; a longer one is not read, its connection closed.
func TestRefusalBodyReadUpTo4KiB(t *testing.T) {
	for _, tt := range []struct {
		size  int
		conns int64
	}{{4 << 10, 1}, {4<<10 + 1, 2}} {
		nb := newRawFaaS(t, func(_, _ int, c net.Conn, _ *http.Request, _ []byte) bool {
			io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nDfaas-Rejected: unknown-node\r\nContent-Length: "+itoa(tt.size)+"\r\n\r\n"+strings.Repeat("r", tt.size))
			return true
		})
		faas := newSummer(t)
		_, url := forwarder(t, Config{}, faas.srv.URL, nb.url, "", true)
		for i := range 2 {
			if status, _ := postSized(t, url+"/function/fn", 1); status != 200 {
				t.Fatalf("%d bytes, request %d: status %d, want 200 from the local FaaS", tt.size, i, status)
			}
		}
		if n := nb.conns.Load(); n != tt.conns || nb.reqs.Load() != 2 {
			t.Errorf("refusals of %d bytes: %d connections for %d requests, want %d", tt.size, n, nb.reqs.Load(), tt.conns)
		}
	}
}

// TestLongRefusalConnectionNotReused: the connection of a refusal whose
// body is longer than 4 KiB (not read) is closed, even when the body is
// not in yet when the request is sent elsewhere: it is never reused for
// another request, whose answer would be read from the refusal's body.
func TestLongRefusalConnectionNotReused(t *testing.T) {
	local := make(chan struct{}, 2)
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		local <- struct{}{}
	}))
	defer faas.Close()
	const size = 4<<10 + 1
	nb := newRawFaaS(t, func(_, n int, c net.Conn, _ *http.Request, _ []byte) bool {
		if n > 1 {
			return okAnswer(0, n, c, nil, nil)
		}
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nDfaas-Rejected: unknown-node\r\nContent-Length: "+itoa(size)+"\r\n\r\n")
		select { // the body comes once the request was sent elsewhere
		case <-local:
		case <-time.After(5 * time.Second): // bounds the wait if it never is
		}
		io.WriteString(c, strings.Repeat("r", size))
		return true
	})
	_, url := forwarder(t, Config{}, faas.URL, nb.url, "", true)
	for i := range 2 {
		if status, _ := postSized(t, url+"/function/fn", 1); status != 200 {
			t.Fatalf("request %d: status %d, want 200 from the local FaaS", i, status)
		}
	}
	if n := nb.conns.Load(); n != 2 {
		t.Fatalf("%d connections for 2 refused requests, want 2", n)
	}
}
