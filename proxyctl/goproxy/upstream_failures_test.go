package goproxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDialFailuresFreeSlots: every failed connection attempt to the FaaS
// gives its place in the fast client's pool back: more failures than the
// pool has connections still each get a prompt 502 naming the refused
// connection, not a wait for a connection that will never be freed.
func TestDialFailuresFreeSlots(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	p, _ := localProxyAt(t, down, 0)
	for i := range fastConns() + 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r := httptest.NewRequestWithContext(ctx, "GET", "/function/fn", nil)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		cancel()
		if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "refused") {
			t.Fatalf("request %d: status %d %q, want 502 for a refused connection", i, w.Code, w.Body.String())
		}
	}
}

// TestHugeAnswerHeadersClearError: answer headers above the limit get 502
// with an error that says so.
func TestHugeAnswerHeadersClearError(t *testing.T) {
	_, url := localProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Huge", strings.Repeat("h", 200<<10))
	}), 0)
	resp, body := doReq(t, "GET", url+"/function/fn", "")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "headers too large") {
		t.Fatalf("status %d %q, want 502 saying the headers are too large", resp.StatusCode, body)
	}
}
