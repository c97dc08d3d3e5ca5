package goproxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// backend is a fake HTTP server that counts requests and answers with a
// fixed status, recording the DFaaS headers it saw.
type backend struct {
	srv      *httptest.Server
	hits     atomic.Int64
	status   atomic.Int64
	lastFrom atomic.Value
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{}
	b.status.Store(200)
	b.lastFrom.Store("")
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.lastFrom.Store(r.Header.Get(proxyctl.HeaderNodeID) + "/" + r.Header.Get(proxyctl.HeaderNodeToken))
		w.WriteHeader(int(b.status.Load()))
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

const (
	tokAB = "ab00000000000000000000000000000000000000000000000000000000000000"
	tokBA = "ba00000000000000000000000000000000000000000000000000000000000000"
)

// fixture is a proxy for node a with a local FaaS and neighbours b and c
// (fake servers standing in for their proxies).
type fixture struct {
	p       *Proxy
	srv     *httptest.Server
	faas    *backend
	b, c    *backend
	stateFn func(r strategy.Route) proxyctl.State
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{faas: newBackend(t, "faas"), b: newBackend(t, "b"), c: newBackend(t, "c")}
	var err error
	f.p, err = New(Config{FaaSURL: f.faas.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.p)
	t.Cleanup(f.srv.Close)
	f.stateFn = func(r strategy.Route) proxyctl.State {
		return proxyctl.State{
			Self:      "a",
			Functions: []proxyctl.Function{{Name: "figlet", Capacity: 100}},
			Neighbours: []proxyctl.Neighbour{
				{ID: "b", URL: f.b.srv.URL, Functions: []string{"figlet", "ocr"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true},
				{ID: "c", URL: f.c.srv.URL, Functions: []string{"figlet"}, TokenOut: tokAB, TokenIn: tokBA, Forward: false},
			},
			Decision: strategy.Decision{Routes: []strategy.Route{r}},
		}
	}
	return f
}

func (f *fixture) apply(t *testing.T, r strategy.Route) {
	t.Helper()
	if err := f.p.Apply(context.Background(), f.stateFn(r)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) do(t *testing.T, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader("hi"))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestSharesExact(t *testing.T) {
	f := newFixture(t)
	f.apply(t, strategy.Route{Function: "figlet", Local: 0.5, Forward: []strategy.Share{{Node: "b", Share: 0.3}}, Reject: 0.2})
	var rejected int
	for range 1000 {
		resp := f.do(t, "/function/figlet", nil)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get(proxyctl.HeaderRejected) == "policy" {
			rejected++
		}
	}
	if f.faas.hits.Load() != 500 || f.b.hits.Load() != 300 || rejected != 200 {
		t.Fatalf("local %d, b %d, rejected %d; want 500, 300, 200", f.faas.hits.Load(), f.b.hits.Load(), rejected)
	}
	if got := f.b.lastFrom.Load(); got != "a/"+tokAB {
		t.Fatalf("forwarded request carried %q, want node ID and token", got)
	}
	tot, _ := f.p.Counters().Totals(context.Background())
	ft := tot.Functions[0]
	if ft.Offered != 1000 || ft.Local != 500 || ft.Forwarded != 300 || ft.Rejected != 200 {
		t.Fatalf("counters %+v", ft)
	}
}

func TestLocalLimitOverflows(t *testing.T) {
	f := newFixture(t)
	// Everything local, capped at 1 req/s: the burst (1 token) goes local,
	// the rest overflows to b.
	f.apply(t, strategy.Route{Function: "figlet", Local: 0.9, Forward: []strategy.Share{{Node: "b", Share: 0.1}}, LocalLimit: 1})
	for range 20 {
		f.do(t, "/function/figlet", nil)
	}
	if f.faas.hits.Load() > 2 || f.b.hits.Load() < 18 {
		t.Fatalf("local %d, b %d: the local limit did not overflow to b", f.faas.hits.Load(), f.b.hits.Load())
	}
	// Without a forwarding share the overflow is rejected.
	f.apply(t, strategy.Route{Function: "figlet", Local: 1, LocalLimit: 0.001})
	f.do(t, "/function/figlet", nil)
	if resp := f.do(t, "/function/figlet", nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("overflow with nowhere to go: status %d, want 429", resp.StatusCode)
	}
}

func TestForwardedRequests(t *testing.T) {
	f := newFixture(t)
	f.apply(t, strategy.Route{Function: "figlet", Local: 0, Forward: []strategy.Share{{Node: "b", Share: 1}},
		Admit: []strategy.Limit{{Node: "c", Rate: 0}}})
	tests := []struct {
		name     string
		path     string
		hdr      map[string]string
		status   int
		rejected string
		local    bool
	}{
		{"known neighbour is served locally, never re-forwarded", "/function/figlet",
			map[string]string{proxyctl.HeaderNodeID: "b", proxyctl.HeaderNodeToken: tokBA}, 200, "", true},
		{"spoofed identity", "/function/figlet",
			map[string]string{proxyctl.HeaderNodeID: "b", proxyctl.HeaderNodeToken: tokAB}, 403, "unknown-node", false},
		{"no token", "/function/figlet", map[string]string{proxyctl.HeaderNodeID: "b"}, 403, "unknown-node", false},
		{"unknown node", "/function/figlet",
			map[string]string{proxyctl.HeaderNodeID: "z", proxyctl.HeaderNodeToken: tokBA}, 403, "unknown-node", false},
		{"above admission limit", "/function/figlet",
			map[string]string{proxyctl.HeaderNodeID: "c", proxyctl.HeaderNodeToken: tokBA}, 429, "admission", false},
		{"forwarded function not deployed here", "/function/ocr",
			map[string]string{proxyctl.HeaderNodeID: "b", proxyctl.HeaderNodeToken: tokBA}, 404, "no-route", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, beforeB := f.faas.hits.Load(), f.b.hits.Load()
			resp := f.do(t, tt.path, tt.hdr)
			if resp.StatusCode != tt.status || resp.Header.Get(proxyctl.HeaderRejected) != tt.rejected {
				t.Fatalf("status %d %q, want %d %q", resp.StatusCode, resp.Header.Get(proxyctl.HeaderRejected), tt.status, tt.rejected)
			}
			if got := f.faas.hits.Load() - before; (got == 1) != tt.local {
				t.Fatalf("local FaaS hit %d times", got)
			}
			if f.b.hits.Load() != beforeB {
				t.Fatal("a forwarded request was forwarded again")
			}
		})
	}
}

func TestRoutingEdges(t *testing.T) {
	f := newFixture(t)
	f.apply(t, strategy.Route{Function: "figlet", Local: 1})
	tests := []struct {
		name   string
		path   string
		status int
		where  *backend
	}{
		{"management API is not public", "/system/functions", 403, nil},
		{"other paths", "/", 404, nil},
		{"exact name, not prefix", "/function/figletx", 404, nil},
		{"invalid name", "/function/..", 400, nil},
		{"sub-path goes to the function", "/function/figlet/sub/path", 200, f.faas},
		{"remote-only function defaults to neighbours that run it and may be forwarded to", "/function/ocr", 200, f.b},
		{"health", HealthPath, 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before int64
			if tt.where != nil {
				before = tt.where.hits.Load()
			}
			resp := f.do(t, tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.where != nil && tt.where.hits.Load() != before+1 {
				t.Fatal("request did not reach the expected server")
			}
		})
	}
	if f.c.hits.Load() != 0 {
		t.Fatal("c is not in the data network but received requests")
	}
}

func TestUnreachableNeighbourRetried(t *testing.T) {
	f := newFixture(t)
	f.b.srv.Close() // b is dead
	f.apply(t, strategy.Route{Function: "figlet", Local: 0, Forward: []strategy.Share{{Node: "b", Share: 1}}})
	resp := f.do(t, "/function/figlet", nil)
	if resp.StatusCode != 200 || f.faas.hits.Load() != 1 {
		t.Fatalf("status %d, local hits %d: a request that could not reach b must be retried locally", resp.StatusCode, f.faas.hits.Load())
	}
}

func TestApplyRejectsInvalidState(t *testing.T) {
	f := newFixture(t)
	f.apply(t, strategy.Route{Function: "figlet", Local: 1})
	bad := f.stateFn(strategy.Route{Function: "figlet", Forward: []strategy.Share{{Node: "c", Share: 1}}}) // c: Forward false
	if err := f.p.Apply(context.Background(), bad); err == nil {
		t.Fatal("forwarding to a neighbour outside the data network accepted")
	}
	// The previous routing is still in force.
	if resp := f.do(t, "/function/figlet", nil); resp.StatusCode != 200 || f.faas.hits.Load() != 1 {
		t.Fatalf("routing changed after a rejected Apply: status %d", resp.StatusCode)
	}
}

func TestFailuresCounted(t *testing.T) {
	f := newFixture(t)
	f.apply(t, strategy.Route{Function: "figlet", Local: 1})
	f.faas.status.Store(503)
	if resp := f.do(t, "/function/figlet", nil); resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	tot, _ := f.p.Counters().Totals(context.Background())
	if tot.Functions[0].Failed != 1 {
		t.Fatalf("failed = %d, want 1", tot.Functions[0].Failed)
	}
}

func TestBeforeFirstApplyServesLocally(t *testing.T) {
	f := newFixture(t)
	if resp := f.do(t, "/function/anything", nil); resp.StatusCode != 200 || f.faas.hits.Load() != 1 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkDecide measures the per-request routing decision of the embedded
// proxy (no I/O): a user request picked by the weighted round robin among
// local, reject and 8 neighbours, with a local limit.
func BenchmarkDecide(b *testing.B) {
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}}
	fwd := map[strategy.NodeID]float64{}
	for i := range 8 {
		id := strategy.NodeID(fmt.Sprintf("n%d", i))
		st.Neighbours = append(st.Neighbours, proxyctl.Neighbour{ID: id, URL: "http://127.0.0.1:1", TokenIn: tokBA, Forward: true})
		fwd[id] = 1
	}
	r := strategy.NewRoute("figlet", 4, 1, fwd)
	r.LocalLimit = 1e9
	st.Decision.Routes = []strategy.Route{r}
	tbl, err := compile(st, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		tbl.decide("figlet", "", "", now)
	}
}

// BenchmarkDecideForwarded measures the decision for a request forwarded
// by a neighbour: credential check and admission limit.
func BenchmarkDecideForwarded(b *testing.B) {
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", TokenIn: tokBA}}}
	st.Decision.Routes = []strategy.Route{{Function: "figlet", Local: 1, Admit: []strategy.Limit{{Node: "b", Rate: 1e9}}}}
	tbl, err := compile(st, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		tbl.decide("figlet", "b", tokBA, now)
	}
}
