package goproxy

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestFastPathConnectionReuse: after an answer relayed in full, parsed in
// place (with a Content-Length) or by the general path (chunked), the
// connection to the FaaS serves the next request; after an answer that
// closes its connection (Connection: close, or HTTP/1.0) the next
// request, one that cannot be sent twice, goes on a new connection
// instead of failing on the closed one, and the proxy closes the old one.
func TestFastPathConnectionReuse(t *testing.T) {
	const (
		length  = "Content-Length: 2\r\n\r\nok"
		chunked = "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
	)
	for name, tt := range map[string]struct {
		answer string
		keep   bool
	}{
		"length":                     {"HTTP/1.1 200 OK\r\n" + length, true},
		"chunked":                    {"HTTP/1.1 200 OK\r\n" + chunked, true},
		"length, Connection: close":  {"HTTP/1.1 200 OK\r\nConnection: close\r\n" + length, false},
		"chunked, Connection: close": {"HTTP/1.1 200 OK\r\nConnection: close\r\n" + chunked, false},
		"HTTP/1.0":                   {"HTTP/1.0 200 OK\r\n" + length, false},
	} {
		t.Run(name, func(t *testing.T) {
			faas := newRawFaaS(t, func(_, _ int, c net.Conn, _ *http.Request, _ []byte) bool {
				io.WriteString(c, tt.answer)
				return true // the proxy closes the connection when the answer says so
			})
			_, url := localProxyAt(t, faas.url, 0)
			for i := range 3 {
				if resp, got := doReq(t, "POST", url+"/function/fn", "x"); resp.StatusCode != 200 || got != "ok" {
					t.Fatalf("request %d: status %d %q", i, resp.StatusCode, got)
				}
			}
			want := map[bool]int64{true: 1, false: 3}[tt.keep]
			if n := faas.conns.Load(); n != want {
				t.Fatalf("%d connections for 3 requests, want %d", n, want)
			}
			for deadline := time.Now().Add(5 * time.Second); faas.closed.Load() < want-1; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d connections closed by the proxy, want %d", faas.closed.Load(), want, want-1)
				}
			}
		})
	}
}

// TestMalformedAnswerClosesConnection: an answer the proxy cannot parse
// gives 502, is counted failed and logged, and its connection is closed
// (not returned to the pool, not left open).
func TestMalformedAnswerClosesConnection(t *testing.T) {
	faas := newRawFaaS(t, func(_, _ int, c net.Conn, _ *http.Request, _ []byte) bool {
		io.WriteString(c, "HTTP/1.1 2x0 Broken\r\n\r\n")
		return true // the proxy must close it
	})
	logs := &logRecorder{}
	p, err := New(Config{FaaSURL: faas.url, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := serveOn(t, p.Serve)
	if resp, _ := doReq(t, "POST", "http://"+srv+"/function/fn", "x"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	for deadline := time.Now().Add(5 * time.Second); faas.closed.Load() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection with the malformed answer was left open")
		}
	}
	tot, _ := p.Counters().Totals(t.Context())
	if tot.Other.Failed != 1 {
		t.Fatalf("%d failed, want 1", tot.Other.Failed)
	}
	logs.has(t, "local FaaS request failed", "function=fn", "err=")
}

// TestFastPathSlowLargeAnswer: an answer parsed in place whose body is
// larger than the client's buffer and comes in pieces, the last one after
// a pause longer than the proxy's poll of a waiting request, is relayed
// whole: the wait for the body is bounded by the function's time-out only.
func TestFastPathSlowLargeAnswer(t *testing.T) {
	body := make([]byte, 100000)
	for i := range body {
		body[i] = byte('a' + i%23)
	}
	faas := newRawFaaS(t, func(_, _ int, c net.Conn, _ *http.Request, _ []byte) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
		c.Write(body[:30000])
		c.Write(body[30000:60000])
		time.Sleep(pollInterval + 150*time.Millisecond) // the function still computing
		c.Write(body[60000:])
		return true
	})
	_, url := localProxyAt(t, faas.url, 0)
	for i := range 2 {
		resp, got := doReq(t, "GET", url+"/function/fn", "")
		if resp.StatusCode != 200 || got != string(body) {
			t.Fatalf("request %d: status %d, %d bytes, want the %d bytes sent", i, resp.StatusCode, len(got), len(body))
		}
	}
	if n := faas.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}
