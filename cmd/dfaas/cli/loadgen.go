package cli

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// stream is a Poisson stream of user requests to one URL.
type stream struct {
	node string
	url  string
	rate float64 // req/s
	body string
}

// loadGen sends open-loop Poisson traffic and records every request.
type loadGen struct {
	client *http.Client
	mu     sync.Mutex
	recs   []report.Record

	served, rejected, failed, forwarded, offered atomic.Int64
}

func newLoadGen(timeout time.Duration) *loadGen {
	return &loadGen{client: &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns:        2048,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     30 * time.Second,
		},
	}}
}

// run sends the streams for d (or until ctx is done) and waits for every
// request to finish. Arrivals are drawn from rand seeded with seed.
func (lg *loadGen) run(ctx context.Context, streams []stream, d time.Duration, seed uint64) {
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range streams {
		if s.rate <= 0 {
			continue
		}
		rnd := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Go(func() {
			next := start
			for {
				next = next.Add(time.Duration(rnd.ExpFloat64() / s.rate * float64(time.Second)))
				if next.Sub(start) >= d {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				wg.Go(func() { lg.one(ctx, s, start) })
			}
		})
	}
	wg.Wait()
	lg.client.CloseIdleConnections()
}

// one sends one request and records it.
func (lg *loadGen) one(ctx context.Context, s stream, start time.Time) {
	lg.offered.Add(1)
	t0 := time.Now()
	rec := report.Record{At: t0.Sub(start), Node: s.node, Outcome: report.Failed}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(s.body))
	if err == nil {
		var resp *http.Response
		resp, err = lg.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rec.Status = resp.StatusCode
			rec.ForwardedTo = resp.Header.Get(proxyctl.HeaderForwardedTo)
			switch {
			case resp.StatusCode/100 == 2:
				rec.Outcome = report.Served
			case resp.Header.Get(proxyctl.HeaderRejected) != "":
				rec.Outcome = report.Rejected
			}
		}
	}
	rec.Latency = time.Since(t0)
	switch rec.Outcome {
	case report.Served:
		lg.served.Add(1)
	case report.Rejected:
		lg.rejected.Add(1)
	default:
		lg.failed.Add(1)
	}
	if rec.Forwarded() {
		lg.forwarded.Add(1)
	}
	lg.mu.Lock()
	lg.recs = append(lg.recs, rec)
	lg.mu.Unlock()
}

// result summarises the records as the shared result object, with nodes in
// the given order.
func (lg *loadGen) result(scenario, strat, mode string, nodes []string) sim.Result {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	res := report.Summarize(scenario, strat, nodes, lg.recs)
	res.Mode = mode
	return res
}
