package embedded

import (
	"crypto/subtle"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// table is the compiled, immutable routing state built from a
// proxyctl.State. Only the pickers and buckets inside it mutate, under their
// own locks.
type table struct {
	self       strategy.NodeID
	local      map[string]proxyctl.Function
	routes     map[string]*route
	neighbours map[strategy.NodeID]*neighbour
}

type neighbour struct {
	id       strategy.NodeID
	base     *url.URL
	tokenOut string
	tokenIn  []byte
}

// kind is what happens to a request.
type kind uint8

const (
	kindLocal kind = iota
	kindForward
	kindReject
	kindNoRoute
	kindUnknownNode
	kindAdmission
)

// action is the routing decision for one request.
type action struct {
	kind kind
	to   *neighbour // kindForward
	// alternatives are where to retry once if the neighbour is unreachable
	// (local first when deployed, then other forwarding targets).
	route *route
}

// route is the compiled decision for one function.
type route struct {
	fn       string
	deployed bool
	all      picker // over [local, reject, forward...]
	overflow picker // over forward... (for requests above the local limit)
	dests    []*neighbour
	limit    *bucket // local limit; nil if none
	admit    map[strategy.NodeID]*bucket
}

// picker realises weights exactly with a smooth weighted round robin (the
// algorithm of nginx and HAProxy): over any window of W requests each
// destination gets its share of W to within one request.
type picker struct {
	mu      sync.Mutex
	weights []float64
	current []float64
	total   float64
}

func newPicker(weights []float64) picker {
	var t float64
	for _, w := range weights {
		t += w
	}
	return picker{weights: weights, current: make([]float64, len(weights)), total: t}
}

// pick returns the index of the next destination, or -1 if every weight is
// zero.
func (p *picker) pick() int {
	if p.total <= 0 {
		return -1
	}
	p.mu.Lock()
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
	p.mu.Unlock()
	return best
}

// bucket is a token bucket limiting a rate, with a burst of burstWindow
// worth of tokens (at least 1, unless the rate is 0: then it refuses all).
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// burstWindow is how much of a limited rate may arrive at once.
const burstWindow = 500 * time.Millisecond

func newBucket(rate float64, now time.Time) *bucket {
	b := rate * burstWindow.Seconds()
	if rate > 0 {
		b = max(1, b)
	}
	return &bucket{rate: rate, burst: b, tokens: b, last: now}
}

// take consumes a token at time now and reports whether one was available.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// compile builds a table from a validated state. Buckets of the previous
// table with the same rate are carried over so that a re-applied decision
// does not refill them.
func compile(s proxyctl.State, prev *table, now time.Time) (*table, error) {
	t := &table{
		self:       s.Self,
		local:      map[string]proxyctl.Function{},
		routes:     map[string]*route{},
		neighbours: map[strategy.NodeID]*neighbour{},
	}
	for _, f := range s.Functions {
		t.local[f.Name] = f
	}
	runners := map[string][]*neighbour{}
	for _, n := range s.Neighbours {
		u, err := url.Parse(n.URL)
		if err != nil {
			return nil, fmt.Errorf("neighbour %q: %w", n.ID, err)
		}
		nb := &neighbour{id: n.ID, base: u, tokenOut: n.TokenOut, tokenIn: []byte(n.TokenIn)}
		t.neighbours[n.ID] = nb
		if n.Forward {
			for _, fn := range n.Functions {
				runners[fn] = append(runners[fn], nb)
			}
		}
	}
	for _, r := range s.Decision.Routes {
		_, deployed := t.local[r.Function]
		rt := &route{fn: r.Function, deployed: deployed, admit: map[strategy.NodeID]*bucket{}}
		weights := []float64{r.Local, r.Reject}
		var fwd []float64
		for _, sh := range r.Forward {
			nb := t.neighbours[sh.Node]
			if nb == nil {
				return nil, fmt.Errorf("route %q: unknown neighbour %q", r.Function, sh.Node)
			}
			rt.dests = append(rt.dests, nb)
			weights = append(weights, sh.Share)
			fwd = append(fwd, sh.Share)
		}
		rt.all, rt.overflow = newPicker(weights), newPicker(fwd)
		var old *route
		if prev != nil {
			old = prev.routes[r.Function]
		}
		if r.LocalLimit > 0 {
			rt.limit = carry(old, func(o *route) *bucket { return o.limit }, r.LocalLimit, now)
		}
		for _, l := range r.Admit {
			rt.admit[l.Node] = carry(old, func(o *route) *bucket { return o.admit[l.Node] }, l.Rate, now)
		}
		t.routes[r.Function] = rt
	}
	// Default routes: functions deployed here stay local; functions that
	// only neighbours run are split evenly among them.
	for name := range t.local {
		if t.routes[name] == nil {
			t.routes[name] = &route{fn: name, deployed: true, all: newPicker([]float64{1, 0})}
		}
	}
	for name, nbs := range runners {
		if t.routes[name] != nil {
			continue
		}
		rt := &route{fn: name, dests: nbs}
		w := []float64{0, 0}
		var fwd []float64
		for range nbs {
			w = append(w, 1)
			fwd = append(fwd, 1)
		}
		rt.all, rt.overflow = newPicker(w), newPicker(fwd)
		t.routes[name] = rt
	}
	return t, nil
}

// carry returns the previous bucket if it limits the same rate, else a new
// one.
func carry(old *route, get func(*route) *bucket, rate float64, now time.Time) *bucket {
	if old != nil {
		if b := get(old); b != nil && b.rate == rate {
			return b
		}
	}
	return newBucket(rate, now)
}

// decide routes one request for function fn. from and token are the
// values of the DFaaS-Node-ID and DFaaS-Node-Token headers ("" for a user
// request). It performs no I/O.
func (t *table) decide(fn string, from, token string, now time.Time) action {
	if from != "" {
		nb := t.neighbours[strategy.NodeID(from)]
		if nb == nil || len(nb.tokenIn) == 0 || subtle.ConstantTimeCompare(nb.tokenIn, []byte(token)) != 1 {
			return action{kind: kindUnknownNode}
		}
		rt := t.routes[fn]
		if _, ok := t.local[fn]; !ok {
			return action{kind: kindNoRoute}
		}
		if rt != nil {
			if b := rt.admit[nb.id]; b != nil && !b.take(now) {
				return action{kind: kindAdmission}
			}
		}
		return action{kind: kindLocal, route: rt}
	}
	rt := t.routes[fn]
	if rt == nil {
		return action{kind: kindNoRoute}
	}
	i := rt.all.pick()
	switch {
	case i < 0:
		return action{kind: kindReject, route: rt}
	case i == 0:
		if rt.limit != nil && !rt.limit.take(now) {
			if j := rt.overflow.pick(); j >= 0 {
				return action{kind: kindForward, to: rt.dests[j], route: rt}
			}
			return action{kind: kindReject, route: rt}
		}
		return action{kind: kindLocal, route: rt}
	case i == 1:
		return action{kind: kindReject, route: rt}
	default:
		return action{kind: kindForward, to: rt.dests[i-2], route: rt}
	}
}

// fallback returns where to retry a request that could not reach failed:
// local service if the function is deployed here, else another forwarding
// target. ok is false if there is none.
func (rt *route) fallback(failed *neighbour, now time.Time) (local bool, to *neighbour, ok bool) {
	if rt == nil {
		return false, nil, false
	}
	if rt.deployed && (rt.limit == nil || rt.limit.take(now)) {
		return true, nil, true
	}
	for _, nb := range rt.dests {
		if nb != failed {
			return false, nb, true
		}
	}
	return false, nil, false
}
