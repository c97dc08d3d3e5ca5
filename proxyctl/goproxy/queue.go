package goproxy

import (
	"io"
	"net/http"
	"sync/atomic"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// inflight counts one deployed function's requests in flight to the local
// FaaS through this proxy (user requests served here and neighbours'
// requests), and those refused because there were too many
// (proxyctl.Function.MaxQueue). The FaaS queues what its Concurrency
// slots cannot take; the count bounds that queue. It outlives the tables:
// each request releases the count it entered, whatever was applied since.
type inflight struct {
	n    atomic.Int64
	full atomic.Uint64 // requests refused as queue-full
}

// acquire counts one more request in flight unless limit (0: none) are
// already, and reports whether it did. It is exact under concurrency: a
// request is refused only when limit others hold a place.
func (q *inflight) acquire(limit int64) bool {
	if limit <= 0 {
		q.n.Add(1)
		return true
	}
	for {
		n := q.n.Load()
		if n >= limit {
			q.full.Add(1)
			return false
		}
		if q.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// queueLimit returns how many requests of f may be in flight on this
// proxy: its Concurrency slots and its MaxQueue waiting, 0 (no cap) when
// either is unknown or 0.
func queueLimit(f proxyctl.Function) int64 {
	if f.Concurrency <= 0 || f.MaxQueue <= 0 {
		return 0
	}
	return int64(f.Concurrency) + int64(f.MaxQueue)
}

// enter takes a place for a request served locally by route rt and reports
// whether it got one. Every place taken is released by leave, once. A nil
// route (before the first Apply) or one of a function not deployed here
// counts nothing.
func (rt *route) enter() bool {
	if rt == nil || rt.q == nil {
		return true
	}
	return rt.q.acquire(rt.limit)
}

// leave releases the place enter took.
func (rt *route) leave() {
	if rt != nil && rt.q != nil {
		rt.q.n.Add(-1)
	}
}

// carryQueues gives every function deployed in t its in-flight count: the
// previous table's, so that requests in flight stay counted across Apply,
// or a new one. A count of a function no longer deployed is kept while
// requests are in flight in it (at most those requests), so that a
// function deployed again before they end finds them. The routes of the
// deployed functions then point at their counts, with their caps.
func (t *table) carryQueues(prev *table) {
	t.queues = make(map[string]*inflight, len(t.local))
	for name := range t.local {
		q := prev.queue(name)
		if q == nil {
			q = &inflight{}
		}
		t.queues[name] = q
	}
	if prev != nil {
		for name, q := range prev.queues {
			if t.queues[name] == nil && q.n.Load() > 0 {
				t.queues[name] = q
			}
		}
	}
	for name, rt := range t.routes {
		if rt.deployed {
			rt.q, rt.limit = t.queues[name], queueLimit(t.local[name])
		}
	}
}

// queue returns the in-flight count of fn in t, nil if none.
func (t *table) queue(fn string) *inflight {
	if t == nil {
		return nil
	}
	return t.queues[fn]
}

// enqueue takes a place in the function's queue for a request the decision
// serves here, and reports whether it did; a request refused (the queue is
// full) is answered 429 queue-full. A request not served here takes no
// place. A request that got one releases it with dequeue.
func (p *Proxy) enqueue(w http.ResponseWriter, rq routed) bool {
	if rq.a.kind != kindLocal || rq.a.route.enter() {
		return true
	}
	p.queueFull(w, rq)
	return false
}

// dequeue releases the place enqueue took.
func (rq routed) dequeue() {
	if rq.a.kind == kindLocal {
		rq.a.route.leave()
	}
}

// queueFull answers a request refused because the function's queue is
// full: 429 queue-full, counted as rejected (a user's request, as the
// reject share's; a neighbour's, as an admission refusal).
func (p *Proxy) queueFull(w http.ResponseWriter, rq routed) {
	rq.fc.Rejected.Add(1)
	p.refuseParts(w, rq.st, http.StatusTooManyRequests, &p.fixed.queueFull,
		"dfaas: node ", string(rq.st.t.self), ": the queue of \"", rq.fn, "\" is full; request rejected")
}

// serveFallback serves locally a user request that could not be forwarded
// (see forward), within the function's queue cap: refused as queue-full
// when the queue is full.
func (p *Proxy) serveFallback(w http.ResponseWriter, r *http.Request, rq routed, small []byte, body io.ReadCloser) {
	rt := rq.a.route
	if !rt.enter() {
		p.queueFull(w, rq)
		return
	}
	defer rt.leave()
	p.serveLocal(w, r, rq, small, body)
}
