package metricsrc

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Totals is a reading of cumulative counters, such as a proxy's request
// counts or a host's CPU time. Rates are differences of two readings.
type Totals struct {
	// Functions are sorted by Name.
	Functions []FunctionTotals
	Node      NodeTotals
	// Answers reports whether the neighbours' answers are counted
	// (NeighbourTotals.Succeeded and the following fields).
	Answers bool
	// Other counts, in one aggregate, the requests for names the data
	// plane keeps no counters for; its Name is empty.
	Other FunctionTotals
}

// FunctionTotals are cumulative request counts for one function; the fields
// mean what the same fields of FunctionRates mean.
type FunctionTotals struct {
	Name           string
	Offered        uint64
	Local          uint64
	FromNeighbours uint64
	Forwarded      uint64
	Rejected       uint64
	Failed         uint64
	// LatencySeconds is the sum of local processing times; LatencyCount
	// the number of requests it sums over.
	LatencySeconds float64
	LatencyCount   uint64
	// Neighbours are sorted by ID.
	Neighbours []NeighbourTotals
}

// NeighbourTotals are cumulative counts exchanged with one neighbour; the
// fields mean what the same fields of NeighbourRates mean.
type NeighbourTotals struct {
	ID        string
	Forwarded uint64
	Received  uint64
	Succeeded uint64
	Failed    uint64
	// LatencySeconds is the sum of the times to the succeeded answers;
	// LatencyCount the number of answers it sums over.
	LatencySeconds float64
	LatencyCount   uint64
}

// NodeTotals are a node's cumulative CPU time and energy, and its current
// memory. Zero means unknown.
type NodeTotals struct {
	CPUSeconds   float64 // busy CPU time, summed over cores
	CPUCores     float64
	Memory       float64 // bytes in use now
	MemoryTotal  float64
	EnergyJoules float64
}

// TotalsReader reads cumulative counters. Implementations must be safe for
// concurrent use.
type TotalsReader interface {
	Totals(ctx context.Context) (Totals, error)
}

// Counters is an in-memory set of cumulative per-function request counters,
// updated by a data plane (such as the embedded proxy) and read as a
// TotalsReader. All methods are safe for concurrent use; updates are
// lock-free once a function's counters exist.
//
// A data plane facing the public must not make counters for every name a
// client sends: it keeps per-function counters for the functions it routes
// (Retain) and counts requests for any other name in one aggregate
// (Other), which Totals reports apart (Totals.Other), never as a function.
// The rule for a function that
// leaves the routing state: Retain marks its counters retired; Totals
// keeps reporting them, unchanged but for requests still in flight, so that
// a reader sees their final values; the first Retain call made at least
// linger after the retirement removes them. A reader that reads at least
// once per linger therefore loses no count (Delta then reports no rates
// for the function). A retired function that is routed again keeps its
// counts; one routed again after its removal starts from zero, which Delta
// reads as a counter reset.
type Counters struct {
	mu      sync.RWMutex
	fns     map[string]*FunctionCounters
	other   FunctionCounters
	answers atomic.Bool
}

// NewCounters returns an empty Counters.
func NewCounters() *Counters { return &Counters{fns: map[string]*FunctionCounters{}} }

// MeasureAnswers declares that the data plane counts the answers of the
// neighbours it forwards to (FunctionCounters.AddAnswer), every one of
// them: Totals then reports Answers, and a node bounds what a neighbour
// receives by them (control.Trust).
func (c *Counters) MeasureAnswers() { c.answers.Store(true) }

// Function returns the counters of function name, creating them (and
// restoring them if they were retired). It does not bound the number of
// names: a data plane calls it only for names it routes (see Retain).
func (c *Counters) Function(name string) *FunctionCounters {
	c.mu.RLock()
	fc := c.fns[name]
	retired := fc != nil && !fc.retiredAt.IsZero()
	c.mu.RUnlock()
	if fc != nil && !retired {
		return fc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fc = c.fns[name]; fc == nil {
		fc = &FunctionCounters{name: name}
		c.fns[name] = fc
	}
	fc.retiredAt = time.Time{}
	return fc
}

// Other returns the aggregate counters of requests for functions that
// have no counters of their own (names outside the routing state, and
// every request a data plane serves before it has one). Totals reports
// them as Totals.Other.
func (c *Counters) Other() *FunctionCounters { return &c.other }

// Retain keeps per-function counters for names only: it creates those
// missing (or restores retired ones) and retires the others, removing
// those retired at least linger before now (see Counters for the rule).
func (c *Counters) Retain(names []string, now time.Time, linger time.Duration) {
	keep := make(map[string]bool, len(names))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		keep[n] = true
		fc := c.fns[n]
		if fc == nil {
			fc = &FunctionCounters{name: n}
			c.fns[n] = fc
		}
		fc.retiredAt = time.Time{}
	}
	for name, fc := range c.fns {
		switch {
		case keep[name]:
		case fc.retiredAt.IsZero():
			fc.retiredAt = now
		case now.Sub(fc.retiredAt) >= linger:
			delete(c.fns, name)
		}
	}
}

// Len returns the number of functions with counters of their own
// (retired ones included).
func (c *Counters) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.fns)
}

