package goproxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// forwardBodies are request bodies that take each forwarding path: none
// and a small one (the fast client), one above smallBody within the
// default retry buffer and one beyond it (http.Transport, streamed).
var forwardBodies = []int{0, 100, smallBody + 1, DefaultRetryBuffer + 1}

// postSized sends a POST of size bytes (no body if 0) to url and returns
// the answer's status and headers.
func postSized(t *testing.T, url string, size int) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(strings.Repeat("z", size)))
	if size == 0 {
		req.Body, req.ContentLength = nil, 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%d bytes: %v", size, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestForwardedRequestHeaders: whichever path a forwarded request takes,
// the neighbour receives this node's ID and the credential it expects,
// X-Forwarded-For with the client's address, and the whole body.
func TestForwardedRequestHeaders(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	var gotBody int64
	nb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		mu.Lock()
		got, gotBody = r.Header.Clone(), n
		mu.Unlock()
	}))
	defer nb.Close()
	_, url := forwarder(t, Config{}, "http://127.0.0.1:1", nb.URL, "", false)
	for _, size := range forwardBodies {
		if status, _ := postSized(t, url+"/function/fn", size); status != 200 {
			t.Fatalf("%d bytes: status %d", size, status)
		}
		mu.Lock()
		h, n := got, gotBody
		mu.Unlock()
		if n != int64(size) || h.Get(proxyctl.HeaderNodeID) != "a" || h.Get(proxyctl.HeaderNodeToken) != tokAB ||
			h.Get("X-Forwarded-For") != "127.0.0.1" {
			t.Errorf("%d bytes: the neighbour got %d bytes, headers %v", size, n, h)
		}
	}
}

// TestForwardedAnswerCountedAnyPath: the answers of a neighbour to a
// streamed body are counted as those to a small one (see
// TestForwardedAnswerCounted): rejected, failed or succeeded.
func TestForwardedAnswerCountedAnyPath(t *testing.T) {
	for _, tt := range []struct {
		status           int
		rejected         string
		wantRej, wantErr uint64
	}{
		{429, "admission", 1, 0},
		{429, "", 0, 1},
		{502, "", 0, 1},
		{200, "", 0, 0},
	} {
		for _, size := range forwardBodies {
			nb := newPeer(t, tt.status, tt.rejected, true)
			p, url := forwarder(t, Config{}, "http://127.0.0.1:1", nb.srv.URL, "", false)
			status, h := postSized(t, url+"/function/fn", size)
			if status != tt.status || h.Get(proxyctl.HeaderForwardedTo) != "b" {
				t.Errorf("%d %q, %d bytes: answer %d forwarded to %q", tt.status, tt.rejected, size, status, h.Get(proxyctl.HeaderForwardedTo))
			}
			tot, _ := p.Counters().Totals(context.Background())
			f := tot.Functions[0]
			ok := uint64(0)
			if tt.wantRej+tt.wantErr == 0 {
				ok = 1
			}
			if f.Rejected != tt.wantRej || f.Failed != tt.wantErr || f.Forwarded != 1 || len(f.Neighbours) != 1 ||
				f.Neighbours[0].Succeeded != ok || f.Neighbours[0].Failed != 1-ok {
				t.Errorf("%d %q, %d bytes: counters %+v", tt.status, tt.rejected, size, f)
			}
		}
	}
}

// TestOtherRefusalsRelayed: only a neighbour's 403 unknown-node sends a
// request elsewhere; its other refusals (429 admission, 403 for another
// reason, a function's own 403, unknown-node with another status) are
// relayed, even though the function runs here too.
func TestOtherRefusalsRelayed(t *testing.T) {
	for _, tt := range []struct {
		status   int
		rejected string
	}{
		{429, "admission"},
		{403, "not-forwarding"},
		{403, ""},
		{429, "unknown-node"}, // only a 403 says unknown-node
	} {
		for _, size := range forwardBodies {
			faas := newSummer(t)
			nb := newPeer(t, tt.status, tt.rejected, true)
			p, url := forwarder(t, Config{}, faas.srv.URL, nb.srv.URL, "", true)
			status, h := postSized(t, url+"/function/fn", size)
			if status != tt.status || h.Get(proxyctl.HeaderForwardedTo) != "b" || faas.hits.Load() != 0 ||
				p.retries[retryUnknownNode].Load() != 0 {
				t.Errorf("%d %q, %d bytes: answer %d forwarded to %q, %d local, %d retries", tt.status, tt.rejected, size,
					status, h.Get(proxyctl.HeaderForwardedTo), faas.hits.Load(), p.retries[retryUnknownNode].Load())
			}
		}
	}
}

