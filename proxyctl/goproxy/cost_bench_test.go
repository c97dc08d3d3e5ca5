package goproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// serveProxy serves p with Serve (the listener's caps and time-outs) on a
// loopback port until the test ends and returns its base URL.
func serveProxy(tb testing.TB, p *Proxy) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { p.Serve(ctx, ln) })
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		p.Close()
	})
	return "http://" + ln.Addr().String()
}

// costProxy returns a proxy for node self in front of faas, with state s
// applied, served with Serve.
func costProxy(tb testing.TB, faas string, s proxyctl.State) string {
	tb.Helper()
	p, err := New(Config{FaaSURL: faas})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Apply(context.Background(), s); err != nil {
		tb.Fatal(err)
	}
	return serveProxy(tb, p)
}

// okFaaS starts a trivial FaaS on loopback that reads the body and answers
// ok, until the test ends.
func okFaaS(tb testing.TB) *httptest.Server {
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	tb.Cleanup(faas.Close)
	return faas
}

// BenchmarkRequestCost measures one keep-alive client's POST with a small
// body, one request at a time, to a trivial FaaS on loopback: sent
// directly (the baseline: read ns/op as a ratio to it), through
// httputil.ReverseProxy (a second baseline: the standard library's
// proxy), and through the proxy served with Serve for a local request, a
// rejected one (the reject share), and a forwarded one (node a forwards
// all to node b, which serves it locally; compare with two chained
// ReverseProxies). Client, proxies and FaaS share the process, so
// allocs/op, B/op and cpu-ns/op (the process's CPU time) count all of
// them: read the differences to direct.
func BenchmarkRequestCost(b *testing.B) {
	faas := okFaaS(b)
	rproxy := func(target string) string {
		rp := httputil.NewSingleHostReverseProxy(mustURL(b, target))
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
		srv := httptest.NewServer(rp)
		b.Cleanup(srv.Close)
		return srv.URL
	}
	fn := []proxyctl.Function{{Name: "fn"}}
	nodeB := costProxy(b, faas.URL, proxyctl.State{Self: "b", Functions: fn,
		Neighbours: []proxyctl.Neighbour{{ID: "a", URL: "http://127.0.0.1:1", TokenOut: tokBA, TokenIn: tokAB}},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "fn", Local: 1,
			Admit: []strategy.Limit{{Node: "a", Rate: 1e12}}}}}})
	targets := []struct{ name, url string }{
		{"direct", faas.URL},
		{"reverseproxy", rproxy(faas.URL)},
		{"reverseproxy2", rproxy(rproxy(faas.URL))},
		{"local", costProxy(b, faas.URL, proxyctl.State{Self: "a", Functions: fn})},
		{"rejected", costProxy(b, faas.URL, proxyctl.State{Self: "a", Functions: fn,
			Decision: strategy.Decision{Routes: []strategy.Route{{Function: "fn", Reject: 1}}}})},
		{"forwarded", costProxy(b, faas.URL, proxyctl.State{Self: "a",
			Neighbours: []proxyctl.Neighbour{{ID: "b", URL: nodeB, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}},
			Decision:   strategy.Decision{Routes: []strategy.Route{strategy.NewRoute("fn", 0, 0, map[strategy.NodeID]float64{"b": 1})}}})},
	}
	for _, tt := range targets {
		b.Run(tt.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			defer client.CloseIdleConnections()
			url := tt.url + "/function/fn"
			want := http.StatusOK
			if tt.name == "rejected" {
				want = http.StatusTooManyRequests
			}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				resp, err := client.Post(url, "text/plain", strings.NewReader("hello world"))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					b.Fatalf("status %d, want %d", resp.StatusCode, want)
				}
			}
			// The process's CPU time per request (client, proxies and
			// FaaS): less sensitive to other load than ns/op.
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
