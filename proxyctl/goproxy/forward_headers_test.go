package goproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// forwardingProxy is a proxy whose decision forwards fn to neighbour b at
// peerURL; deployed: fn runs locally too, at faasURL.
func forwardingProxy(t *testing.T, faasURL, peerURL string, deployed bool) string {
	t.Helper()
	p, err := New(Config{FaaSURL: faasURL})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	st := proxyctl.State{Self: "a"}
	if deployed {
		st.Functions = []proxyctl.Function{{Name: "fn"}}
	}
	st.Neighbours = []proxyctl.Neighbour{{ID: "b", URL: peerURL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}}
	st.Decision.Routes = []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}}
	if err := p.Apply(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return srv.URL
}

// TestFallbackStripsCredentials: a request a neighbour refused as
// unknown-node and that is then served locally reaches the local function
// without the credential meant for the neighbour, the node ID, or the
// Expect header the proxy added for the neighbour.
func TestFallbackStripsCredentials(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
	}))
	defer faas.Close()
	nb := newPeer(t, 403, "unknown-node", false)
	base := forwardingProxy(t, faas.URL, nb.srv.URL, true)
	large := strings.Repeat("L", 200<<10) // sent with Expect: 100-continue to the neighbour
	resp, err := http.Post(base+"/function/fn", "text/plain", strings.NewReader(large))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || nb.hits.Load() != 1 {
		t.Fatalf("status %d, neighbour hits %d: want 200 after one refusal", resp.StatusCode, nb.hits.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("the local function was not called")
	}
	for _, h := range []string{proxyctl.HeaderNodeToken, proxyctl.HeaderNodeID, "Expect"} {
		if v := got.Values(h); len(v) > 0 {
			t.Errorf("the local function received %s: %q", h, v)
		}
	}
}

// TestForwardedAnswerCounted: the answer of a neighbour is relayed with the
// header naming it and counted as rejected (429 with DFaaS-Rejected) or
// failed (5xx), as a local answer would be.
func TestForwardedAnswerCounted(t *testing.T) {
	tests := []struct {
		status           int
		rejected         string
		wantRej, wantErr uint64
	}{
		{429, "admission", 1, 0},
		{429, "", 0, 1}, // the function's own 429 is a failure
		{502, "", 0, 1},
		{200, "", 0, 0},
	}
	for _, tt := range tests {
		nb := newPeer(t, tt.status, tt.rejected, true)
		p, err := New(Config{FaaSURL: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(p)
		st := proxyctl.State{Self: "a",
			Neighbours: []proxyctl.Neighbour{{ID: "b", URL: nb.srv.URL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}}}
		st.Decision.Routes = []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}}
		if err := p.Apply(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+"/function/fn", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get(proxyctl.HeaderForwardedTo) != "b" {
			t.Errorf("%d %q: answer %d forwarded to %q, want %d from b", tt.status, tt.rejected, resp.StatusCode, resp.Header.Get(proxyctl.HeaderForwardedTo), tt.status)
		}
		tot, _ := p.Counters().Totals(context.Background())
		if f := tot.Functions[0]; f.Rejected != tt.wantRej || f.Failed != tt.wantErr || f.Forwarded != 1 {
			t.Errorf("%d %q: counters %+v, want rejected %d, failed %d, forwarded 1", tt.status, tt.rejected, f, tt.wantRej, tt.wantErr)
		}
		srv.Close()
		p.Close()
	}
}

// TestForwardedAnswerThroughProxies: through two real proxies, the answer
// to a forwarded request (no body, or a small one: the fast path) carries
// the FaaS's headers, DFaaS-Served-By of the node that served it (once)
// and DFaaS-Forwarded-To.
func TestForwardedAnswerThroughProxies(t *testing.T) {
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-From-Function", "yes")
		w.Header().Set(proxyctl.HeaderServedBy, "liar")
		w.Write(b)
	}))
	t.Cleanup(faas.Close)
	fn := []proxyctl.Function{{Name: "fn"}}
	b := costProxy(t, faas.URL, proxyctl.State{Self: "b", Functions: fn,
		Neighbours: []proxyctl.Neighbour{{ID: "a", URL: "http://127.0.0.1:1", TokenOut: tokBA, TokenIn: tokAB}}})
	a := costProxy(t, faas.URL, proxyctl.State{Self: "a",
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: b, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}}}})
	for _, body := range []string{"", "small body", "again"} {
		method := map[bool]string{true: "GET", false: "POST"}[body == ""]
		req, _ := http.NewRequest(method, a+"/function/fn", strings.NewReader(body))
		if body == "" {
			req.Body = nil
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || string(got) != body || h.Get("X-From-Function") != "yes" ||
			!slices.Equal(h.Values(proxyctl.HeaderServedBy), []string{"b"}) || h.Get(proxyctl.HeaderForwardedTo) != "b" {
			t.Fatalf("%s %q: status %d, body %q, headers %v", method, body, resp.StatusCode, got, h)
		}
	}
}
