package goproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// routingProxy returns a proxy for node a with figlet deployed, neighbour b
// running figlet and ocr, and a decision splitting figlet among local,
// rejection and b with a local limit.
func routingProxy(t testing.TB) *Proxy {
	p, err := New(Config{FaaSURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	st := proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:2", Functions: []string{"figlet", "ocr"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 0.5, Reject: 0.1,
			Forward: []strategy.Share{{Node: "b", Share: 0.4}}, LocalLimit: 1e9, Admit: []strategy.Limit{{Node: "b", Rate: 1e9}}}}},
	}
	if err := p.Apply(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoutingAllocatesNothing checks the claim that the routing path (name
// parsing and validation, counters, decision) allocates nothing, for every
// kind of request.
func TestRoutingAllocatesNothing(t *testing.T) {
	p := routingProxy(t)
	fromB := http.Header{keyNodeID: {"b"}, keyNodeToken: {tokBA}}
	spoofed := http.Header{keyNodeID: {"b"}, keyNodeToken: {tokAB}}
	tests := []struct {
		name string
		path string
		h    http.Header
	}{
		{"user request, shared among local, reject and b", "/function/figlet/sub", http.Header{}},
		{"user request, function only b runs", "/function/ocr", http.Header{}},
		{"user request, unknown function", "/function/made-up-name", http.Header{}},
		{"forwarded by b", "/function/figlet", fromB},
		{"spoofed credential", "/function/figlet", spoofed},
		{"invalid name", "/function/..", http.Header{}},
		{"management API", "/system/functions", http.Header{}},
	}
	now := time.Now()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() { p.route(tt.path, tt.h, now) }); n != 0 {
				t.Fatalf("%v allocations per request", n)
			}
		})
	}
}

// BenchmarkRoute measures the routing path of a user request.
func BenchmarkRoute(b *testing.B) {
	p := routingProxy(b)
	h := http.Header{}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p.route("/function/figlet", h, now)
	}
}

// FuzzRoute feeds the routing path arbitrary paths and DFaaS headers: it
// never panics, refuses what is not /function/{valid name}, and never
// makes counters of its own for a name outside the routing state.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/function/figlet", "/function/../system", "/system/scale-function/x", "/function/", "/function/a\x00b", "/function/ocr/x/y", "//function/figlet"} {
		f.Add(s, "", "")
	}
	f.Add("/function/figlet", "b", tokBA)
	f.Add("/function/figlet", "b", "")
	p := routingProxy(f)
	f.Fuzz(func(t *testing.T, path, from, token string) {
		h := http.Header{}
		if from != "" {
			h[keyNodeID] = []string{from}
			h[keyNodeToken] = []string{token}
		}
		rq := p.route(path, h, time.Now())
		switch rq.code {
		case 0:
			if err := strategy.ValidName(rq.fn); err != nil || !strings.HasPrefix(path, "/function/"+rq.fn) {
				t.Fatalf("path %q routed as function %q (%v)", path, rq.fn, err)
			}
			if rq.from != "" && rq.a.kind == kindForward {
				t.Fatalf("a request from %q would be forwarded again", rq.from)
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
		default:
			t.Fatalf("code %d", rq.code)
		}
		if n := p.Counters().Len(); n != 2 {
			t.Fatalf("%d functions with counters, want 2", n)
		}
	})
}

// TestUnknownNamesBounded reproduces the made-up-names attack: 10,000
// requests for names that exist nowhere, before and after the first
// Apply, make no per-name state, keep the metrics small, and grow the heap
// by less than 20 MB.
func TestUnknownNamesBounded(t *testing.T) {
	faas := newBackend(t, "faas")
	faas.status.Store(http.StatusNotFound)
	p, err := New(Config{FaaSURL: faas.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	heapBefore := heapAlloc()
	attack(t, srv.URL, 1000, 0) // before the first Apply: served locally, counted in the aggregate
	if err := p.Apply(context.Background(), proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: faas.srv.URL, Functions: []string{"ocr"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}}}); err != nil {
		t.Fatal(err)
	}
	attack(t, srv.URL, 10000, 1000)
	if n := p.Counters().Len(); n != 2 {
		t.Fatalf("%d functions with counters, want 2 (figlet, ocr)", n)
	}
	if o := p.Counters().Other().Totals(); o.Offered != 11000 || o.Rejected != 10000 {
		t.Fatalf("aggregate %+v, want 11000 offered, 10000 rejected (no-route)", o)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p, promsrc.NewCollector(p.Counters(), 0))
	var buf bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&buf, mf)
	}
	if buf.Len() > 100<<10 || strings.Contains(buf.String(), "fake") {
		t.Fatalf("/metrics of %d bytes after the attack:\n%.2000s", buf.Len(), buf.String())
	}
	if !strings.Contains(buf.String(), MetricUnrouted+" 11000") {
		t.Fatalf("the aggregate is not exported:\n%s", buf.String())
	}
	grew := int64(heapAlloc()) - int64(heapBefore)
	t.Logf("after 11,000 requests for made-up names: %d per-function counters, /metrics %d bytes, heap grew %.1f MB", p.Counters().Len(), buf.Len(), float64(grew)/(1<<20))
	if grew > 20<<20 {
		t.Fatalf("heap grew by %d MB", grew>>20)
	}
}

// attack sends n requests for made-up names (numbered from first) from 8
// clients.
func attack(t *testing.T, url string, n, first int) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := first + w; i < first+n; i += 8 {
				resp, err := client.Post(fmt.Sprintf("%s/function/fake%d", url, i), "text/plain", strings.NewReader("x"))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					errs <- fmt.Errorf("fake%d: status %d, want 404", i, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestCountersFollowRoutingState: a function that leaves the routing state
// keeps its counters (for the next reading) until CounterLinger has passed,
// then they are removed.
func TestCountersFollowRoutingState(t *testing.T) {
	faas := newBackend(t, "faas")
	p, err := New(Config{FaaSURL: faas.srv.URL, CounterLinger: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	apply := func(fns ...string) {
		t.Helper()
		st := proxyctl.State{Self: "a"}
		for _, f := range fns {
			st.Functions = append(st.Functions, proxyctl.Function{Name: f})
		}
		if err := p.Apply(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	names := func() string {
		tot, _ := p.Counters().Totals(context.Background())
		var out []string
		for _, f := range tot.Functions {
			out = append(out, fmt.Sprintf("%s:%d", f.Name, f.Local))
		}
		return strings.Join(out, " ")
	}
	apply("a", "b")
	post(t, srv.URL+"/function/b")
	apply("a")
	if got := names(); got != "a:0 b:1" {
		t.Fatalf("after b left: %q, want its final count still read", got)
	}
	if code := post(t, srv.URL+"/function/b"); code != http.StatusNotFound {
		t.Fatalf("a retired function: %d, want 404 no-route", code)
	}
	apply("a")
	if got := names(); got != "a:0" {
		t.Fatalf("after the linger: %q", got)
	}
}

func post(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
