package goproxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestQueueCap: with Concurrency 2 and MaxQueue 3, five requests in
// flight at a slow FaaS fill the function's slots and queue: a sixth, a
// user's or a neighbour's, with a small or a streamed body, is refused at
// once (429 queue-full) and counted as rejected and in the metric; once
// the five are answered, the count is back to 0 and requests are served
// again. With MaxQueue 0 or an unknown Concurrency there is no cap.
func TestQueueCap(t *testing.T) {
	for _, tt := range []struct {
		name           string
		conc, maxQueue int
		from           string
		size           int
		capped         bool
	}{
		{"user, small body", 2, 3, "", 5, true},
		{"user, streamed body", 2, 3, "", 20 << 10, true},
		{"user, no body", 2, 3, "", 0, true},
		{"neighbour", 2, 3, "b", 5, true},
		{"neighbour, streamed body", 2, 3, "b", 20 << 10, true},
		{"MaxQueue 0", 2, 0, "", 5, false},
		{"unknown concurrency", 0, 3, "b", 5, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			faas, p, url := gatedProxy(t, queueState(tt.conc, tt.maxQueue))
			url += "/function/fn"
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			first := postAll(c, url, tt.from, tt.size, 5)
			faas.waitArrived(t, 5)
			served := 10
			if tt.capped {
				checkQueueFull(t, postAt(context.Background(), c, url, tt.from, tt.size), "fn")
			} else {
				sixth := postAll(c, url, tt.from, tt.size, 1)
				faas.waitArrived(t, 6)
				defer checkServed(t, sixth)
				served++
			}
			faas.release()
			checkServed(t, first)
			if tt.capped {
				waitInFlight(t, p, "fn", 0)
			}
			checkServed(t, postAll(c, url, tt.from, tt.size, 5))
			checkQueueCounters(t, p, tt.from != "", tt.capped, served)
		})
	}
}

// checkQueueCounters checks the counters of fn after served requests
// served and, if capped, one refused as queue-full, all from a neighbour
// or all from users.
func checkQueueCounters(t *testing.T, p *Proxy, fromNeighbour, capped bool, served int) {
	t.Helper()
	refused := 0
	if capped {
		refused = 1
	}
	offered := served + refused
	if fromNeighbour {
		offered = 0
	}
	tot, _ := p.Counters().Totals(context.Background())
	f := tot.Functions[0]
	received := 0
	if fromNeighbour {
		received = served // a neighbour's request refused is not received
	}
	if f.Rejected != uint64(refused) || f.Local != uint64(served) || f.Offered != uint64(offered) || f.FromNeighbours != uint64(received) {
		t.Errorf("counters %+v, want %d rejected, %d local, %d offered, %d from neighbours", f, refused, served, offered, received)
	}
	if got := queueFullMetric(t, p, "fn"); got != float64(refused) {
		t.Errorf("%s = %v, want %d", MetricQueueFull, got, refused)
	}
}

// TestQueueCountAcrossApply: decisions applied while requests are in
// flight keep their count, whatever changes (the decision, the cap, the
// function leaving and coming back): each request releases its place
// once, and the count is back to 0 when all are answered.
func TestQueueCountAcrossApply(t *testing.T) {
	faas, p, url := gatedProxy(t, queueState(2, 3))
	url += "/function/fn"
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	held := []<-chan answer{postAll(c, url, "", 5, 5)}
	faas.waitArrived(t, 5)
	inFlightN := int64(5)
	withDecision := queueState(2, 3)
	withDecision.Decision = strategy.Decision{Routes: []strategy.Route{{Function: "fn", Local: 1}}}
	for _, step := range []struct {
		name  string
		state proxyctl.State
		want  int // 429: refused; 200: served (held at the FaaS); 404
	}{
		{"a new decision", withDecision, 429},
		{"a lower cap", queueState(2, 1), 429},
		{"the cap lifted", queueState(2, 0), 200},
		{"the cap back", queueState(2, 3), 429},
		{"the function gone", proxyctl.State{Self: "a"}, 404},
		{"the function back", queueState(3, 3), 429},
		{"a higher cap", queueState(2, 5), 200},
	} {
		if err := p.Apply(context.Background(), step.state); err != nil {
			t.Fatal(err)
		}
		switch step.want {
		case http.StatusOK:
			held = append(held, postAll(c, url, "", 5, 1))
			inFlightN++
			faas.waitArrived(t, inFlightN)
		case http.StatusTooManyRequests:
			checkQueueFull(t, postAt(context.Background(), c, url, "", 5), "fn")
		default:
			if a := postAt(context.Background(), c, url, "", 5); a.status != step.want {
				t.Fatalf("%s: status %d %v, want %d", step.name, a.status, a.err, step.want)
			}
		}
		if n := inFlight(p, "fn"); n != inFlightN {
			t.Fatalf("%s: %d in flight, want %d", step.name, n, inFlightN)
		}
	}
	faas.release()
	for _, ch := range held {
		checkServed(t, ch)
	}
	waitInFlight(t, p, "fn", 0)
	if got := queueFullMetric(t, p, "fn"); got != 4 {
		t.Errorf("%s = %v, want 4", MetricQueueFull, got)
	}
}

