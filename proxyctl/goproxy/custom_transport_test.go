package goproxy

import (
	"crypto/sha256"
	"io"
	"net/http"
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
	_, url := appliedProxy(t, Config{FaaSURL: faas.srv.URL, Transport: tr}, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: nb.srv.URL, Functions: []string{"away"}, TokenIn: tokBA, TokenOut: tokAB, Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "away", Forward: []strategy.Share{{Node: "b", Share: 1}}}}}})
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
		length := int64(len(tt.body))
		if tt.chunked {
			body, length = io.MultiReader(body), -1
		}
		status := sendAs(t, tt.method, url+"/function/"+tt.fn, body, length, "")
		got := faas.sum.Load()
		if tt.fn == "away" {
			got = nb.sum.Load()
		}
		if status != 200 || got != sha256.Sum256([]byte(tt.body)) {
			t.Fatalf("%d: %s %s: status %d; the body arrived intact: %v", i, tt.method, tt.fn, status, got == sha256.Sum256([]byte(tt.body)))
		}
		if n := tr.n.Load(); n != int64(i+1) {
			t.Fatalf("%d: %d requests through the transport, want %d", i, n, i+1)
		}
	}
}
