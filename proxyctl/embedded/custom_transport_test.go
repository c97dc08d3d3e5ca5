package embedded

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// countingTransport is an http.RoundTripper that counts the requests it
// carries.
type countingTransport struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// TestCustomTransport: with Config.Transport every request, to the FaaS
// (without a body, with a small, a large or an unknown-length one) and to
// a neighbour, goes through it, with its exact body.
func TestCustomTransport(t *testing.T) {
	faas := newSummer(t)
	nb := newPeer(t, 200, "", true)
	tr := &countingTransport{rt: &http.Transport{}}
	defer tr.rt.(*http.Transport).CloseIdleConnections()
	p, err := New(Config{FaaSURL: faas.srv.URL, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(p)
	defer srv.Close()
	if err := p.Apply(context.Background(), proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: nb.srv.URL, Functions: []string{"away"}, TokenIn: tokBA, TokenOut: tokAB, Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "away", Forward: []strategy.Share{{Node: "b", Share: 1}}}}}}); err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct {
		fn, method, body string
		chunked          bool
	}{
		{"fn", "GET", "", false},
		{"fn", "POST", "small", false},
		{"fn", "POST", strings.Repeat("L", smallBody+1), false},
		{"fn", "POST", "unknown length", true},
		{"away", "POST", "forwarded", false},
	} {
		var body io.Reader = strings.NewReader(tt.body)
		if tt.chunked {
			body = io.MultiReader(body)
		}
		req, _ := http.NewRequest(tt.method, srv.URL+"/function/"+tt.fn, body)
		if tt.body == "" {
			req.Body = nil
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := faas.sum.Load()
		if tt.fn == "away" {
			got = nb.sum.Load()
		}
		if resp.StatusCode != 200 || got != sha256.Sum256([]byte(tt.body)) {
			t.Fatalf("%d: %s %s: status %d; the body arrived intact: %v", i, tt.method, tt.fn, resp.StatusCode, got == sha256.Sum256([]byte(tt.body)))
		}
		if n := tr.n.Load(); n != int64(i+1) {
			t.Fatalf("%d: %d requests through the transport, want %d", i, n, i+1)
		}
	}
}
