package haproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// gatedGateway is a FaaS gateway that holds every function request until
// the test releases them all.
type gatedGateway struct {
	srv     *httptest.Server
	release chan struct{}
	once    sync.Once
}

func newGatedGateway(t *testing.T) *gatedGateway {
	t.Helper()
	g := &gatedGateway{release: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			select {
			case <-g.release:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "ok\n")
	}))
	t.Cleanup(func() { g.open(); g.srv.Close() })
	return g
}

// open releases the requests held and lets every later one through.
func (g *gatedGateway) open() { g.once.Do(func() { close(g.release) }) }

// queueState is node a serving figlet with the given concurrency and
// queue cap, accepting forwarded requests from neighbour b (credential
// "tok-b").
func queueState(concurrency, maxQueue int) proxyctl.State {
	return proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet", Concurrency: concurrency, MaxQueue: maxQueue}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", Functions: []string{"figlet"}, TokenIn: "tok-b"}},
		Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 1}}},
	}
}

// queueProbe sends requests to node c and follows its gateway server's
// queue.
type queueProbe struct {
	t      *testing.T
	c      *Controller
	client *http.Client
	wg     sync.WaitGroup
	mu     sync.Mutex
	held   []outcome // answers of the requests sent in the background
}

// hold sends a user request in the background (answered once released).
func (p *queueProbe) hold() {
	p.wg.Go(func() {
		o := do(p.client, http.MethodPost, p.c.publicURL()+"/function/figlet", nil)
		p.mu.Lock()
		p.held = append(p.held, o)
		p.mu.Unlock()
	})
}

