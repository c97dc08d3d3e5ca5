package goproxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawFaaS is a FaaS on loopback that speaks HTTP/1.1 by hand, so that a
// test controls every byte of its answers and when its connections close.
// answer is called for each request, with the connection's sequence
// number (from 1), the request's number on that connection (from 1), the
// request and its body (read after a 100 Continue when the request
// expects one); it writes whatever it likes on c and reports whether to
// keep the connection open for another request.
type rawFaaS struct {
	url    string
	conns  atomic.Int64 // connections accepted
	closed atomic.Int64 // connections ended (closed by either side)
	reqs   atomic.Int64 // requests read

	mu  sync.Mutex
	raw []byte // the bytes of the last request read
}

// lastRaw returns the bytes of the last request the FaaS read.
func (f *rawFaaS) lastRaw() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.raw)
}

// teeReader appends what it reads to buf.
type teeReader struct {
	r   io.Reader
	buf *[]byte
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	*t.buf = append(*t.buf, p[:n]...)
	return n, err
}

type rawAnswer func(conn, n int, c net.Conn, req *http.Request, body []byte) (keep bool)

// serveConns serves each connection accepted on a loopback port with
// serve (in a goroutine of its own, closing the connection after it)
// until the test ends, then closes the connections still open; it returns
// the port's address.
func serveConns(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					c.Close()
				}()
				serve(c)
			})
		}
	})
	return ln.Addr().String()
}

func newRawFaaS(t *testing.T, answer rawAnswer) *rawFaaS {
	t.Helper()
	f := &rawFaaS{}
	f.url = "http://" + serveConns(t, func(c net.Conn) {
		conn := int(f.conns.Add(1))
		defer f.closed.Add(1)
		var raw []byte
		br := bufio.NewReader(teeReader{c, &raw})
		for n := 1; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.Header.Get("Expect") == "100-continue" {
				io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			f.reqs.Add(1)
			f.mu.Lock()
			f.raw = append(f.raw[:0], raw[:len(raw)-br.Buffered()]...)
			f.mu.Unlock()
			raw = append(raw[:0], raw[len(raw)-br.Buffered():]...)
			if !answer(conn, n, c, req, body) {
				return
			}
		}
	})
	return f
}

// okAnswer answers 200 with the request's body, keeping the connection.
func okAnswer(_, _ int, c net.Conn, _ *http.Request, body []byte) bool {
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+string(body))
	return true
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestIdleConnectionReused: a keep-alive connection to the FaaS that stayed
// idle long enough to be checked (see checkIdle), and is still open, is
// reused rather than replaced by a new one.
func TestIdleConnectionReused(t *testing.T) {
	faas := newRawFaaS(t, okAnswer)
	_, url := localProxyAt(t, faas.url, 0)
	for i, body := range []string{"first", "second", "third"} {
		if i > 0 {
			time.Sleep(2 * checkIdle) // the connection idles long enough to be checked
		}
		resp, got := doReq(t, "POST", url+"/function/fn", body)
		if resp.StatusCode != 200 || got != body {
			t.Fatalf("request %d: status %d, answer %q", i, resp.StatusCode, got)
		}
	}
	if n := faas.conns.Load(); n != 1 {
		t.Fatalf("the FaaS saw %d connections for 3 sequential requests, want 1 (kept alive)", n)
	}
}

// TestIdleConnectionWithUnaskedBytesDropped: bytes the FaaS sends on an idle
// connection (an answer nobody asked for) never reach a client: the
// connection is not reused, and the next request gets its own answer.
func TestIdleConnectionWithUnaskedBytesDropped(t *testing.T) {
	stale := make(chan struct{})
	written := make(chan struct{})
	faas := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
		okAnswer(conn, n, c, req, body)
		if conn == 1 && n == 1 {
			<-stale
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
			close(written)
		}
		return true
	})
	_, url := localProxyAt(t, faas.url, 0)
	if resp, got := doReq(t, "POST", url+"/function/fn", "one"); resp.StatusCode != 200 || got != "one" {
		t.Fatalf("status %d, answer %q", resp.StatusCode, got)
	}
	close(stale)
	<-written
	time.Sleep(2 * checkIdle) // the connection idles long enough to be checked
	for i, body := range []string{"two", "three"} {
		if resp, got := doReq(t, "POST", url+"/function/fn", body); resp.StatusCode != 200 || got != body {
			t.Fatalf("request %d: status %d, answer %q, want %q", i, resp.StatusCode, got, body)
		}
	}
	if n := faas.conns.Load(); n != 2 {
		t.Fatalf("the FaaS saw %d connections, want 2 (the poisoned one replaced once)", n)
	}
	// The proxy closed the poisoned connection rather than leaving it open.
	for deadline := time.Now().Add(5 * time.Second); faas.closed.Load() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection with unasked bytes was left open")
		}
	}
}

