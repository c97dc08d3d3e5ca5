package goproxy

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// forwarder is a proxy for node a, with cfg (FaaSURL filled in), whose
// decision forwards fn to neighbour b at bURL and, with a zero share, d at
// dURL ("" for none); deployed: fn also runs locally.
func forwarder(t *testing.T, cfg Config, faasURL, bURL, dURL string, deployed bool) (*Proxy, string) {
	t.Helper()
	cfg.FaaSURL = faasURL
	st := proxyctl.State{Self: "a"}
	if deployed {
		st.Functions = []proxyctl.Function{{Name: "fn"}}
	}
	route := strategy.Route{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}
	st.Neighbours = []proxyctl.Neighbour{{ID: "b", URL: bURL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}}
	if dURL != "" {
		st.Neighbours = append(st.Neighbours, proxyctl.Neighbour{ID: "d", URL: dURL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true})
		route.Forward = append(route.Forward, strategy.Share{Node: "d", Share: 0})
	}
	st.Decision.Routes = []strategy.Route{route}
	return appliedProxy(t, cfg, st)
}

// TestForwardExpectContinue: a forwarded body that may not fit in the
// retry buffer (larger than it, or of unknown length) is sent with
// Expect: 100-continue, so that a refusal comes before the body; one that
// fits, and a request without a body, are not. The neighbour receives the
// exact body either way.
func TestForwardExpectContinue(t *testing.T) {
	const retryBuf = 100
	type seen struct {
		expect string
		sum    [32]byte
	}
	got := make(chan seen, 1)
	nb := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
		got <- seen{req.Header.Get("Expect"), sha256.Sum256(body)}
		return okAnswer(conn, n, c, req, body)
	})
	_, url := forwarder(t, Config{RetryBuffer: retryBuf}, "http://127.0.0.1:1", nb.url, "", false)
	for _, tt := range []struct {
		name   string
		method string
		body   string
		length int64 // -1: unknown (chunked)
		expect bool
	}{
		{"no body", "GET", "", 0, false},
		{"body filling the buffer", "POST", strings.Repeat("f", retryBuf), retryBuf, false},
		{"body one byte over", "POST", strings.Repeat("o", retryBuf+1), retryBuf + 1, true},
		{"body of unknown length", "POST", "chunked", -1, true},
		{"large body", "POST", strings.Repeat("L", smallBody+1), smallBody + 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.length < 0 {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, _ := http.NewRequest(tt.method, url+"/function/fn", body)
			req.ContentLength = tt.length
			if tt.length == 0 {
				req.Body = nil
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			s := <-got
			if resp.StatusCode != 200 || string(answer) != tt.body || s.sum != sha256.Sum256([]byte(tt.body)) {
				t.Fatalf("status %d, %d bytes back; the neighbour got a different body: %v", resp.StatusCode, len(answer), s.sum != sha256.Sum256([]byte(tt.body)))
			}
			if (s.expect == "100-continue") != tt.expect {
				t.Fatalf("the neighbour saw Expect %q, want 100-continue: %v", s.expect, tt.expect)
			}
		})
	}
}

// TestReplayAtRetryBuffer: a neighbour that reads a streamed body and then
// refuses it as unknown-node gets it sent on (locally, with the exact
// body) only if the body fit in the retry buffer; one byte more and the
// request is answered 503 (no node could take it; the refusal of this node
// is not the user's).
func TestReplayAtRetryBuffer(t *testing.T) {
	const retryBuf = smallBody + 100 // above smallBody: the body is streamed
	for _, tt := range []struct {
		size   int
		status int
	}{
		{retryBuf, 200},
		{retryBuf + 1, 503},
	} {
		faas := newSummer(t)
		refusing := newPeer(t, 403, "unknown-node", true)
		p, url := forwarder(t, Config{RetryBuffer: retryBuf}, faas.srv.URL, refusing.srv.URL, "", true)
		body := strings.Repeat("r", tt.size-1) + "!"
		resp, err := http.Post(url+"/function/fn", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Fatalf("%d bytes, buffer %d: status %d, want %d", tt.size, retryBuf, resp.StatusCode, tt.status)
		}
		if refusing.sum.Load() != sha256.Sum256([]byte(body)) {
			t.Fatalf("%d bytes: the neighbour did not read the body", tt.size)
		}
		wantRetries := uint64(0)
		if tt.status == 200 {
			wantRetries = 1
			if faas.sum.Load() != sha256.Sum256([]byte(body)) {
				t.Fatalf("%d bytes: the local FaaS got a different body", tt.size)
			}
		}
		if n := p.retries[retryUnknownNode].Load(); n != wantRetries {
			t.Fatalf("%d bytes: %d retries, want %d", tt.size, n, wantRetries)
		}
	}
}

