package haproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// connRecorder is a neighbour standing in for another node's proxy: it
// answers 200 and records, for every function request, the connection it
// came on and the identity and credential it carried. With closeAt > 0 it
// closes the connection of its closeAt-th function request unanswered, as
// a neighbour closing a kept-alive connection under a request would.
type connRecorder struct {
	srv     *httptest.Server
	closeAt int
	mu      sync.Mutex
	conns   map[string]int // requests by remote address
	seen    []string       // identity/credential of each request
	reused  bool           // the connection closed had carried a request before
}

func newConnRecorder(t *testing.T, closeAt int) *connRecorder {
	t.Helper()
	r := &connRecorder{closeAt: closeAt, conns: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *connRecorder) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == HealthPath {
		io.WriteString(w, "ok\n")
		return
	}
	io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	r.conns[req.RemoteAddr]++
	r.seen = append(r.seen, req.Header.Get(proxyctl.HeaderNodeID)+"/"+req.Header.Get(proxyctl.HeaderNodeToken))
	n := len(r.seen)
	r.reused = r.reused || n == r.closeAt && r.conns[req.RemoteAddr] > 1
	r.mu.Unlock()
	if n == r.closeAt {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
			return
		}
	}
	w.Header().Set(proxyctl.HeaderServedBy, "b")
	io.WriteString(w, "b\n")
}

// snapshot returns the number of connections that carried function
// requests and what each request carried.
func (r *connRecorder) snapshot() (conns int, seen []string, reused bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns), append([]string(nil), r.seen...), r.reused
}

// reuseState is node a forwarding every figlet request to neighbour b at
// url, running figlet itself too (for requests retried).
func reuseState(url string) proxyctl.State {
	return proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: url, Functions: []string{"figlet"}, TokenOut: "to-b", TokenIn: "from-b", Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Forward: []strategy.Share{{Node: "b", Share: 1}}}}},
	}
}

// fromClients sends n sequential figlet requests through c, each from a
// client of its own (a new connection, closed after the answer). (A client
// cannot present a node's identity or credential: a request carrying one
// is taken as forwarded, checked, and never forwarded again.)
func fromClients(t *testing.T, c *Controller, n int) []outcome {
	t.Helper()
	out := make([]outcome, n)
	for i := range n {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		out[i] = do(client, http.MethodPost, c.publicURL()+"/function/figlet", nil)
	}
	return out
}

// TestIntegrationNeighbourConnectionReuse: requests from different
// clients, each on a connection of its own, share the connections to the
// neighbour (http-reuse always; HAProxy's default opens one per client
// connection), and each carries this node's identity and credential for
// the neighbour.
func TestIntegrationNeighbourConnectionReuse(t *testing.T) {
	const n = 12
	gw := newFakeServer(t, "gateway")
	b := newConnRecorder(t, 0)
	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, reuseState(b.srv.URL))
	for i, o := range fromClients(t, c, n) {
		if o.status != 200 || o.fwdTo != "b" {
			t.Errorf("request %d: %+v, want 200 forwarded to b", i, o)
		}
	}
	conns, seen, _ := b.snapshot()
	t.Logf("%d requests from %d clients on %d connections to the neighbour", len(seen), n, conns)
	// Sequential requests need one connection; a few more are tolerated
	// (an idle connection HAProxy purged between two requests).
	if conns > n/3 {
		t.Errorf("%d connections to the neighbour for %d requests from %d clients, want at most %d: connections are not shared", conns, len(seen), n, n/3)
	}
	for i, s := range seen {
		if s != "a/to-b" {
			t.Errorf("neighbour's request %d carried identity/credential %q, want a/to-b", i, s)
		}
	}
}

// TestIntegrationReusedConnectionClosed: a request sent on a shared
// connection the neighbour closes unanswered is retried (retry-on
// empty-response), not failed, although its client sent it on a new
// connection and would not retry it itself.
func TestIntegrationReusedConnectionClosed(t *testing.T) {
	const n = 6
	gw := newFakeServer(t, "gateway")
	b := newConnRecorder(t, n/2)
	c := startNode(t, gw.srv.URL, nil)
	apply(t, c, reuseState(b.srv.URL))
	for i, o := range fromClients(t, c, n) {
		t.Logf("request %d: %s", i, o.where())
		if o.status != 200 {
			t.Errorf("request %d: %+v, want 200 (served by b, or by a after the retry)", i, o)
		}
	}
	conns, seen, reused := b.snapshot()
	if len(seen) < n/2 || !reused {
		t.Errorf("the neighbour saw %d requests on %d connections, closed a reused one: %v; want at least %d, and a reused one closed", len(seen), conns, reused, n/2)
	}
}