// TestQueueBoundsConcurrentRequests reproduces a flood: 200 concurrent
// requests for a function with Concurrency 2 and MaxQueue 3 whose FaaS
// answers nothing until released. Five reach the FaaS; the other 195 are
// refused at once and hold nothing: the goroutines of the process fall
// back to within a few per request in flight, not per request sent.
func TestQueueBoundsConcurrentRequests(t *testing.T) {
	const n, limit = 200, 5
	faas, p, url := gatedProxy(t, queueState(2, 3))
	url += "/function/fn"
	// No keep-alive: a refused client's connection (and its goroutines)
	// ends with its answer.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer c.CloseIdleConnections()
	runtime.GC()
	before := runtime.NumGoroutine()
	answers := postAll(c, url, "", 5, n)
	refused, served := 0, 0
	for ; refused < n-limit; refused++ {
		checkQueueFull(t, <-answers, "fn")
	}
	faas.waitArrived(t, limit)
	// Per request in flight: the client's call and its connection's two
	// loops, the proxy's handler and its connection's background read,
	// the FaaS's: 7 (and 2 for the test's own); without the cap, every
	// request sent would hold as many.
	bound := before + 15*limit
	waitGoroutines(t, bound)
	t.Logf("goroutines: %d before, %d with %d requests in flight and %d refused (bound %d)", before, runtime.NumGoroutine(), limit, refused, bound)
	if got := inFlight(p, "fn"); got != limit {
		t.Fatalf("%d in flight, want %d", got, limit)
	}
	faas.release()
	for a := range answers {
		if a.status == http.StatusOK {
			served++
		}
	}
	faas.mu.Lock()
	peak := faas.peak
	faas.mu.Unlock()
	if served != limit || peak != limit {
		t.Fatalf("%d served, at most %d at once at the FaaS; want %d", served, peak, limit)
	}
}