// Totals implements TotalsReader.
func (c *Counters) Totals(ctx context.Context) (Totals, error) {
	if err := ctx.Err(); err != nil {
		return Totals{}, err
	}
	c.mu.RLock()
	fcs := make([]*FunctionCounters, 0, len(c.fns))
	for _, fc := range c.fns {
		fcs = append(fcs, fc)
	}
	c.mu.RUnlock()
	t := Totals{Functions: make([]FunctionTotals, 0, len(fcs)), Answers: c.answers.Load(), Other: c.other.Totals()}
	for _, fc := range fcs {
		t.Functions = append(t.Functions, fc.Totals())
	}
	slices.SortFunc(t.Functions, func(a, b FunctionTotals) int { return strings.Compare(a.Name, b.Name) })
	return t, nil
}

// FunctionCounters are the cumulative counters of one function.
type FunctionCounters struct {
	name           string
	Offered        atomic.Uint64
	Local          atomic.Uint64
	FromNeighbours atomic.Uint64
	Forwarded      atomic.Uint64
	Rejected       atomic.Uint64
	Failed         atomic.Uint64
	latencyNanos   atomic.Uint64
	latencyCount   atomic.Uint64

	mu         sync.RWMutex
	neighbours map[string]*neighbourCounters

	retiredAt time.Time // guarded by the Counters' mu; zero if retained
}

type neighbourCounters struct {
	forwarded, received          atomic.Uint64
	succeeded, failed            atomic.Uint64
	latencyNanos, latencyAnswers atomic.Uint64
}

// AddAnswer counts the answer neighbour id returned to a user request
// forwarded to it: ok if it succeeded (the function's own answer: neither
// a 5xx nor a refusal of the neighbour's proxy, nor a time-out), with the
// time to it. A neighbour that could not be connected to answered nothing:
// a data plane does not call AddAnswer then.
func (fc *FunctionCounters) AddAnswer(id string, ok bool, latency time.Duration) {
	n := fc.neighbour(id)
	if !ok {
		n.failed.Add(1)
		return
	}
	n.succeeded.Add(1)
	n.latencyNanos.Add(uint64(max(0, latency)))
	n.latencyAnswers.Add(1)
}

// ObserveLatency records the processing time of one locally served request.
func (fc *FunctionCounters) ObserveLatency(d time.Duration) {
	if d < 0 {
		d = 0
	}
	fc.latencyNanos.Add(uint64(d))
	fc.latencyCount.Add(1)
}

// AddForwarded counts one user request forwarded to neighbour id (and in
// Forwarded).
func (fc *FunctionCounters) AddForwarded(id string) {
	fc.Forwarded.Add(1)
	fc.neighbour(id).forwarded.Add(1)
}

// AddReceived counts one request received from neighbour id (and in
// FromNeighbours).
func (fc *FunctionCounters) AddReceived(id string) {
	fc.FromNeighbours.Add(1)
	fc.neighbour(id).received.Add(1)
}

func (fc *FunctionCounters) neighbour(id string) *neighbourCounters {
	fc.mu.RLock()
	n := fc.neighbours[id]
	fc.mu.RUnlock()
	if n != nil {
		return n
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.neighbours == nil {
		fc.neighbours = map[string]*neighbourCounters{}
	}
	if n = fc.neighbours[id]; n == nil {
		n = &neighbourCounters{}
		fc.neighbours[id] = n
	}
	return n
}

// Totals returns the counters' values (Name is "" for Counters.Other).
func (fc *FunctionCounters) Totals() FunctionTotals {
	t := FunctionTotals{
		Name:           fc.name,
		Offered:        fc.Offered.Load(),
		Local:          fc.Local.Load(),
		FromNeighbours: fc.FromNeighbours.Load(),
		Forwarded:      fc.Forwarded.Load(),
		Rejected:       fc.Rejected.Load(),
		Failed:         fc.Failed.Load(),
		LatencySeconds: time.Duration(fc.latencyNanos.Load()).Seconds(),
		LatencyCount:   fc.latencyCount.Load(),
	}
	fc.mu.RLock()
	for id, n := range fc.neighbours {
		t.Neighbours = append(t.Neighbours, NeighbourTotals{
			ID: id, Forwarded: n.forwarded.Load(), Received: n.received.Load(),
			Succeeded: n.succeeded.Load(), Failed: n.failed.Load(),
			LatencySeconds: time.Duration(n.latencyNanos.Load()).Seconds(), LatencyCount: n.latencyAnswers.Load(),
		})
	}
	fc.mu.RUnlock()
	slices.SortFunc(t.Neighbours, func(a, b NeighbourTotals) int { return strings.Compare(a.ID, b.ID) })
	return t
}

// Combine returns a TotalsReader whose function counters come from fns and
// whose node counters come from node. Either may be nil.
func Combine(fns, node TotalsReader) TotalsReader { return combined{fns, node} }

type combined struct{ fns, node TotalsReader }

func (c combined) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	if c.fns != nil {
		ft, err := c.fns.Totals(ctx)
		if err != nil {
			return Totals{}, err
		}
		t.Functions, t.Answers, t.Other = ft.Functions, ft.Answers, ft.Other
	}
	if c.node != nil {
		nt, err := c.node.Totals(ctx)
		if err != nil {
			return Totals{}, err
		}
		t.Node = nt.Node
	}
	return t, nil
}

// Interface guards.
var _ TotalsReader = (*Counters)(nil)
