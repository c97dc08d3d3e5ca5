package goproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestLocalRequestHeaders: whichever path a user request takes to the local
// function (no body, a small body on the fast path, a large streamed body),
// the function sees no hop-by-hop header, no header the client named in
// Connection, no node credential, and X-Forwarded-For with the client's
// address appended; the answer names the node that served it.
func TestLocalRequestHeaders(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	var gotBody int
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		mu.Lock()
		got, gotBody = r.Header.Clone(), int(n)
		mu.Unlock()
		w.Header().Set("X-From-Function", "yes")
	}))
	defer faas.Close()
	p, err := New(Config{FaaSURL: faas.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(p)
	defer srv.Close()
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "fn", Local: 1}}}}
	if err := p.Apply(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 100, 300 << 10} {
		for _, xff := range []string{"", "192.0.2.1"} {
			req, err := http.NewRequest("POST", srv.URL+"/function/fn", strings.NewReader(strings.Repeat("b", size)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Connection", "X-Secret, keep-alive")
			req.Header.Set("X-Secret", "hop")
			req.Header.Set("Proxy-Authorization", "Basic eDp5")
			req.Header.Set(proxyctl.HeaderNodeToken, strings.Repeat("ab", 32))
			req.Header.Set("X-Kept", "end-to-end")
			if xff != "" {
				req.Header.Set("X-Forwarded-For", xff)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get(proxyctl.HeaderServedBy) != "a" || resp.Header.Get("X-From-Function") != "yes" {
				t.Errorf("size %d: status %d, headers %v", size, resp.StatusCode, resp.Header)
			}
			mu.Lock()
			h, n := got, gotBody
			mu.Unlock()
			if n != size {
				t.Errorf("size %d: the function received %d bytes", size, n)
			}
			for _, k := range []string{"X-Secret", "Proxy-Authorization", proxyctl.HeaderNodeToken, proxyctl.HeaderNodeID} {
				if v := h.Values(k); len(v) > 0 {
					t.Errorf("size %d: the function received %s: %q", size, k, v)
				}
			}
			if h.Get("X-Kept") != "end-to-end" {
				t.Errorf("size %d: an end-to-end header was dropped", size)
			}
			want := "127.0.0.1"
			if xff != "" {
				want = xff + ", 127.0.0.1"
			}
			if got := strings.Join(h.Values("X-Forwarded-For"), ", "); got != want {
				t.Errorf("size %d: X-Forwarded-For %q, want %q", size, got, want)
			}
		}
	}
}
