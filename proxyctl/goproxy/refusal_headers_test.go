package goproxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestRefusalHeaders: each answer the proxy gives itself names the reason
// (DFaaS-Rejected) and this node (DFaaS-Served-By), and a 429 tells the
// client when to retry (Retry-After); other statuses do not. The answer is
// a one-line plain-text message, as http.Error writes it.
func TestRefusalHeaders(t *testing.T) {
	p, _ := appliedProxy(t, Config{FaaSURL: "http://127.0.0.1:1"}, proxyctl.State{Self: "a",
		Functions:  []proxyctl.Function{{Name: "fn"}, {Name: "full", Concurrency: 1, MaxQueue: 1}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", TokenIn: tokBA, TokenOut: tokAB}},
		Decision: strategy.Decision{Routes: []strategy.Route{
			{Function: "fn", Local: 1, Admit: []strategy.Limit{{Node: "b", Rate: 0}}},
			{Function: "busy", Reject: 1},
		}}})
	p.state.Load().t.queue("full").n.Store(2) // its slot and its queue taken
	for _, tt := range []struct {
		name, path, from, token string
		status                  int
		reason                  string
	}{
		{"policy", "/function/busy", "", "", 429, "policy"},
		{"admission", "/function/fn", "b", tokBA, 429, "admission"},
		{"unknown node", "/function/fn", "b", tokAB, 403, "unknown-node"},
		{"no route", "/function/nowhere", "", "", 404, "no-route"},
		{"no route for a neighbour", "/function/busy", "b", tokBA, 404, "no-route"},
		{"queue full", "/function/full", "", "", 429, "queue-full"},
		{"queue full for a neighbour", "/function/full", "b", tokBA, 429, "queue-full"},
	} {
		r := httptest.NewRequest("GET", tt.path, nil)
		if tt.from != "" {
			r.Header.Set(proxyctl.HeaderNodeID, tt.from)
			r.Header.Set(proxyctl.HeaderNodeToken, tt.token)
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		h := w.Result().Header
		if w.Code != tt.status || h.Get(proxyctl.HeaderRejected) != tt.reason || h.Get(proxyctl.HeaderServedBy) != "a" {
			t.Errorf("%s: status %d, headers %v; want %d %s served by a", tt.name, w.Code, h, tt.status, tt.reason)
		}
		if got, want := h.Get("Retry-After"), map[bool]string{true: "1"}[tt.status == 429]; got != want {
			t.Errorf("%s: Retry-After %q, want %q", tt.name, got, want)
		}
		// The body and headers are those of http.Error.
		if body := w.Body.String(); h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(body, "dfaas: ") || !strings.HasSuffix(body, "\n") || strings.Count(body, "\n") != 1 {
			t.Errorf("%s: body %q, headers %v: not those of http.Error", tt.name, body, h)
		}
	}
	tot, _ := p.Counters().Totals(context.Background())
	for _, f := range tot.Functions {
		// Refusals of user requests, admission and queue-full
		// refusals count as rejected; a neighbour's request refused as
		// unknown-node or without a route does not.
		want := map[string]uint64{"fn": 1, "busy": 1, "full": 2}[f.Name]
		if f.Rejected != want {
			t.Errorf("%s: %d rejected, want %d", f.Name, f.Rejected, want)
		}
	}
	if tot.Other.Rejected != 1 {
		t.Errorf("%d rejected in the aggregate, want 1 (no route)", tot.Other.Rejected)
	}
}

// TestAsteriskPath: a request for "*" (OPTIONS *) is not a function.
func TestAsteriskPath(t *testing.T) {
	p, err := New(Config{FaaSURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("OPTIONS", "*", nil))
	if w.Code != http.StatusNotFound {
		t.Fatalf("OPTIONS *: status %d, want 404", w.Code)
	}
}