// waitQueue waits until n requests wait in gw.figlet/gw's queue.
func (p *queueProbe) waitQueue(n int64) {
	p.t.Helper()
	var q int64
	for range 200 {
		if s := statOf(p.t, p.c, "gw.figlet", "gw"); s.Qcur != nil {
			if q = *s.Qcur; q == n {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	p.t.Fatalf("%d requests queued, want %d", q, n)
}

// refused sends one more request (from neighbour b if nb) and checks that
// it is refused at once: 429 queue-full.
func (p *queueProbe) refused(when string, nb bool) {
	p.t.Helper()
	hdr := map[string]string(nil)
	if nb {
		hdr = map[string]string{proxyctl.HeaderNodeID: "b", proxyctl.HeaderNodeToken: "tok-b"}
	}
	client := &http.Client{Timeout: 3 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, p.c.publicURL()+"/function/figlet", strings.NewReader("x"))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		p.t.Fatalf("%s: %v (queued rather than refused?)", when, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 429 || h.Get(proxyctl.HeaderRejected) != proxyctl.RejectedQueueFull || h.Get(proxyctl.HeaderServedBy) != "a" ||
		h.Get("Retry-After") != "1" || !strings.Contains(string(body), "figlet") || !strings.Contains(string(body), "node a") {
		p.t.Fatalf("%s: %d %v %q, want 429 queue-full from a naming figlet", when, resp.StatusCode, h, body)
	}
}

// release lets the held requests through and checks they were all served.
func (p *queueProbe) release(g *gatedGateway, want int) {
	p.t.Helper()
	g.open()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := 0
	for _, o := range p.held {
		if o.status == 200 {
			ok++
		}
	}
	if ok != want || len(p.held) != want {
		p.t.Errorf("held requests: %d of %d served, want %d: %+v", ok, len(p.held), want, p.held)
	}
}

func figletTotals(t *testing.T, c *Controller) metricsrc.FunctionTotals {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tot, err := c.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := findFn(tot, "figlet")
	return f
}

// TestIntegrationQueueCap: with Concurrency 2 and MaxQueue 3, the request
// that finds 2 served and 3 waiting is refused at once (429 queue-full),
// a user's or a neighbour's, and counted as rejected (not local, not
// accepted from the neighbour); a new cap applied at run time takes
// effect without a reload, 0 removes it; once released, every request
// held is served, and later ones too.
func TestIntegrationQueueCap(t *testing.T) {
	g := newGatedGateway(t)
	c := startNode(t, g.srv.URL, nil)
	apply(t, c, queueState(2, 3))
	reloads := c.Stats().Reloads
	before := figletTotals(t, c)
	p := &queueProbe{t: t, c: c, client: &http.Client{Timeout: 20 * time.Second}}
	defer p.client.CloseIdleConnections()
	for range 5 {
		p.hold()
	}
	p.waitQueue(3)
	p.refused("6th user request", false)
	p.refused("6th request, forwarded by b", true)

	// A larger cap at run time: one more waits, the next is refused.
	apply(t, c, queueState(2, 4))
	p.hold()
	p.waitQueue(4)
	p.refused("7th request, cap 4", false)
	// No cap: the queue grows.
	apply(t, c, queueState(2, 0))
	p.hold()
	p.waitQueue(5)
	if r := c.Stats().Reloads; r != reloads {
		t.Errorf("changing the queue cap caused %d reloads", r-reloads)
	}
	p.release(g, 7)
	for i := range 3 {
		if o := do(p.client, http.MethodPost, c.publicURL()+"/function/figlet", nil); o.status != 200 {
			t.Errorf("request %d after the release: %+v", i, o)
		}
	}
	after := figletTotals(t, c)
	// 7 held and 3 after served locally; 3 refused (2 users', 1 b's).
	if d := after.Rejected - before.Rejected; d != 3 {
		t.Errorf("rejected: %d more, want 3", d)
	}
	if d := after.Local - before.Local; d != 10 {
		t.Errorf("local: %d more, want 10 (refusals are not local)", d)
	}
	if d := after.Offered - before.Offered; d != 12 {
		t.Errorf("offered: %d more, want 12 user requests", d)
	}
	if d := after.FromNeighbours - before.FromNeighbours; d != 0 {
		t.Errorf("from neighbours: %d more, want 0 (b's request was refused)", d)
	}
	// An operator sees the refusals on HAProxy's exporter.
	resp, err := http.Get("http://" + strings.TrimPrefix(c.o.metrics, ":") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `haproxy_backend_requests_denied_total{proxy="gw.figlet"} 3`; !strings.Contains(string(body), want) {
		t.Errorf("exporter lacks %q", want)
	}
}

// TestIntegrationQueueCapAfterRetry: a user request that neighbour b
// refuses (403 unknown-node) is retried locally; refused there by the
// queue cap, it reaches the user as 429 queue-full and is counted as
// rejected, though the retry frontend tracks no counter.
func TestIntegrationQueueCapAfterRetry(t *testing.T) {
	g := newGatedGateway(t)
	bad := refuser(t)
	c := startNode(t, g.srv.URL, nil)
	apply(t, c, proxyctl.State{
		Self:       "a",
		Functions:  []proxyctl.Function{{Name: "figlet", Concurrency: 1, MaxQueue: 1}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: bad.srv.URL, Functions: []string{"figlet"}, TokenOut: "t", TokenIn: "u", Forward: true}},
		Decision:   strategy.Decision{Routes: []strategy.Route{strategy.NewRoute("figlet", 0, 0, map[strategy.NodeID]float64{"b": 1})}},
	})
	before := figletTotals(t, c)
	p := &queueProbe{t: t, c: c, client: &http.Client{Timeout: 20 * time.Second}}
	defer p.client.CloseIdleConnections()
	p.hold()
	p.hold()
	p.waitQueue(1)
	p.refused("3rd request, retried locally", false)
	p.release(g, 2)
	after := figletTotals(t, c)
	if d := after.Rejected - before.Rejected; d != 1 {
		t.Errorf("rejected: %d more, want 1", d)
	}
	if bad.hits.Load() != 3 {
		t.Errorf("b got %d requests, want 3 (each tried there first)", bad.hits.Load())
	}
}

// TestIntegrationQueueCapBurst: 12 requests at once for a function with
// Concurrency 2 and MaxQueue 3: exactly 5 are held (2 served, 3 queued)
// and the 7 others refused at once with 429 queue-full.
func TestIntegrationQueueCapBurst(t *testing.T) {
	g := newGatedGateway(t)
	c := startNode(t, g.srv.URL, nil)
	apply(t, c, queueState(2, 3))
	p := &queueProbe{t: t, c: c, client: &http.Client{Timeout: 20 * time.Second}}
	defer p.client.CloseIdleConnections()
	const n = 12
	for range n {
		p.hold()
	}
	// Every request is answered (refused) or held: wait for that.
	refused, queued, served := 0, int64(0), int64(0)
	for range 200 {
		p.mu.Lock()
		refused = 0
		for _, o := range p.held {
			if o.status == 429 && o.rejected == proxyctl.RejectedQueueFull {
				refused++
			}
		}
		p.mu.Unlock()
		s := statOf(t, c, "gw.figlet", "gw")
		if s.Qcur != nil && s.Scur != nil {
			queued, served = *s.Qcur, *s.Scur
		}
		if int64(refused)+queued+served >= n {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if refused != n-5 || queued != 3 || served != 2 {
		t.Fatalf("burst of %d: %d refused queue-full, %d queued, %d served; want %d, 3, 2", n, refused, queued, served, n-5)
	}
	g.open()
	p.wg.Wait()
	ok := 0
	for _, o := range p.held {
		if o.status == 200 {
			ok++
		}
	}
	if ok != 5 {
		t.Errorf("after the release %d of the held requests served, want 5", ok)
	}
}