// waitGoroutines waits until the process runs at most n goroutines (the
// refused requests' connections close asynchronously).
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for i := 0; runtime.NumGoroutine() > n; i++ {
		if i == 5000 {
			t.Fatalf("%d goroutines, want at most %d", runtime.NumGoroutine(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// panicWriter is a ResponseWriter whose WriteHeader panics, as a handler
// wrapping the proxy might.
type panicWriter struct{ h http.Header }

func (w *panicWriter) Header() http.Header         { return w.h }
func (w *panicWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *panicWriter) WriteHeader(int)             { panic("WriteHeader") }

// TestQueuePlaceReleased: a request releases its place in the queue
// however it ends: answered, its client gone, the FaaS unreachable, a
// panic in the answer (recovered by the server), or served locally after
// its neighbour could not be reached; the count is then back to 0.
func TestQueuePlaceReleased(t *testing.T) {
	forwardAll := forwardAllState(t)
	for _, tt := range []struct {
		name  string
		state proxyctl.State
		faas  string // "gate", "open" or "down"
		size  int
		do    func(t *testing.T, p *Proxy, url string, size int, faas *gateFaaS)
	}{
		{"answered", queueState(2, 3), "open", 5, wantStatus(http.StatusOK)},
		{"client gone, small body", queueState(2, 3), "gate", 5, cancelAfterArrival},
		{"client gone, streamed body", queueState(2, 3), "gate", 20 << 10, cancelAfterArrival},
		{"FaaS down, small body", queueState(2, 3), "down", 5, wantStatus(http.StatusBadGateway)},
		{"FaaS down, streamed body", queueState(2, 3), "down", 20 << 10, wantStatus(http.StatusBadGateway)},
		{"panic in the answer", queueState(2, 3), "open", 5, panicInAnswer},
		{"fallback, small body", forwardAll, "open", 5, wantStatus(http.StatusOK)},
		{"fallback, streamed body", forwardAll, "open", 20 << 10, wantStatus(http.StatusOK)},
		{"fallback, FaaS down", forwardAll, "down", 5, wantStatus(http.StatusBadGateway)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			faas := newGateFaaS(t)
			faasURL := faas.url
			switch tt.faas {
			case "open":
				faas.release()
			case "down":
				faasURL = closedPeer(t).srv.URL
			}
			p, url := appliedProxy(t, Config{FaaSURL: faasURL}, tt.state)
			tt.do(t, p, url+"/function/fn", tt.size, faas)
			waitInFlight(t, p, "fn", 0)
		})
	}
}

// wantStatus sends a request and checks its status.
func wantStatus(code int) func(*testing.T, *Proxy, string, int, *gateFaaS) {
	return func(t *testing.T, _ *Proxy, url string, size int, _ *gateFaaS) {
		t.Helper()
		if a := postAt(context.Background(), http.DefaultClient, url, "", size); a.status != code {
			t.Fatalf("status %d %v, want %d", a.status, a.err, code)
		}
	}
}

// cancelAfterArrival sends a request and cancels it once it is at the
// FaaS.
func cancelAfterArrival(t *testing.T, p *Proxy, url string, size int, faas *gateFaaS) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan answer, 1)
	go func() { done <- postAt(ctx, http.DefaultClient, url, "", size) }()
	faas.waitArrived(t, 1)
	if n := inFlight(p, "fn"); n != 1 {
		t.Errorf("%d in flight, want 1", n)
	}
	cancel()
	if a := <-done; a.err == nil {
		t.Fatalf("status %d, want the client's cancellation", a.status)
	}
}

// panicInAnswer serves a request with a ResponseWriter that panics when
// the FaaS's answer is relayed.
func panicInAnswer(t *testing.T, p *Proxy, url string, size int, _ *gateFaaS) {
	r := httptest.NewRequest(http.MethodPost, url, strings.NewReader(strings.Repeat("x", size)))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the answer did not panic")
			}
		}()
		p.ServeHTTP(&panicWriter{h: http.Header{}}, r)
	}()
}

// forwardAllState is queueState(2, 3) with a decision that forwards every
// user request to b, which cannot be reached: each is then served here.
func forwardAllState(t *testing.T) proxyctl.State {
	s := queueState(2, 3)
	s.Neighbours[0].Forward, s.Neighbours[0].Functions = true, []string{"fn"}
	s.Neighbours[0].URL = closedPeer(t).srv.URL
	s.Decision = strategy.Decision{Routes: []strategy.Route{{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}}}
	return s
}

// TestFallbackQueueFull: a user request whose neighbour cannot be reached
// is served here only within the queue cap: with five of the neighbour's
// own requests filling the slots and the queue, it is refused as
// queue-full (with a small or a streamed body), and counted as offered
// and rejected.
func TestFallbackQueueFull(t *testing.T) {
	faas, p, url := gatedProxy(t, forwardAllState(t))
	url += "/function/fn"
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	held := postAll(c, url, "b", 5, 5)
	faas.waitArrived(t, 5)
	for _, size := range []int{5, 20 << 10} {
		checkQueueFull(t, postAt(context.Background(), c, url, "", size), "fn")
	}
	faas.release()
	checkServed(t, held)
	tot, _ := p.Counters().Totals(context.Background())
	if f := tot.Functions[0]; f.Offered != 2 || f.Rejected != 2 || f.Local != 5 || f.FromNeighbours != 5 {
		t.Errorf("counters %+v, want 2 offered and rejected, 5 local from neighbours", f)
	}
	if got := queueFullMetric(t, p, "fn"); got != 2 {
		t.Errorf("%s = %v, want 2", MetricQueueFull, got)
	}
}
