package goproxy

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/routing"
	"github.com/dfaas-go/dfaas/strategy"
)

// table is the compiled, immutable routing state built from a
// proxyctl.State. Only the routes' pickers and buckets mutate, under the
// route's lock.
type table struct {
	self       strategy.NodeID
	local      map[string]proxyctl.Function
	routes     map[string]*route
	neighbours map[strategy.NodeID]*neighbour
	// trust holds the neighbours' data-plane certificates, accepted on the
	// node-to-node path.
	trust *nodetls.Trust
	// cappedBefore counts what the forwarding caps sent elsewhere under
	// the earlier tables (see capped).
	cappedBefore uint64
	// queues are the in-flight counts of the functions deployed here,
	// carried over from table to table (see carryQueues).
	queues map[string]*inflight
}

type neighbour struct {
	id       strategy.NodeID
	base     *url.URL
	tokenOut string
	// Header values set on every request forwarded to the neighbour
	// (DFaaS-Node-Token) and on its answers (DFaaS-Forwarded-To), made
	// once: the transport and the server copy them, never change them.
	tokenOutV, idV []string
	tokenIn        []byte
	cert           []byte
	// rt reaches an https neighbour over mutual TLS (nil: the proxy's
	// transport to the neighbours).
	rt       http.RoundTripper
	tokenPrv []byte // the previous credential, accepted during its grace
	// fast reaches the neighbour for requests without a body or with a
	// small one, as the local FaaS's (see upstream); nil with
	// Config.Transport.
	fast *upstream
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

// route is the compiled decision for one function: the routing algorithm
// (package routing) under a lock, and where its destinations are.
type route struct {
	fn       string
	deployed bool
	dests    []*neighbour // forwarding destinations, by routing index

	// q counts the function's requests in flight here (nil when it is
	// not deployed here); limit caps them (0: no cap; see queueLimit).
	q     *inflight
	limit int64

	mu sync.Mutex
	r  routing.Route
}

// pick routes one user request at time now.
func (rt *route) pick(now time.Time) (routing.Choice, int) {
	rt.mu.Lock()
	c, i := rt.r.Pick(now)
	rt.mu.Unlock()
	return c, i
}

// admit reports whether neighbour from is within its admission limit.
func (rt *route) admit(from strategy.NodeID, now time.Time) bool {
	rt.mu.Lock()
	ok := rt.r.Admit(from, now)
	rt.mu.Unlock()
	return ok
}

// takeLocal reports whether a request may be served locally within the
// local limit.
func (rt *route) takeLocal(now time.Time) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.r.TakeLocal(now)
}

// compile builds a table from a validated state. The buckets of the
// previous table carry over with the tokens they have left (see
// routing.Bucket.Carry), so that a new or re-applied decision neither
// refills them nor lets a burst through. (Requests still routed by the
// previous table while the new one is built take from the old buckets: at
// most the few requests in flight at the switch.)
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
	certs := make(map[string][]byte, len(s.Neighbours))
	for _, n := range s.Neighbours {
		u, err := url.Parse(n.URL)
		if err != nil {
			return nil, fmt.Errorf("neighbour %q: %w", n.ID, err)
		}
		nb := &neighbour{id: n.ID, base: u, tokenOut: n.TokenOut, tokenIn: []byte(n.TokenIn), tokenPrv: []byte(n.TokenInPrev), cert: n.Cert,
			tokenOutV: []string{n.TokenOut}, idV: []string{string(n.ID)}}
		t.neighbours[n.ID] = nb
		certs[string(n.ID)] = n.Cert
		if n.Forward {
			for _, fn := range n.Functions {
				runners[fn] = append(runners[fn], nb)
			}
		}
	}
	t.trust = nodetls.NewTrust(certs)
	for _, r := range s.Decision.Routes {
		_, deployed := t.local[r.Function]
		rt := &route{fn: r.Function, deployed: deployed}
		for _, sh := range r.Forward {
			nb := t.neighbours[sh.Node]
			if nb == nil {
				return nil, fmt.Errorf("route %q: unknown neighbour %q", r.Function, sh.Node)
			}
			rt.dests = append(rt.dests, nb)
		}
		old := prev.route(r.Function)
		rt.r = routing.Compile(r, old, now)
		capRoute(rt, s, old, now)
		t.routes[r.Function] = rt
	}
	// Default routes: functions deployed here stay local; functions that
	// only neighbours run are split evenly among them.
	for name := range t.local {
		if t.routes[name] == nil {
			rt := &route{fn: name, deployed: true}
			rt.r, _ = routing.Default(true, 0)
			t.routes[name] = rt
		}
	}
	for name, nbs := range runners {
		if t.routes[name] != nil {
			continue
		}
		rt := &route{fn: name, dests: nbs}
		rt.r, _ = routing.Default(false, len(nbs))
		capRoute(rt, s, prev.route(name), now)
		t.routes[name] = rt
	}
	t.cappedBefore = prev.capped() // the new routes count from 0
	t.carryQueues(prev)
	return t, nil
}

