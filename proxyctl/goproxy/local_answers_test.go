package goproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// localBodies are request bodies that take each path to the local FaaS:
// none and small (the fast client), large (streamed through
// http.Transport).
var localBodies = map[string]string{"no body": "", "small body": "small", "large body": strings.Repeat("L", smallBody+1)}

// TestServedByNotSpoofable: whatever DFaaS-Served-By the FaaS answers
// with, on every path (a common answer parsed in place, a chunked one, a
// streamed request), the client sees this node's ID only.
func TestServedByNotSpoofable(t *testing.T) {
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set(proxyctl.HeaderServedBy, "liar")
		if r.URL.Query().Get("chunked") != "" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "answer")
	}))
	defer faas.Close()
	_, url := localProxyAt(t, faas.URL, 0)
	for name, body := range localBodies {
		for _, q := range []string{"", "?chunked=1"} {
			resp, got := doReq(t, "POST", url+"/function/fn"+q, body)
			if resp.StatusCode != 200 || got != "answer" || !slices.Equal(resp.Header.Values(proxyctl.HeaderServedBy), []string{"a"}) {
				t.Errorf("%s%s: status %d %q, Served-By %q", name, q, resp.StatusCode, got, resp.Header.Values(proxyctl.HeaderServedBy))
			}
		}
	}
}

// TestLocalAnswersCounted: on every path, an answer of the FaaS counts its
// latency when it succeeded and counts failed when it is a 5xx or 429; a
// FaaS that cannot be reached gives 502, counted failed.
func TestLocalAnswersCounted(t *testing.T) {
	var status atomic.Int64
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(int(status.Load()))
		if r.URL.Query().Get("chunked") != "" {
			w.(http.Flusher).Flush()
			io.WriteString(w, "chunked answer")
		}
	}))
	defer faas.Close()
	for name, body := range localBodies {
		for _, q := range []string{"", "?chunked=1"} {
			t.Run(name+q, func(t *testing.T) {
				p, url := localProxyAt(t, faas.URL, 0)
				for _, s := range []int{200, 404, 503, 429} {
					status.Store(int64(s))
					if resp, _ := doReq(t, "POST", url+"/function/fn"+q, body); resp.StatusCode != s {
						t.Fatalf("status %d, want %d", resp.StatusCode, s)
					}
				}
				tot, _ := p.Counters().Totals(context.Background())
				if f := tot.Functions[0]; f.Local != 4 || f.Failed != 2 || f.LatencyCount != 2 {
					t.Fatalf("counters %+v, want 4 local, 2 failed, 2 latencies", f)
				}
			})
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	p, url := localProxyAt(t, down, 0)
	for name, body := range localBodies {
		if resp, _ := doReq(t, "POST", url+"/function/fn", body); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s, FaaS down: status %d, want 502", name, resp.StatusCode)
		}
	}
	tot, _ := p.Counters().Totals(context.Background())
	if f := tot.Functions[0]; f.Failed != 3 || f.LatencyCount != 0 {
		t.Fatalf("FaaS down: counters %+v, want 3 failed", f)
	}
}

// TestClientExpectNotForwarded: a client's Expect: 100-continue is
// answered by the proxy's server; the FaaS gets the request (with its
// body) without it, on every path.
func TestClientExpectNotForwarded(t *testing.T) {
	expects := make(chan string, 1)
	faas := newRawFaaS(t, func(conn, n int, c net.Conn, req *http.Request, body []byte) bool {
		expects <- req.Header.Get("Expect")
		return okAnswer(conn, n, c, req, body)
	})
	_, url := localProxyAt(t, faas.url, 0)
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5e9}}
	defer client.CloseIdleConnections()
	for name, body := range localBodies {
		if body == "" {
			continue
		}
		req, _ := http.NewRequest("POST", url+"/function/fn", strings.NewReader(body))
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if e := <-expects; resp.StatusCode != 200 || string(got) != body || e != "" {
			t.Errorf("%s: status %d, %d bytes back, the FaaS saw Expect %q", name, resp.StatusCode, len(got), e)
		}
	}
}

// TestUpstreamHostAndConnection: the FaaS and a neighbour see their own
// address as Host (not the client's), and a client that closes its
// connection after its request does not make the proxy close its
// connections upstream: on every path they are kept for the next request.
func TestUpstreamHostAndConnection(t *testing.T) {
	hosts := make(chan string, 1)
	record := func() http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			hosts <- r.Host
		})
	}
	var faasConns, nbConns atomic.Int64
	faas := httptest.NewUnstartedServer(record())
	faas.Config.ConnState = countNew(&faasConns)
	faas.Start()
	defer faas.Close()
	nb := httptest.NewUnstartedServer(record())
	nb.Config.ConnState = countNew(&nbConns)
	nb.Start()
	defer nb.Close()
	p, url := forwarder(t, Config{}, faas.URL, nb.URL, "", false)
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "here"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: nb.URL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}}}
	if err := p.Apply(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		fn, body, host string
		conns          *atomic.Int64
	}{
		"fast path": {"here", "small", faas.Listener.Addr().String(), &faasConns},
		"streamed":  {"here", strings.Repeat("L", smallBody+1), faas.Listener.Addr().String(), &faasConns},
		"forwarded": {"fn", "small", nb.Listener.Addr().String(), &nbConns},
	} {
		t.Run(name, func(t *testing.T) {
			before := tt.conns.Load()
			for range 2 {
				req, _ := http.NewRequest("POST", url+"/function/"+tt.fn, strings.NewReader(tt.body))
				req.Close = true // Connection: close from the client
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if h := <-hosts; h != tt.host {
					t.Fatalf("Host %q upstream, want %q", h, tt.host)
				}
			}
			if n := tt.conns.Load() - before; n > 1 {
				t.Fatalf("%d new connections upstream for 2 requests, want at most 1", n)
			}
		})
	}
}

func countNew(n *atomic.Int64) func(net.Conn, http.ConnState) {
	return func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
}

// TestUpstreamBasePath: a FaaS or neighbour URL with a path prefixes the
// request's path (with or without a trailing slash), on every path.
func TestUpstreamBasePath(t *testing.T) {
	paths := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		paths <- r.URL.RequestURI()
	}))
	defer srv.Close()
	for _, base := range []string{"", "/", "/gw", "/gw/"} {
		want := strings.TrimSuffix(base, "/") + "/function/FN/sub?q=1"
		p, url := forwarder(t, Config{}, srv.URL+base, srv.URL+base, "", false)
		st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "here"}},
			Neighbours: []proxyctl.Neighbour{{ID: "b", URL: srv.URL + base, Functions: []string{"away"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}}}
		if err := p.Apply(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ fn, body string }{{"here", ""}, {"here", "small"}, {"here", strings.Repeat("L", smallBody+1)}, {"away", "x"}} {
			resp, _ := doReq(t, "POST", url+"/function/"+tt.fn+"/sub?q=1", tt.body)
			if got := <-paths; resp.StatusCode != 200 || got != strings.Replace(want, "FN", tt.fn, 1) {
				t.Errorf("base %q, %s with %d bytes: status %d, upstream path %q", base, tt.fn, len(tt.body), resp.StatusCode, got)
			}
		}
	}
}
