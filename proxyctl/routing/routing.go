package routing

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// BurstWindow is the burst a rate cap allows: a cap of r req/s lets
// r·BurstWindow requests through at once (at least one, unless r is 0).
const BurstWindow = 500 * time.Millisecond

// Picker realises weights exactly with a smooth weighted round robin.
// Weights that are negative, NaN or infinite count as 0.
type Picker struct {
	weights []float64
	current []float64
	total   float64
}

// NewPicker returns a picker over weights; it keeps the slice.
func NewPicker(weights []float64) Picker {
	var t float64
	for i, w := range weights {
		if !(w > 0) || math.IsInf(w, 0) {
			weights[i] = 0
			continue
		}
		t += w
	}
	return Picker{weights: weights, current: make([]float64, len(weights)), total: t}
}

// Pick returns the index of the next destination, or -1 if every weight is
// zero.
func (p *Picker) Pick() int {
	if p.total <= 0 {
		return -1
	}
	best := -1
	for i, w := range p.weights {
		if w <= 0 {
			continue
		}
		p.current[i] += w
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= p.total
	return best
}

// Bucket is a token bucket: rate tokens per second, at most burst, which
// starts full. The zero Bucket refuses everything.
type Bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// NewBucket returns a full bucket for rate (req/s) at time now.
func NewBucket(rate float64, now time.Time) Bucket {
	b := burst(rate)
	return Bucket{rate: rate, burst: b, tokens: b, last: now}
}

func burst(rate float64) float64 {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return 0
	}
	return max(1, rate*BurstWindow.Seconds())
}

// Rate returns the bucket's rate.
func (b *Bucket) Rate() float64 { return b.rate }

// Carry returns the bucket for a new rate from time now: it keeps the
// tokens b has left (refilled up to now, at most the new burst), so that a
// new decision neither refills a bucket nor lets a burst through.
func (b Bucket) Carry(rate float64, now time.Time) Bucket {
	b.refill(now)
	b.rate = rate
	b.burst = burst(rate)
	b.tokens = min(b.tokens, b.burst)
	return b
}

// refill adds the tokens earned up to now.
func (b *Bucket) refill(now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.burst, b.tokens+b.rate*float64(dt)/1e9)
		b.last = now
	}
}

// Take consumes a token at time now and reports whether one was available.
func (b *Bucket) Take(now time.Time) bool {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// Choice is what happens to a user request.
type Choice uint8

// Choices of Route.Pick.
const (
	Reject Choice = iota
	Local
	Forward
)

// Route is a route compiled for a proxy: the pickers over its shares and
// the buckets of its caps. The zero Route rejects everything.
type Route struct {
	all      Picker // over [local, reject, forward...]
	overflow Picker // over forward... (for requests above the local limit)
	limited  bool
	limit    Bucket
	admit    []admission // sorted by node
	local    bool        // the route serves locally (a local share)
	counts   counts      // of the forwarding caps (SetCaps)
	over     uint64      // requests sent elsewhere by a cap
}

type admission struct {
	node   strategy.NodeID
	bucket Bucket
}

// Compile compiles r, a validated route, at time now. old, if not nil, is
// the route it replaces: its buckets carry over (see Bucket.Carry) to the
// caps r keeps. Compile does not modify old. A forwarding destination is
// designated by its index in r.Forward.
func Compile(r strategy.Route, old *Route, now time.Time) Route {
	weights := make([]float64, 2, 2+len(r.Forward))
	weights[0], weights[1] = r.Local, r.Reject
	fwd := make([]float64, 0, len(r.Forward))
	for _, sh := range r.Forward {
		weights = append(weights, sh.Share)
		fwd = append(fwd, sh.Share)
	}
	c := Route{all: NewPicker(weights), overflow: NewPicker(fwd), local: r.Local > 0}
	if r.LocalLimit > 0 {
		c.limited = true
		if old != nil && old.limited {
			c.limit = old.limit.Carry(r.LocalLimit, now)
		} else {
			c.limit = NewBucket(r.LocalLimit, now)
		}
	}
	for _, l := range r.Admit {
		a := admission{node: l.Node}
		if ob, ok := old.admission(l.Node); ok {
			a.bucket = ob.Carry(l.Rate, now)
		} else {
			a.bucket = NewBucket(l.Rate, now)
		}
		c.admit = append(c.admit, a)
	}
	slices.SortFunc(c.admit, func(a, b admission) int { return strings.Compare(string(a.node), string(b.node)) })
	return c
}

// Default returns the route the Decision contract gives a function without
// a route: local service if it is deployed here, else forwarding evenly
// among the runners neighbours that run it (destination i is the i-th
// runner), and ok false if neither (the proxy refuses the request: 404).
func Default(deployed bool, runners int) (r Route, ok bool) {
	switch {
	case deployed:
		return Route{all: NewPicker([]float64{1, 0}), local: true}, true
	case runners > 0:
		w := make([]float64, 2+runners)
		fwd := make([]float64, runners)
		for i := range runners {
			w[2+i], fwd[i] = 1, 1
		}
		return Route{all: NewPicker(w), overflow: NewPicker(fwd)}, true
	}
	return Route{}, false
}

// Pick routes one user request at time now: served locally, rejected, or
// forwarded to destination i. A request picked for local service above the
// local limit overflows to the forwarding shares, else is rejected. A
// request for a destination beyond its cap goes elsewhere (see Cap).
func (r *Route) Pick(now time.Time) (c Choice, i int) {
	c, i = r.pick(now)
	return r.capped(c, i, now)
}

// pick is Pick without the caps.
func (r *Route) pick(now time.Time) (c Choice, i int) {
	switch i := r.all.Pick(); {
	case i == 0:
		if !r.limited || r.limit.Take(now) {
			return Local, 0
		}
		if j := r.overflow.Pick(); j >= 0 {
			return Forward, j
		}
		return Reject, 0
	case i >= 2:
		return Forward, i - 2
	default:
		return Reject, 0
	}
}

// TakeLocal reports whether one more request may be served locally at time
// now within the local limit, consuming a token; true when the route has
// none. (The embedded proxy uses it to serve locally a request it could
// not forward.)
func (r *Route) TakeLocal(now time.Time) bool { return !r.limited || r.limit.Take(now) }

// Admit reports whether a request forwarded by node from may be served at
// time now within the route's admission cap for it, consuming a token; true
// when the route caps from not.
func (r *Route) Admit(from strategy.NodeID, now time.Time) bool {
	i, ok := r.find(from)
	return !ok || r.admit[i].bucket.Take(now)
}

// Clone returns a copy of r that shares no state with it (for a new
// route to carry r's counts over while r still routes).
func (r *Route) Clone() Route {
	c := *r
	c.all.current = slices.Clone(r.all.current)
	c.overflow.current = slices.Clone(r.overflow.current)
	c.admit = slices.Clone(r.admit)
	c.counts.caps = slices.Clone(r.counts.caps)
	return c
}

func (r *Route) find(node strategy.NodeID) (int, bool) {
	if r == nil {
		return 0, false
	}
	if len(r.admit) <= 8 {
		for i := range r.admit {
			if r.admit[i].node == node {
				return i, true
			}
		}
		return 0, false
	}
	return slices.BinarySearchFunc(r.admit, node, func(a admission, n strategy.NodeID) int {
		return strings.Compare(string(a.node), string(n))
	})
}

func (r *Route) admission(node strategy.NodeID) (Bucket, bool) {
	i, ok := r.find(node)
	if !ok {
		return Bucket{}, false
	}
	return r.admit[i].bucket, true
}
