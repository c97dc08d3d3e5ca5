package goproxy

import (
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

// trackedServer is an HTTP server on loopback that answers 200 after
// reading the body and counts the connections it accepted and closed.
type trackedServer struct {
	url              string
	accepted, closed atomic.Int64
}

func newTrackedServer(t *testing.T) *trackedServer {
	t.Helper()
	s := &trackedServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	srv.Listener = trackedListener{Listener: srv.Listener, accepted: &s.accepted, closed: &s.closed}
	srv.Start()
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// waitClosed waits until n of s's connections are closed.
func (s *trackedServer) waitClosed(t *testing.T, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.closed.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections closed, want %d", s.closed.Load(), s.accepted.Load(), n)
		}
	}
}

// TestCloseReleasesConnections: Close closes the proxy's idle connections
// to the FaaS (those of the fast path and of streamed bodies) and to
// plain-HTTP neighbours; until then they are kept for reuse, while the
// neighbour stays in the routing state.
func TestCloseReleasesConnections(t *testing.T) {
	faas, nb := newTrackedServer(t), newTrackedServer(t)
	p, url := forwarder(t, Config{}, faas.url, nb.url, "", true)
	post := func(fn, body string) {
		t.Helper()
		if got := sendAs(t, "POST", url+"/function/"+fn, strings.NewReader(body), int64(len(body)), ""); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	post("fn", "x") // forwarded to the neighbour
	st := localOnly("fn")
	st.Neighbours = []proxyctl.Neighbour{{ID: "b", URL: nb.url, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA}}
	if err := p.Apply(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	post("fn", "small")                          // the fast path
	post("fn", strings.Repeat("s", smallBody+1)) // streamed through http.Transport
	if faas.accepted.Load() != 2 || nb.accepted.Load() != 1 {
		t.Fatalf("connections: %d to the FaaS, %d to the neighbour; want 2 and 1", faas.accepted.Load(), nb.accepted.Load())
	}
	if faas.closed.Load() != 0 || nb.closed.Load() != 0 {
		t.Fatal("idle connections closed before Close")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	faas.waitClosed(t, 2)
	nb.waitClosed(t, 1)
	if err := p.Close(); err != nil { // again: nothing left to close
		t.Fatal(err)
	}
}

// TestRemovedNeighbourConnectionsClosed: Apply closes the idle
// connections to a neighbour that left the routing state, and once it is
// back the next request to it opens a new one.
func TestRemovedNeighbourConnectionsClosed(t *testing.T) {
	faas, nb := newTrackedServer(t), newTrackedServer(t)
	p, url := forwarder(t, Config{}, faas.url, nb.url, "", false)
	if got := sendAs(t, "POST", url+"/function/fn", strings.NewReader("x"), 1, ""); got != 200 {
		t.Fatalf("status %d", got)
	}
	if err := p.Apply(t.Context(), localOnly("fn")); err != nil {
		t.Fatal(err)
	}
	nb.waitClosed(t, 1)
	back := proxyctl.State{Self: "a",
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: nb.url, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}}}}
	if err := p.Apply(t.Context(), back); err != nil {
		t.Fatal(err)
	}
	if got := sendAs(t, "POST", url+"/function/fn", strings.NewReader("x"), 1, ""); got != 200 || nb.accepted.Load() != 2 {
		t.Fatalf("status %d, %d connections to the neighbour; want 200 and 2", got, nb.accepted.Load())
	}
}

// localOnly is a routing state of node a serving fns locally.
func localOnly(fns ...string) proxyctl.State {
	st := proxyctl.State{Self: "a"}
	for _, fn := range fns {
		st.Functions = append(st.Functions, proxyctl.Function{Name: fn})
	}
	return st
}
