package goproxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// gateFaaS is a FaaS whose requests wait until it is opened (or their
// client goes away), counting those that arrived and the most in it at
// once.
type gateFaaS struct {
	url      string
	arrived  atomic.Int64
	mu       sync.Mutex
	in, peak int
	open     chan struct{}
	once     sync.Once
}

func newGateFaaS(t *testing.T) *gateFaaS {
	t.Helper()
	g := &gateFaaS{open: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		g.mu.Lock()
		g.in++
		g.peak = max(g.peak, g.in)
		g.mu.Unlock()
		g.arrived.Add(1)
		select {
		case <-g.open:
		case <-r.Context().Done():
		}
		g.mu.Lock()
		g.in--
		g.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.release) // before srv.Close, which waits for the requests
	g.url = srv.URL
	return g
}

// gatedProxy returns a gateFaaS and a proxy in front of it with st
// applied, served at url. The gate opens when the test ends, before the
// proxy's server waits for its requests (so a test that fails with
// requests held ends at once).
func gatedProxy(t *testing.T, st proxyctl.State) (*gateFaaS, *Proxy, string) {
	t.Helper()
	faas := newGateFaaS(t)
	p, url := appliedProxy(t, Config{FaaSURL: faas.url}, st)
	t.Cleanup(faas.release)
	return faas, p, url
}

// release opens the gate: the requests waiting and all later ones are
// answered.
func (g *gateFaaS) release() { g.once.Do(func() { close(g.open) }) }

// waitArrived waits until n requests have arrived (a bound on a wait, not
// a measurement).
func (g *gateFaaS) waitArrived(t *testing.T, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); g.arrived.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests reached the FaaS, want %d", g.arrived.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// inFlight returns the in-flight count of fn in p's routing state, -1 if
// it has none.
func inFlight(p *Proxy, fn string) int64 {
	q := p.state.Load().t.queue(fn)
	if q == nil {
		return -1
	}
	return q.n.Load()
}

// waitInFlight waits until fn's in-flight count is n: a handler releases
// its place after its client has read the answer.
func waitInFlight(t *testing.T, p *Proxy, fn string, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); inFlight(p, fn) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests of %s in flight, want %d", inFlight(p, fn), fn, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// answer is what a client got.
type answer struct {
	status int
	header http.Header
	body   string
	err    error
}

// postAt sends a request for url with a body of size bytes (as neighbour
// from, with credential tokBA, unless from is empty) and returns the
// answer read.
func postAt(ctx context.Context, c *http.Client, url, from string, size int) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bytes.Repeat([]byte("x"), size)))
	if err != nil {
		return answer{err: err}
	}
	if from != "" {
		req.Header.Set(proxyctl.HeaderNodeID, from)
		req.Header.Set(proxyctl.HeaderNodeToken, tokBA)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// postAll sends n requests at once (see postAt) and returns their answers
// on a channel of n, closed when all are in.
func postAll(c *http.Client, url, from string, size, n int) <-chan answer {
	out := make(chan answer, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { out <- postAt(context.Background(), c, url, from, size) })
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}

// checkServed fails unless every answer on ch is a 200.
func checkServed(t *testing.T, ch <-chan answer) {
	t.Helper()
	for a := range ch {
		if a.err != nil || a.status != http.StatusOK {
			t.Errorf("answer %d %v, want 200", a.status, a.err)
		}
	}
}

// checkQueueFull fails unless a is the proxy's queue-full refusal of fn
// on node a.
func checkQueueFull(t *testing.T, a answer, fn string) {
	t.Helper()
	h := a.header
	if a.err != nil || a.status != http.StatusTooManyRequests || h.Get(proxyctl.HeaderRejected) != proxyctl.RejectedQueueFull ||
		h.Get("Retry-After") != "1" || h.Get(proxyctl.HeaderServedBy) != "a" {
		t.Fatalf("answer %d %v, headers %v; want 429 queue-full, Retry-After 1, served by a", a.status, a.err, h)
	}
	if !strings.Contains(a.body, `"`+fn+`"`) || !strings.Contains(a.body, "node a") {
		t.Fatalf("body %q names neither the function nor the node", a.body)
	}
}

// queueFullMetric gathers p's metrics and returns MetricQueueFull of fn.
func queueFullMetric(t *testing.T, p *Proxy, fn string) float64 {
	t.Helper()
	return counterOf(t, p, MetricQueueFull, fn)
}

// queueState is node a with function fn (concurrency conc, queue cap
// maxQueue) and neighbour b, which may forward requests to it.
func queueState(conc, maxQueue int) proxyctl.State {
	return proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn", Concurrency: conc, MaxQueue: maxQueue}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", TokenIn: tokBA, TokenOut: tokAB}}}
}
