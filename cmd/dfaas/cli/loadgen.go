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
	recorder
}

// recorder keeps the records of a load generator, with live counts of
// them for progress lines. Offered is counted by the sender, when a request
// is due; the others by record.
type recorder struct {
	mu   sync.Mutex
	recs []report.Record

	offered, served, forwarded, rejected, failed atomic.Int64
}

// record adds rec and counts its outcome.
func (r *recorder) record(rec report.Record) {
	switch rec.Outcome {
	case report.Served:
		r.served.Add(1)
	case report.Rejected:
		r.rejected.Add(1)
	default:
		r.failed.Add(1)
	}
	if rec.Forwarded() {
		r.forwarded.Add(1)
	}
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

// post sends one user request (POST body to url) and fills rec with its
// status, outcome (served: 2xx; rejected: refused on purpose by a proxy;
// else failed), error and latency. name maps node IDs of the response
// headers to the names the records use.
func post(ctx context.Context, client *http.Client, url, body string, rec *report.Record, name func(string) string) {
	rec.Outcome = report.Failed
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "text/plain")
		var resp *http.Response
		resp, err = client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rec.Status = resp.StatusCode
			rec.ForwardedTo = name(resp.Header.Get(proxyctl.HeaderForwardedTo))
			rec.ServedBy = name(resp.Header.Get(proxyctl.HeaderServedBy))
			switch {
			case resp.StatusCode/100 == 2:
				rec.Outcome = report.Served
			case resp.Header.Get(proxyctl.HeaderRejected) != "":
				rec.Outcome = report.Rejected
			}
		}
	}
	if err != nil {
		rec.Error = err.Error()
	}
	rec.Latency = time.Since(t0)
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
	rec := report.Record{At: time.Since(start), Node: s.node}
	post(ctx, lg.client, s.url, s.body, &rec, func(id string) string { return id })
	lg.record(rec)
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
