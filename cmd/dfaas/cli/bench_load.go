package cli

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// benchMaxInFlight bounds the requests the load generator has open at
// once; arrivals beyond it count as failed (the generator, not the
// system, would be the bottleneck).
const benchMaxInFlight = 20000

// benchStream is one scenario load entry aimed at its node's proxy.
type benchStream struct {
	node   string // scenario node ID
	load   sim.Load
	url    string
	client *http.Client
}

// benchArrivals generates the arrival times in [0, d) of a Poisson stream
// whose rate is l.RateAt(t): exponential gaps at the current rate, started
// afresh at every step boundary (the process is memoryless, so this is
// exact for piecewise-constant rates).
type benchArrivals struct {
	l   sim.Load
	d   time.Duration
	rnd *rand.Rand
	t   time.Duration // last arrival or boundary
	end time.Duration // end of the current constant-rate interval
}

func newBenchArrivals(l sim.Load, d time.Duration, rnd *rand.Rand) *benchArrivals {
	a := &benchArrivals{l: l, d: d, rnd: rnd}
	a.end = a.intervalEnd(0)
	return a
}

// intervalEnd returns the end of the constant-rate interval holding t.
func (a *benchArrivals) intervalEnd(t time.Duration) time.Duration {
	step := a.l.Step.D()
	if step > 0 && len(a.l.Rates) > 1 {
		if k := int(t / step); k < len(a.l.Rates)-1 {
			return min(a.d, time.Duration(k+1)*step)
		}
	}
	return a.d
}

// next returns the next arrival, or false after the last.
func (a *benchArrivals) next() (time.Duration, bool) {
	for a.t < a.d {
		if r := a.l.RateAt(a.t); r > 0 {
			t := a.t + time.Duration(a.rnd.ExpFloat64()/r*float64(time.Second))
			if t < a.end {
				a.t = t
				return t, true
			}
		}
		a.t = a.end
		a.end = a.intervalEnd(a.t)
	}
	return 0, false
}

// benchLoad sends open-loop Poisson traffic and records every request.
type benchLoad struct {
	timeout time.Duration
	names   map[string]string // node ID (peer ID) → scenario node ID

	recorder
	inFlight atomic.Int64
}

// benchClient returns an HTTP client for the users of one node.
func benchClient(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         dial,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}

// run sends the streams from start for d (or until ctx is done) and waits
// for every request to end. Stream i draws its arrivals from a generator
// seeded with (seed, i).
func (lg *benchLoad) run(ctx context.Context, streams []benchStream, start time.Time, d time.Duration, seed uint64) {
	var wg sync.WaitGroup
	for i, s := range streams {
		arr := newBenchArrivals(s.load, d, rand.New(rand.NewPCG(seed, uint64(i))))
		wg.Go(func() {
			tm := time.NewTimer(0)
			defer tm.Stop()
			<-tm.C
			for {
				at, ok := arr.next()
				if !ok {
					return
				}
				if wait := time.Until(start.Add(at)); wait > 0 {
					tm.Reset(wait)
					select {
					case <-ctx.Done():
						return
					case <-tm.C:
					}
				} else if ctx.Err() != nil {
					return
				}
				lg.offered.Add(1)
				if lg.inFlight.Add(1) > benchMaxInFlight {
					lg.inFlight.Add(-1)
					lg.record(report.Record{At: at, Node: s.node, Function: s.load.Function, Outcome: report.Failed, Error: "load generator: too many requests in flight"})
					continue
				}
				wg.Go(func() {
					defer lg.inFlight.Add(-1)
					lg.one(ctx, s, start, at)
				})
			}
		})
	}
	wg.Wait()
}

// one sends one request due at offset at and records it.
func (lg *benchLoad) one(ctx context.Context, s benchStream, start time.Time, at time.Duration) {
	rec := report.Record{At: at, Node: s.node, Function: s.load.Function}
	post(ctx, s.client, s.url, "Hello World!", &rec, lg.name)
	lg.record(rec)
}

// name maps a node ID from a response header to its scenario name.
func (lg *benchLoad) name(id string) string {
	if n, ok := lg.names[id]; ok {
		return n
	}
	return id
}

// records returns the records sorted by time.
func (lg *benchLoad) records() []report.Record {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	out := append([]report.Record(nil), lg.recs...)
	report.SortRecords(out)
	return out
}