// TestAnswerBeyondLengthNotReused: bytes after the end of an answer (beyond
// its Content-Length) never reach the next client on the same connection.
func TestAnswerBeyondLengthNotReused(t *testing.T) {
	faas := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
		extra := ""
		if conn == 1 {
			extra = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+string(body)+extra)
		return true
	})
	_, url := localProxyAt(t, faas.url, 0)
	for i, body := range []string{"one", "two", "three"} {
		if resp, got := doReq(t, "POST", url+"/function/fn", body); resp.StatusCode != 200 || got != body {
			t.Fatalf("request %d: status %d, answer %q, want %q", i, resp.StatusCode, got, body)
		}
	}
	if n := faas.conns.Load(); n != 2 {
		t.Fatalf("the FaaS saw %d connections, want 2 (the first dropped, the second kept)", n)
	}
}

// TestReusedConnectionClosedMidRequest: the FaaS closes a kept-alive
// connection after reading a request on it, without answering (as a FaaS
// closing idle connections may race a new request). An idempotent request
// is then sent once more on a new connection; a POST, which the FaaS may
// have processed, is not: the client gets 502 and the FaaS saw it once.
func TestReusedConnectionClosedMidRequest(t *testing.T) {
	for _, tt := range []struct {
		method string
		size   int // of the second request's body
		status int
		reqs   int64 // requests the FaaS read
	}{
		{"GET", 1, 200, 3},
		{"PUT", 1, 200, 3},
		{"PUT", smallBody, 200, 3},
		{"DELETE", 1, 200, 3},
		{"POST", 1, 502, 2},
		{"PATCH", 1, 502, 2},
	} {
		t.Run(tt.method+" "+strconv.Itoa(tt.size), func(t *testing.T) {
			faas := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
				if conn == 1 && n == 2 {
					return false // read, not answered, closed
				}
				return okAnswer(conn, n, c, req, body)
			})
			_, url := localProxyAt(t, faas.url, 0)
			if resp, _ := doReq(t, tt.method, url+"/function/fn", "x"); resp.StatusCode != 200 {
				t.Fatalf("first request: status %d", resp.StatusCode)
			}
			body := strings.Repeat("y", tt.size)
			resp, got := doReq(t, tt.method, url+"/function/fn", body)
			if resp.StatusCode != tt.status || tt.status == 200 && got != body {
				t.Fatalf("second request: status %d (%q), want %d", resp.StatusCode, got, tt.status)
			}
			if n := faas.reqs.Load(); n != tt.reqs {
				t.Fatalf("the FaaS read %d requests, want %d", n, tt.reqs)
			}
		})
	}
}

// TestReusedConnectionReset: as TestReusedConnectionClosedMidRequest, with
// the FaaS resetting the connection (TCP RST) instead of closing it: a GET
// is sent once more on a new connection at once, a POST gets 502 at once
// (not after the function's time-out).
func TestReusedConnectionReset(t *testing.T) {
	for _, tt := range []struct {
		method string
		status int
	}{
		{"GET", 200},
		{"POST", 502},
	} {
		t.Run(tt.method, func(t *testing.T) {
			faas := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
				if conn == 1 && n == 2 {
					c.(*net.TCPConn).SetLinger(0) // Close sends RST
					return false
				}
				return okAnswer(conn, n, c, req, body)
			})
			_, url := localProxyAt(t, faas.url, time.Minute)
			if resp, _ := doReq(t, tt.method, url+"/function/fn", "x"); resp.StatusCode != 200 {
				t.Fatalf("first request: status %d", resp.StatusCode)
			}
			start := time.Now()
			resp, _ := doReq(t, tt.method, url+"/function/fn", "y")
			if resp.StatusCode != tt.status {
				t.Fatalf("second request: status %d, want %d", resp.StatusCode, tt.status)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("answered after %v: the reset was not noticed", d)
			}
		})
	}
}