// TestForwardAnyPathLost: TestForwardedRequestLost and TestForwardLogs on
// every path: a dropped or unreachable forward is a 502, counted and
// logged; a refused one sent elsewhere is logged.
func TestForwardAnyPathLost(t *testing.T) {
	dropping := newRawFaaS(t, func(c, n int, conn net.Conn, req *http.Request, body []byte) bool { return false })
	for _, size := range forwardBodies {
		for _, nbURL := range []string{dropping.url, closedPeer(t).srv.URL} {
			logs := &logRecorder{}
			p, url := forwarder(t, Config{Logger: slog.New(logs)}, "http://127.0.0.1:1", nbURL, "", false)
			if status, _ := postSized(t, url+"/function/fn", size); status != http.StatusBadGateway {
				t.Errorf("%d bytes to %s: status %d, want 502", size, nbURL, status)
			}
			tot, _ := p.Counters().Totals(context.Background())
			if f := tot.Functions[0]; f.Failed != 1 || f.Forwarded != 1 {
				t.Errorf("%d bytes to %s: counters %+v", size, nbURL, f)
			}
			logs.has(t, "forwarded request failed", "function=fn", "neighbour=b", "err=")
		}
		logs := &logRecorder{}
		faas := newSummer(t)
		_, url := forwarder(t, Config{Logger: slog.New(logs)}, faas.srv.URL, newPeer(t, 403, "unknown-node", false).srv.URL, "", true)
		if status, _ := postSized(t, url+"/function/fn", size); status != 200 {
			t.Errorf("%d bytes, refused: status %d, want 200 from the local FaaS", size, status)
		}
		logs.has(t, "forwarded request sent elsewhere", "function=fn", "neighbour=b", "reason=unknown-node", "local=true")
	}
}

// TestReplayBoundedByRetryBuffer: the replay of a body declared larger
// than the retry buffer allocates no more than the buffer, whatever the
// declared length (a client's Content-Length is not trusted).
func TestReplayBoundedByRetryBuffer(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rp := newReplay(strings.NewReader("x"), 256<<20, 100, nil)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("a replay declared 256 MiB with a 100-byte buffer allocated %d bytes", n)
	}
	if !rp.large() {
		t.Fatal("a body declared beyond the retry buffer is not large")
	}
}

// TestStreamedExpectAtRetryBuffer: a streamed body (above smallBody) that
// fills the retry buffer exactly is sent without Expect: 100-continue (a
// refusal can be replayed from the buffer); one byte more is sent with it.
func TestStreamedExpectAtRetryBuffer(t *testing.T) {
	const retryBuf = smallBody + 100
	expect := make(chan string, 1)
	nb := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
		expect <- req.Header.Get("Expect")
		return okAnswer(conn, n, c, req, body)
	})
	_, url := forwarder(t, Config{RetryBuffer: retryBuf}, "http://127.0.0.1:1", nb.url, "", false)
	for _, tt := range []struct {
		size int
		want string
	}{{retryBuf, ""}, {retryBuf + 1, "100-continue"}} {
		if status, _ := postSized(t, url+"/function/fn", tt.size); status != 200 {
			t.Fatalf("%d bytes: status %d", tt.size, status)
		}
		if got := <-expect; got != tt.want {
			t.Errorf("%d bytes, buffer %d: the neighbour saw Expect %q, want %q", tt.size, retryBuf, got, tt.want)
		}
	}
}

// TestCustomTransportForwardsWithoutBody: with Config.Transport (no fast
// clients), a forwarded request without a body goes through it, without
// Expect: 100-continue.
func TestCustomTransportForwardsWithoutBody(t *testing.T) {
	expect := make(chan []string, 1)
	nb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		expect <- r.Header.Values("Expect")
	}))
	defer nb.Close()
	tr := &countingTransport{rt: &http.Transport{}}
	defer tr.rt.(*http.Transport).CloseIdleConnections()
	_, url := forwarder(t, Config{Transport: tr}, "http://127.0.0.1:1", nb.URL, "", false)
	for i, method := range []string{"GET", "POST"} {
		if status := sendAs(t, method, url+"/function/fn", nil, 0, ""); status != 200 {
			t.Fatalf("%s: status %d", method, status)
		}
		if got := <-expect; len(got) > 0 || tr.n.Load() != int64(i+1) {
			t.Errorf("%s: the neighbour saw Expect %q; %d requests through the transport", method, got, tr.n.Load())
		}
	}
}