// capped returns how many user requests the forwarding caps sent
// elsewhere than the neighbour picked for them, over the tables so far
// (requests routed by a table in the instant it is replaced may be missed).
func (t *table) capped() uint64 {
	if t == nil {
		return 0
	}
	n := t.cappedBefore
	for _, rt := range t.routes {
		rt.mu.Lock()
		n += rt.r.Capped()
		rt.mu.Unlock()
	}
	return n
}

// route returns a copy of the compiled route of fn in t (nil if none),
// read under its lock, for the next table to carry its buckets over from.
func (t *table) route(fn string) *routing.Route {
	if t == nil || t.routes[fn] == nil {
		return nil
	}
	rt := t.routes[fn]
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r := rt.r.Clone()
	return &r
}

// capRoute caps what route rt forwards to each of its destinations as
// their neighbours' Cap says (routing.Route.SetCaps), the counts carried
// over from old.
func capRoute(rt *route, s proxyctl.State, old *routing.Route, now time.Time) {
	nodes := make([]strategy.NodeID, len(rt.dests))
	caps := make([]routing.Cap, len(rt.dests))
	for i, nb := range rt.dests {
		nodes[i] = nb.id
		if n, ok := s.Neighbour(nb.id); ok {
			caps[i] = routing.Cap{On: n.Cap.On, Share: n.Cap.Share, Rate: n.Cap.Rate, Growth: n.Cap.Growth}
		}
	}
	rt.r.SetCaps(nodes, caps, old, now)
}

// decide routes one request for function fn. from and token are the
// values of the DFaaS-Node-ID and DFaaS-Node-Token headers ("" for a user
// request). It performs no I/O.
func (t *table) decide(fn string, from, token string, now time.Time) action {
	if from != "" {
		nb := t.neighbours[strategy.NodeID(from)]
		if nb == nil || !nb.accepts(token) {
			return action{kind: kindUnknownNode}
		}
		rt := t.routes[fn]
		if _, ok := t.local[fn]; !ok {
			return action{kind: kindNoRoute}
		}
		if rt != nil && !rt.admit(nb.id, now) {
			return action{kind: kindAdmission}
		}
		return action{kind: kindLocal, route: rt}
	}
	rt := t.routes[fn]
	if rt == nil {
		return action{kind: kindNoRoute}
	}
	switch c, i := rt.pick(now); c {
	case routing.Local:
		return action{kind: kindLocal, route: rt}
	case routing.Forward:
		return action{kind: kindForward, to: rt.dests[i], route: rt}
	default:
		return action{kind: kindReject, route: rt}
	}
}

// succeeded counts a successful answer of neighbour nb, one of rt's
// destinations (for its forwarding cap, routing.Route.Succeeded).
func (rt *route) succeeded(nb *neighbour, now time.Time) {
	if rt == nil {
		return
	}
	for i, d := range rt.dests {
		if d == nb {
			rt.mu.Lock()
			rt.r.Succeeded(i, now)
			rt.mu.Unlock()
			return
		}
	}
}

// fallback returns where to retry a request that could not reach failed:
// local service if the function is deployed here, else another forwarding
// target. ok is false if there is none.
func (rt *route) fallback(failed *neighbour, now time.Time) (local bool, to *neighbour, ok bool) {
	if rt == nil {
		return false, nil, false
	}
	if rt.deployed && rt.takeLocal(now) {
		return true, nil, true
	}
	for _, nb := range rt.dests {
		if nb != failed {
			return false, nb, true
		}
	}
	return false, nil, false
}

// accepts reports whether token is one of the neighbour's credentials: the
// current one or, during its grace, the previous one (compared in
// constant time).
func (nb *neighbour) accepts(token string) bool {
	ok := len(nb.tokenIn) > 0 && subtle.ConstantTimeCompare(nb.tokenIn, []byte(token)) == 1
	prev := len(nb.tokenPrv) > 0 && subtle.ConstantTimeCompare(nb.tokenPrv, []byte(token)) == 1
	return ok || prev
}