// TestFailedRequestNotRepeated: a request that fails on a new connection
// (the FaaS took it and closed without answering), or that times out on a
// reused one, is not sent again, even when idempotent: the FaaS may be
// running it.
func TestFailedRequestNotRepeated(t *testing.T) {
	t.Run("new connection", func(t *testing.T) {
		faas := newRawFaaS(t, func(int, int, net.Conn, *http.Request, []byte) bool { return false })
		_, url := localProxyAt(t, faas.url, 0)
		if resp, _ := doReq(t, "GET", url+"/function/fn", ""); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
		if n := faas.reqs.Load(); n != 1 {
			t.Fatalf("the FaaS read the request %d times, want 1", n)
		}
	})
	t.Run("time-out on a reused connection", func(t *testing.T) {
		hang := make(chan struct{})
		defer close(hang)
		faas := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
			if n == 1 {
				return okAnswer(conn, n, c, req, body)
			}
			<-hang // never answers in time
			return false
		})
		_, url := localProxyAt(t, faas.url, 300*time.Millisecond)
		if resp, _ := doReq(t, "GET", url+"/function/fn", ""); resp.StatusCode != 200 {
			t.Fatalf("first request: status %d", resp.StatusCode)
		}
		if resp, _ := doReq(t, "GET", url+"/function/fn", ""); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("second request: status %d, want 502 after the function's time-out", resp.StatusCode)
		}
		if n := faas.reqs.Load(); n != 2 {
			t.Fatalf("the FaaS read %d requests, want 2", n)
		}
	})
}

// TestResetIdleConnectionNotFatal: the FaaS resets a kept-alive
// connection right after answering; the next request, even a POST, is
// served: either the proxy finds the connection dead before using it, or
// writing on it fails, and a request that could not be written is sent on
// a new connection.
func TestResetIdleConnectionNotFatal(t *testing.T) {
	// The next request is sent once the reset was sent: a reset that
	// arrives after a request was written is a failure the proxy must not
	// hide by sending a POST twice (TestFailedRequestNotRepeated).
	reset := make(chan struct{}, 3)
	faas := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
		okAnswer(conn, n, c, req, body)
		c.(*net.TCPConn).SetLinger(0) // Close sends RST
		c.Close()
		reset <- struct{}{}
		return false
	})
	_, url := localProxyAt(t, faas.url, 0)
	for i, body := range []string{"one", "two", "three"} {
		if resp, got := doReq(t, "POST", url+"/function/fn", body); resp.StatusCode != 200 || got != body {
			t.Fatalf("request %d: status %d %q", i, resp.StatusCode, got)
		}
		select {
		case <-reset:
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d: the FaaS did not reset its connection", i)
		}
	}
	if n := faas.reqs.Load(); n != 3 {
		t.Fatalf("the FaaS read %d requests, want 3", n)
	}
}

// lateWriter is a connection whose writes start late, as when the
// goroutine writing is descheduled for a while on a starved machine.
type lateWriter struct {
	net.Conn
	delay time.Duration
}

func (l lateWriter) Write(p []byte) (int, error) {
	time.Sleep(l.delay)
	return l.Conn.Write(p)
}

// TestLateWriteWithinTheRequestDeadline: a request written after the
// poll interval (its goroutine descheduled, say) but within its own
// deadline is sent and answered: only the wait for the answer is cut in
// polls.
func TestLateWriteWithinTheRequestDeadline(t *testing.T) {
	faas := newRawFaaS(t, okAnswer)
	u := newUpstream(&url.URL{Scheme: "http", Host: strings.TrimPrefix(faas.url, "http://")}, 1, 1<<20)
	ctx := context.Background()
	c, err := u.dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	c.conn = lateWriter{Conn: c.conn, delay: pollInterval + 100*time.Millisecond}
	c.bw = bufio.NewWriterSize(c.conn, 4<<10)
	req := httptest.NewRequest(http.MethodPost, "/function/fn", nil)
	sent, err := u.exchange(ctx, c, req, extraHeaders{}, []byte("x"), time.Now().Add(10*time.Second))
	if err != nil || !sent {
		t.Fatalf("a request written %v late: sent %v, %v; want it answered", pollInterval+100*time.Millisecond, sent, err)
	}
	if resp, err := u.readResponse(c, req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %v, %v; want 200", resp, err)
	}
}