// TestRefusedStreamedForwardKeepsConnection: TestRefusedForwardKeepsConnection
// for a streamed body (above smallBody, within the retry buffer): the
// refusal is read and closed, and the connection to the neighbour reused.
//
// http.Transport reuses a connection only once its writer has reported
// the request written, and waits for that at most 50 ms; on a loaded
// machine (CI runs packages in parallel) the report comes later now and
// then and the next request opens another connection: 4 connections for
// 10 requests were seen. So the test asks only that some requests reuse a
// connection: a refusal not read to its end, or not closed, makes every
// request open one, whatever the load.
func TestRefusedStreamedForwardKeepsConnection(t *testing.T) {
	nb, conns := refusingNeighbour(t)
	faas := newSummer(t)
	_, url := forwarder(t, Config{}, faas.srv.URL, nb.URL, "", true)
	const requests = 20
	for i := range requests {
		if status, _ := postSized(t, url+"/function/fn", smallBody+1); status != 200 {
			t.Fatalf("request %d: status %d, want 200 from the local FaaS", i, status)
		}
	}
	if n := faas.hits.Load(); n != requests {
		t.Fatalf("the local FaaS served %d, want %d", n, requests)
	}
	if n := conns.Load(); n >= requests {
		t.Fatalf("%d connections to the refusing neighbour for %d requests, want some requests on reused ones", n, requests)
	}
}

// TestForwardConnectionCloseHonoured: a neighbour's answer with
// Connection: close is the last on its connection, even if the neighbour
// leaves it open: the next forwarded request opens a new one.
func TestForwardConnectionCloseHonoured(t *testing.T) {
	nb := newRawFaaS(t, func(_, _ int, c net.Conn, _ *http.Request, _ []byte) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		return true // left open
	})
	_, url := forwarder(t, Config{}, "http://127.0.0.1:1", nb.url, "", false)
	for _, size := range forwardBodies {
		if status, _ := postSized(t, url+"/function/fn", size); status != 200 {
			t.Fatalf("%d bytes: status %d", size, status)
		}
	}
	if n := nb.conns.Load(); n != int64(len(forwardBodies)) {
		t.Fatalf("%d connections for %d answers with Connection: close", n, len(forwardBodies))
	}
}

// TestSmallBodyBoundaryReplayed: a body of exactly smallBody bytes is
// still a small one (read whole before forwarding): it is sent elsewhere
// after a neighbour read it and refused it, even with a smaller retry
// buffer.
func TestSmallBodyBoundaryReplayed(t *testing.T) {
	faas := newSummer(t)
	refusing := newPeer(t, 403, "unknown-node", true)
	_, url := forwarder(t, Config{RetryBuffer: 100}, faas.srv.URL, refusing.srv.URL, "", true)
	if status, _ := postSized(t, url+"/function/fn", smallBody); status != 200 || faas.hits.Load() != 1 || refusing.hits.Load() != 1 {
		t.Fatalf("status %d; %d local, %d refused: want 200 from the local FaaS after one refusal", status, faas.hits.Load(), refusing.hits.Load())
	}
}

// TestUnknownClientAddressXFF: when the client's address is unknown (a
// RemoteAddr that is not host:port, as over a Unix socket), the request's
// own X-Forwarded-For goes on unchanged, with nothing appended.
func TestUnknownClientAddressXFF(t *testing.T) {
	xff := make(chan []string, 1)
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		xff <- r.Header.Values("X-Forwarded-For")
	}))
	defer faas.Close()
	p, _ := appliedProxy(t, Config{FaaSURL: faas.URL}, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}}})
	for _, size := range []int{0, 100, smallBody + 1} {
		r := httptest.NewRequest("POST", "/function/fn", strings.NewReader(strings.Repeat("u", size)))
		r.RemoteAddr = "@"
		r.Header.Set("X-Forwarded-For", "192.0.2.9")
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Errorf("%d bytes: status %d", size, w.Code)
			continue
		}
		if got := <-xff; len(got) != 1 || got[0] != "192.0.2.9" {
			t.Errorf("%d bytes: the function saw X-Forwarded-For %q, want the client's own", size, got)
		}
	}
}
