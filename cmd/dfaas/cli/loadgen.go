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

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// outcome classifies the answer to one user request.
type outcome uint8

const (
	outServed   outcome = iota // 2xx
	outRejected                // refused on purpose by a proxy (DFaaS-Rejected)
	outFailed                  // anything else: error status, time-out, connection error
)

// record is one user request as the load generator saw it.
type record struct {
	node      string
	at        time.Duration // since the start of the load
	latency   time.Duration
	status    int
	out       outcome
	forwarded bool
}

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
	recs   []record

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
	rec := record{node: s.node, at: t0.Sub(start), out: outFailed}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(s.body))
	if err == nil {
		var resp *http.Response
		resp, err = lg.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rec.status = resp.StatusCode
			rec.forwarded = resp.Header.Get(proxyctl.HeaderForwardedTo) != ""
			switch {
			case resp.StatusCode/100 == 2:
				rec.out = outServed
			case resp.Header.Get(proxyctl.HeaderRejected) != "":
				rec.out = outRejected
			}
		}
	}
	rec.latency = time.Since(t0)
	switch rec.out {
	case outServed:
		lg.served.Add(1)
	case outRejected:
		lg.rejected.Add(1)
	default:
		lg.failed.Add(1)
	}
	if rec.forwarded {
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
	res := sim.Result{Scenario: scenario, Strategy: strat, Mode: mode}
	var all []time.Duration
	per := map[string]*sim.NodeStat{}
	lats := map[string][]time.Duration{}
	for _, n := range nodes {
		per[n] = &sim.NodeStat{ID: n}
	}
	for _, r := range lg.recs {
		ns := per[r.node]
		if ns == nil {
			continue
		}
		ns.Offered++
		switch r.out {
		case outServed:
			ns.Served++
			all = append(all, r.latency)
			lats[r.node] = append(lats[r.node], r.latency)
		case outRejected:
			ns.Rejected++
		default:
			ns.Failed++
		}
		if r.forwarded {
			ns.Forwarded++
		}
	}
	for _, n := range nodes {
		ns := per[n]
		ns.SuccessRate = sim.Rate(ns.Served, ns.Offered)
		ns.Latency = sim.QuantilesOf(lats[n])
		res.Offered += ns.Offered
		res.Served += ns.Served
		res.Rejected += ns.Rejected
		res.Failed += ns.Failed
		res.Forwarded += ns.Forwarded
		res.Nodes = append(res.Nodes, *ns)
	}
	res.SuccessRate = sim.Rate(res.Served, res.Offered)
	res.Latency = sim.QuantilesOf(all)
	return res
}