// TestRefusedForwardKeepsConnection: the refusal of a neighbour whose
// request is then served elsewhere is read and closed, so the connection to
// the neighbour is reused for the next request instead of leaking.
func TestRefusedForwardKeepsConnection(t *testing.T) {
	nb, conns := refusingNeighbour(t)
	faas := newSummer(t)
	_, url := forwarder(t, Config{}, faas.srv.URL, nb.URL, "", true)
	for i := range 3 {
		resp, err := http.Post(url+"/function/fn", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d, want 200 from the local FaaS", i, resp.StatusCode)
		}
	}
	if n := faas.hits.Load(); n != 3 {
		t.Fatalf("the local FaaS served %d, want 3", n)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections to the refusing neighbour for 3 requests, want 1", n)
	}
}

// TestForwardedRequestLost: a neighbour that takes a request and closes the
// connection without answering gets 502 to the client, and is counted as
// a failed answer (it took the request); an unreachable neighbour is
// counted as forwarded to but answered nothing.
func TestForwardedRequestLost(t *testing.T) {
	dropping := newRawFaaS(t, func(int, int, net.Conn, *http.Request, []byte) bool { return false })
	down := closedPeer(t)
	for _, tt := range []struct {
		name   string
		url    string
		failed uint64
	}{
		{"dropped", dropping.url, 1},
		{"unreachable", down.srv.URL, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, url := forwarder(t, Config{}, "http://127.0.0.1:1", tt.url, "", false)
			resp, err := http.Post(url+"/function/fn", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d, want 502", resp.StatusCode)
			}
			tot, _ := p.Counters().Totals(context.Background())
			f := tot.Functions[0]
			if f.Failed != 1 || len(f.Neighbours) != 1 {
				t.Fatalf("counters %+v", f)
			}
			if nb := f.Neighbours[0]; nb.Forwarded != 1 || nb.Succeeded != 0 || nb.Failed != tt.failed {
				t.Fatalf("neighbour counters %+v, want 1 forwarded, %d failed", nb, tt.failed)
			}
		})
	}
}

// logRecorder is a slog.Handler that keeps the records' messages with
// their attributes.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.Key + "=" + a.Value.String()
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, s)
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) has(t *testing.T, parts ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(r, p)
		}
		if all {
			return
		}
	}
	t.Errorf("no log record with %q in %q", parts, l.recs)
}

// TestForwardLogs: a forwarded request sent elsewhere, and one that
// failed, are logged at debug level with the function, the neighbour and
// the reason, for an operator tracing a node's retries.
func TestForwardLogs(t *testing.T) {
	logs := &logRecorder{}
	faas := newSummer(t)
	_, url := forwarder(t, Config{Logger: slog.New(logs)}, faas.srv.URL, newPeer(t, 403, "unknown-node", false).srv.URL, "", true)
	_, url2 := forwarder(t, Config{Logger: slog.New(logs)}, faas.srv.URL, closedPeer(t).srv.URL, "", false)
	for _, u := range []string{url, url2} {
		resp, err := http.Post(u+"/function/fn", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	logs.has(t, "forwarded request sent elsewhere", "function=fn", "neighbour=b", "reason=unknown-node", "local=true")
	logs.has(t, "forwarded request failed", "function=fn", "neighbour=b", "err=")
}

// TestSmallBodyReplayedBeyondRetryBuffer: a small body (read whole before
// forwarding, see smallBody) stays replayable even when larger than the
// retry buffer: the local FaaS gets it after the neighbour read it and
// refused it.
func TestSmallBodyReplayedBeyondRetryBuffer(t *testing.T) {
	faas := newSummer(t)
	refusing := newPeer(t, 403, "unknown-node", true)
	p, url := forwarder(t, Config{RetryBuffer: 100}, faas.srv.URL, refusing.srv.URL, "", true)
	body := strings.Repeat("s", 1000)
	resp, err := http.Post(url+"/function/fn", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want := sha256.Sum256([]byte(body))
	if resp.StatusCode != 200 || refusing.sum.Load() != want || faas.sum.Load() != want {
		t.Fatalf("status %d; the neighbour read the body: %v; the FaaS got it: %v", resp.StatusCode, refusing.sum.Load() == want, faas.sum.Load() == want)
	}
	if n := p.retries[retryUnknownNode].Load(); n != 1 {
		t.Fatalf("%d retries, want 1", n)
	}
}

// refusingNeighbour is a neighbour whose proxy refuses every forwarded
// request as unknown-node (after reading its body), counting the
// connections opened to it.
func refusingNeighbour(t *testing.T) (*httptest.Server, *atomic.Int64) {
	conns := new(atomic.Int64)
	nb := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set(proxyctl.HeaderRejected, "unknown-node")
		http.Error(w, "dfaas: node b does not accept forwarded requests from \"a\"", http.StatusForbidden)
	}))
	nb.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	nb.Start()
	t.Cleanup(nb.Close)
	return nb, conns
}
