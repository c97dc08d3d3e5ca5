package loadgen

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// DefaultMaxInFlight bounds the requests a Generator has open at once when
// its MaxInFlight is 0.
const DefaultMaxInFlight = 20000

// TooManyInFlight is the Error of the records of arrivals dropped
// because MaxInFlight requests were open.
const TooManyInFlight = "load generator: too many requests in flight"

// Stream is a stream of user requests: POSTs of Body to URL at the times
// Arrivals gives.
type Stream struct {
	// Node and Function name the records (Node: where the users are).
	Node, Function string
	URL            string
	// Target, if set, picks each request's function and URL instead of
	// Function and URL.
	Target   func() (function, url string)
	Body     string
	Client   *http.Client
	Arrivals Arrivals
}

// Counts are live counts of a generator's requests, for progress lines.
// Offered counts arrivals when they are due; the others requests when
// they end. Forwarded ones are also counted by their outcome.
type Counts struct {
	Offered, Served, Forwarded, Rejected, Failed atomic.Int64
}

// Generator sends streams of requests open-loop and records each. The
// zero value is ready to use; set the options before Run.
type Generator struct {
	// MaxInFlight bounds the requests open at once; an arrival beyond it
	// is recorded as failed (TooManyInFlight) without being sent, as
	// the generator, not the system, would be the bottleneck. 0:
	// DefaultMaxInFlight.
	MaxInFlight int64
	// Name maps the node IDs of the response headers (served by,
	// forwarded to) to the names the records use; nil keeps them.
	Name func(id string) string
	// Detach lets requests in flight when Run's context ends complete
	// (each bounded by its client's time-out) instead of canceling them:
	// only the arrivals stop.
	Detach bool
	// OnDone, if set, is called with each request's record and error
	// (nil unless the request failed to get an answer) when it ends,
	// from the request's goroutine.
	OnDone func(rec report.Record, err error)
	// NoRecords keeps the counts only, not the records (for long runs
	// that need no per-request data).
	NoRecords bool

	Counts
	inFlight atomic.Int64
	mu       sync.Mutex
	recs     []report.Record
}

// Run sends the streams, offsets counted from start, until their
// arrivals end or ctx is done, and returns when every request it sent has
// ended.
func (g *Generator) Run(ctx context.Context, start time.Time, streams []Stream) {
	reqCtx := ctx
	if g.Detach {
		reqCtx = context.WithoutCancel(ctx)
	}
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(func() { g.stream(ctx, reqCtx, &wg, s, start) })
	}
	wg.Wait()
}

// stream waits for each arrival of s and sends it in a goroutine of wg.
func (g *Generator) stream(ctx, reqCtx context.Context, wg *sync.WaitGroup, s Stream, start time.Time) {
	limit := g.MaxInFlight
	if limit <= 0 {
		limit = DefaultMaxInFlight
	}
	tm := time.NewTimer(0)
	defer tm.Stop()
	<-tm.C
	for {
		at, ok := s.Arrivals.Next()
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
		fn, url := s.Function, s.URL
		if s.Target != nil {
			fn, url = s.Target()
		}
		g.Offered.Add(1)
		rec := report.Record{At: at, Node: s.Node, Function: fn}
		if g.inFlight.Add(1) > limit {
			g.inFlight.Add(-1)
			rec.Outcome, rec.Error = report.Failed, TooManyInFlight
			g.done(rec, nil)
			continue
		}
		wg.Go(func() {
			defer g.inFlight.Add(-1)
			err := Post(reqCtx, s.Client, url, s.Body, &rec, g.Name)
			g.done(rec, err)
		})
	}
}

// done counts and keeps rec.
func (g *Generator) done(rec report.Record, err error) {
	if g.OnDone != nil {
		g.OnDone(rec, err)
	}
	switch rec.Outcome {
	case report.Served:
		g.Served.Add(1)
	case report.Rejected:
		g.Rejected.Add(1)
	default:
		g.Failed.Add(1)
	}
	if rec.Forwarded() {
		g.Forwarded.Add(1)
	}
	if g.NoRecords {
		return
	}
	g.mu.Lock()
	g.recs = append(g.recs, rec)
	g.mu.Unlock()
}

// Records returns a copy of the records, sorted by time.
func (g *Generator) Records() []report.Record {
	g.mu.Lock()
	out := append([]report.Record(nil), g.recs...)
	g.mu.Unlock()
	report.SortRecords(out)
	return out
}

// Result summarises the records as the result object of every mode, with
// nodes in the given order.
func (g *Generator) Result(scenario, strat, mode string, nodes []string) sim.Result {
	res := report.Summarize(scenario, strat, nodes, g.Records())
	res.Mode = mode
	return res
}

// Post sends one user request (POST body to url) and fills rec with its
// status, outcome (served: 2xx; rejected: refused on purpose by a proxy;
// else failed), error and latency. name (nil: identity) maps node IDs of
// the response headers to the names the records use. It returns the error
// that kept the request from an answer, if any.
func Post(ctx context.Context, client *http.Client, url, body string, rec *report.Record, name func(string) string) error {
	if name == nil {
		name = func(id string) string { return id }
	}
	rec.Outcome = report.Failed
	t0 := time.Now()
	defer func() { rec.Latency = time.Since(t0) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		rec.Error = err.Error()
		return err
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		rec.Error = err.Error()
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	rec.Status = resp.StatusCode
	rec.ForwardedTo = name(resp.Header.Get(proxyctl.HeaderForwardedTo))
	rec.ServedBy = name(resp.Header.Get(proxyctl.HeaderServedBy))
	switch reason := resp.Header.Get(proxyctl.HeaderRejected); {
	case resp.StatusCode/100 == 2:
		rec.Outcome = report.Served
	case reason != "":
		rec.Outcome = report.Rejected
		rec.Reason = reason[:min(len(reason), maxReason)]
	}
	return nil
}

// maxReason bounds the rejection reason a record keeps (the proxies'
// are single words).
const maxReason = 32
