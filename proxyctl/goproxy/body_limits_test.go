package goproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestBodyLimitRefusals: a body above MaxBodyBytes is refused with 413
// before anything reaches the FaaS, declared or found out while streaming
// it; a user's refused request counts as rejected, a neighbour's does not
// (its own node counted it).
func TestBodyLimitRefusals(t *testing.T) {
	faas := newBackend(t, "faas")
	p, url := appliedProxy(t, Config{FaaSURL: faas.srv.URL, Limits: Limits{MaxBodyBytes: 100}}, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", TokenIn: tokBA, TokenOut: tokAB}}})
	send := func(body io.Reader, length int64, from string) int {
		t.Helper()
		return sendAs(t, "POST", url+"/function/fn", body, length, from)
	}
	for range 2 {
		if got := send(strings.NewReader(strings.Repeat("x", 101)), 101, ""); got != http.StatusRequestEntityTooLarge {
			t.Fatalf("user request, 101 bytes declared: status %d, want 413", got)
		}
	}
	if got := send(strings.NewReader(strings.Repeat("x", 101)), 101, "b"); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("neighbour's request, 101 bytes declared: status %d, want 413", got)
	}
	if n := faas.hits.Load(); n != 0 {
		t.Fatalf("the FaaS got %d requests", n)
	}
	tot, _ := p.Counters().Totals(context.Background())
	if f := tot.Functions[0]; f.Offered != 2 || f.Rejected != 2 || f.Local != 0 || f.Failed != 0 {
		t.Fatalf("counters %+v, want 2 offered, 2 rejected", f)
	}
	// A body of unknown length, cut while it streams: 413, counted failed.
	if got := send(io.MultiReader(strings.NewReader(strings.Repeat("y", 20000))), -1, ""); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("user request, 20,000 bytes streamed: status %d, want 413", got)
	}
	tot, _ = p.Counters().Totals(context.Background())
	if f := tot.Functions[0]; f.Offered != 3 || f.Rejected != 2 || f.Failed != 1 {
		t.Fatalf("counters %+v, want 3 offered, 2 rejected, 1 failed", f)
	}
	if got := send(strings.NewReader("ok"), 2, ""); got != 200 {
		t.Fatalf("small body: status %d", got)
	}
}

// TestInflightBudgetReleased: the body bytes a request reserves are given
// back when it ends, so requests in sequence never run out of budget.
func TestInflightBudgetReleased(t *testing.T) {
	_, url := appliedProxy(t, Config{FaaSURL: newSummer(t).srv.URL, Limits: Limits{MaxBodyBytes: 1000, MaxInflightBodyBytes: 1000}}, localOnly("fn"))
	for i := range 5 {
		if got := sendAs(t, "POST", url+"/function/fn", strings.NewReader(strings.Repeat("b", 600)), 600, ""); got != 200 {
			t.Fatalf("request %d: status %d, want 200", i, got)
		}
	}
}

// TestUserPortHealth: the proxy's health path answers on the user port.
func TestUserPortHealth(t *testing.T) {
	p, err := New(Config{FaaSURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", HealthPath, nil))
	if w.Code != 200 || w.Body.String() != "ok\n" {
		t.Fatalf("health: %d %q", w.Code, w.Body.String())
	}
}
