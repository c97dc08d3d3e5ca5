package goproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestReapplyKeepsBuckets: applying a decision again (as every control
// period does) carries the local limit's and the admission limits' token
// buckets over with the tokens they have left: a new decision does not
// let a fresh burst through.
func TestReapplyKeepsBuckets(t *testing.T) {
	// One token each, refilled every 1,000 s.
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", TokenIn: tokBA, TokenOut: tokAB}},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "fn", Local: 1, LocalLimit: 0.001,
			Admit: []strategy.Limit{{Node: "b", Rate: 0.001}}}}}}
	p, url := appliedProxy(t, Config{FaaSURL: newBackend(t, "faas").srv.URL}, st)
	send := func(from string) int { return sendAs(t, "GET", url+"/function/fn", nil, 0, from) }
	if u, b := send(""), send("b"); u != 200 || b != 200 {
		t.Fatalf("first requests: user %d, neighbour %d; want 200 (the bursts)", u, b)
	}
	for i := range 3 {
		if err := p.Apply(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		if u, b := send(""), send("b"); u != http.StatusTooManyRequests || b != http.StatusTooManyRequests {
			t.Fatalf("after re-Apply %d: user %d, neighbour %d; want 429 (buckets carried over, empty)", i, u, b)
		}
	}
}

// TestCountersForRoutedFunctions: the functions deployed here, those a
// neighbour runs, and those the decision routes each get counters of their
// own; other names share the aggregate.
func TestCountersForRoutedFunctions(t *testing.T) {
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "here"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", Functions: []string{"there", "here"}, TokenIn: tokBA, TokenOut: tokAB}},
		Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "routed", Reject: 1}}}}
	p, url := appliedProxy(t, Config{FaaSURL: newBackend(t, "faas").srv.URL}, st)
	for _, fn := range []string{"here", "there", "routed", "stranger"} {
		sendAs(t, "POST", url+"/function/"+fn, strings.NewReader("x"), 1, "")
	}
	tot, _ := p.Counters().Totals(context.Background())
	var names []string
	for _, f := range tot.Functions {
		names = append(names, f.Name)
		if f.Offered != 1 {
			t.Errorf("%s: %d offered, want 1", f.Name, f.Offered)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"here", "routed", "there"}) {
		t.Fatalf("functions with counters %v", names)
	}
	if tot.Other.Offered != 1 {
		t.Fatalf("%d requests in the aggregate, want 1 (stranger)", tot.Other.Offered)
	}
}

// appliedProxy returns a proxy with cfg (closed when the test ends),
// served on loopback at url, with st applied.
func appliedProxy(t *testing.T, cfg Config, st proxyctl.State) (p *Proxy, url string) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	if err := p.Apply(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return p, srv.URL
}

// sendAs sends a request with body of length (-1: unknown) and returns
// its status, the answer read and closed. With from, it is a forwarded
// request of neighbour from, with credential tokBA.
func sendAs(t *testing.T, method, url string, body io.Reader, length int64, from string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	req.ContentLength = length
	if length == 0 {
		req.Body = nil
	}
	if from != "" {
		req.Header.Set(proxyctl.HeaderNodeID, from)
		req.Header.Set(proxyctl.HeaderNodeToken, tokBA)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
