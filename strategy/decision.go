package strategy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Decision is what a strategy decides for one period. It is the contract
// every proxy implements (package proxyctl):
//
//   - A user request for a function with a Route is served locally, forwarded
//     to a neighbour, or rejected, with the probabilities given by the
//     route's shares (a proxy may use a deterministic weighted round robin
//     that realises the same proportions).
//   - If the route has a LocalLimit, requests picked for local service above
//     that rate overflow to the forwarding shares (in proportion to them);
//     with no forwarding share they are rejected.
//   - A request forwarded by a neighbour is never forwarded again (one hop):
//     it is served locally, unless the route's Admit limit for that
//     neighbour is exceeded, in which case it is refused (429).
//   - A user request for a function without a Route is served locally if the
//     function is deployed here, else forwarded evenly among the neighbours
//     that run it, else rejected with 404 and a body that names the
//     function.
//   - Forwarded requests carry the sender's node identity.
//
// Routes are sorted by Function; Forward and Admit by Node.
type Decision struct {
	Routes []Route `json:"routes"`
	// Announce is what the node announces to its peers for the next period.
	Announce Announcement `json:"announce"`
}

// Route is the decision for one function. Local, Reject and the Forward
// shares are fractions of the user requests arriving at this node; they are
// each in [0, 1] and sum to 1.
type Route struct {
	Function string  `json:"function"`
	Local    float64 `json:"local"`
	Forward  []Share `json:"forward,omitempty"`
	Reject   float64 `json:"reject"`
	// LocalLimit caps the rate (req/s) of user requests served locally;
	// 0 means no cap.
	LocalLimit float64 `json:"local_limit,omitempty"`
	// Admit caps, per neighbour, the rate (req/s) of requests for this
	// function accepted from that neighbour. A neighbour not listed is not
	// capped; a Limit with Rate 0 refuses all of its requests.
	Admit []Limit `json:"admit,omitempty"`
}

// Share is the fraction of user requests forwarded to one neighbour.
type Share struct {
	Node  NodeID  `json:"node"`
	Share float64 `json:"share"`
}

// Limit is a rate cap (req/s) that applies to one neighbour.
type Limit struct {
	Node NodeID  `json:"node"`
	Rate float64 `json:"rate"`
}

// ShareTolerance is how far the shares of a route may sum from 1.
const ShareTolerance = 1e-6

// Route returns the route of function fn and whether the decision has one.
func (d Decision) Route(fn string) (Route, bool) {
	i, ok := slices.BinarySearchFunc(d.Routes, fn, func(r Route, n string) int { return strings.Compare(r.Function, n) })
	if !ok {
		return Route{}, false
	}
	return d.Routes[i], true
}

// ForwardShare returns the share of r forwarded to node id.
func (r Route) ForwardShare(id NodeID) float64 {
	for _, s := range r.Forward {
		if s.Node == id {
			return s.Share
		}
	}
	return 0
}

// Forwarded returns the total share of r forwarded to neighbours.
func (r Route) Forwarded() float64 {
	var t float64
	for _, s := range r.Forward {
		t += s.Share
	}
	return t
}

// Clone returns a deep copy of d.
func (d Decision) Clone() Decision {
	d.Routes = slices.Clone(d.Routes)
	for i := range d.Routes {
		d.Routes[i].Forward = slices.Clone(d.Routes[i].Forward)
		d.Routes[i].Admit = slices.Clone(d.Routes[i].Admit)
	}
	d.Announce = d.Announce.Clone()
	return d
}

// Equal reports whether d and o are the same decision.
func (d Decision) Equal(o Decision) bool {
	return slices.EqualFunc(d.Routes, o.Routes, Route.Equal) && d.Announce.Equal(o.Announce)
}

// Equal reports whether r and o are the same route.
func (r Route) Equal(o Route) bool {
	return r.Function == o.Function && r.Local == o.Local && r.Reject == o.Reject && r.LocalLimit == o.LocalLimit &&
		slices.Equal(r.Forward, o.Forward) && slices.Equal(r.Admit, o.Admit)
}

// Validate checks d against the snapshot it was decided on: every route
// names a known function once, in order; shares are finite, in [0, 1] and
// sum to 1; only deployed functions have a local share; forwarding goes
// only to neighbours of the snapshot; limits are finite and non-negative;
// the announcement is well formed and grants only to neighbours.
func (d Decision) Validate(s Snapshot) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidDecision, fmt.Sprintf(format, a...))
	}
	for i, r := range d.Routes {
		if i > 0 && d.Routes[i-1].Function >= r.Function {
			return bad("routes not sorted or duplicated at %q", r.Function)
		}
		f, ok := s.Function(r.Function)
		if !ok {
			return bad("route for unknown function %q", r.Function)
		}
		if err := r.validate(s, f); err != nil {
			return bad("route %q: %v", r.Function, err)
		}
	}
	if err := d.Announce.Validate(); err != nil {
		return bad("announcement: %v", err)
	}
	for _, g := range d.Announce.Grants {
		if _, ok := s.Neighbour(g.To); !ok {
			return bad("grant to %q, which is not a neighbour", g.To)
		}
	}
	return nil
}

func (r Route) validate(s Snapshot, f Function) error {
	if !inUnit(r.Local) || !inUnit(r.Reject) {
		return fmt.Errorf("local %v or reject %v not in [0, 1]", r.Local, r.Reject)
	}
	if r.Local > 0 && !f.Deployed {
		return fmt.Errorf("local share %v for a function not deployed here", r.Local)
	}
	sum := r.Local + r.Reject
	for i, sh := range r.Forward {
		if i > 0 && r.Forward[i-1].Node >= sh.Node {
			return fmt.Errorf("forward shares not sorted or duplicated at %q", sh.Node)
		}
		if _, ok := s.Neighbour(sh.Node); !ok {
			return fmt.Errorf("forward share to %q, which is not a neighbour", sh.Node)
		}
		if !inUnit(sh.Share) {
			return fmt.Errorf("forward share %v to %q not in [0, 1]", sh.Share, sh.Node)
		}
		sum += sh.Share
	}
	if math.Abs(sum-1) > ShareTolerance {
		return fmt.Errorf("shares sum to %v, not 1", sum)
	}
	if !finiteNonNeg(r.LocalLimit) {
		return fmt.Errorf("local limit %v is not a finite non-negative number", r.LocalLimit)
	}
	for i, l := range r.Admit {
		if i > 0 && r.Admit[i-1].Node >= l.Node {
			return fmt.Errorf("admission limits not sorted or duplicated at %q", l.Node)
		}
		if _, ok := s.Neighbour(l.Node); !ok {
			return fmt.Errorf("admission limit for %q, which is not a neighbour", l.Node)
		}
		if !finiteNonNeg(l.Rate) {
			return fmt.Errorf("admission limit %v for %q is not a finite non-negative number", l.Rate, l.Node)
		}
	}
	return nil
}

func inUnit(v float64) bool { return v >= 0 && v <= 1 && !math.IsNaN(v) }

// NewRoute builds a route from non-negative weights for local service,
// rejection and each neighbour, normalised so that the shares sum to 1.
// Zero weights are dropped from Forward, which is sorted by node. The
// returned route has no limits; set LocalLimit and Admit on it as needed.
//
// If no weight is positive (or a weight is negative, NaN or infinite) the
// route rejects everything: NewRoute does not know whether the function
// is deployed here. In a strategy, prefer Function.NewRoute, which gives
// the same route for positive weights and, when there is no weight at
// all (a node with no load yet), serves locally if the function is
// deployed.
func NewRoute(fn string, local, reject float64, forward map[NodeID]float64) Route {
	r := Route{Function: fn}
	total := local + reject
	ok := finiteNonNeg(local) && finiteNonNeg(reject)
	// Add the weights in node order: a sum in map order may differ in
	// its last bits from run to run, and decisions must be deterministic.
	ids := make([]NodeID, 0, len(forward))
	for id := range forward {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		w := forward[id]
		ok = ok && finiteNonNeg(w)
		total += w
	}
	if !ok || total <= 0 || math.IsInf(total, 0) {
		r.Reject = 1
		return r
	}
	r.Local = local / total
	r.Reject = reject / total
	for id, w := range forward {
		if w > 0 {
			r.Forward = append(r.Forward, Share{Node: id, Share: w / total})
		}
	}
	slices.SortFunc(r.Forward, func(a, b Share) int { return cmp.Compare(a.Node, b.Node) })
	return r
}

// NewRoute builds the route of f from weights, as the package function
// NewRoute does, with one difference: when no weight is positive — as
// when weights are rates and the node has no load yet, so that
// min(f.Forecast, f.Capacity) is 0 — the route is the node's default
// instead of a rejection:
//
//   - served locally (Local 1) if f is deployed here;
//   - else forwarded evenly to the neighbours that are keys of forward
//     (the candidates, given with weight 0);
//   - else rejected.
//
// A negative, NaN or infinite weight still makes the route reject
// everything.
func (f Function) NewRoute(local, reject float64, forward map[NodeID]float64) Route {
	none := local == 0 && reject == 0
	for _, w := range forward {
		none = none && w == 0
	}
	switch {
	case !none:
		return NewRoute(f.Name, local, reject, forward)
	case f.Deployed:
		return Route{Function: f.Name, Local: 1}
	case len(forward) > 0:
		even := make(map[NodeID]float64, len(forward))
		for id := range forward {
			even[id] = 1
		}
		return NewRoute(f.Name, 0, 0, even)
	}
	return Route{Function: f.Name, Reject: 1}
}

// SortRoutes sorts routes by function, and each route's Forward and Admit
// by node, in place.
func SortRoutes(routes []Route) {
	slices.SortFunc(routes, func(a, b Route) int { return cmp.Compare(a.Function, b.Function) })
	for _, r := range routes {
		slices.SortFunc(r.Forward, func(a, b Share) int { return cmp.Compare(a.Node, b.Node) })
		slices.SortFunc(r.Admit, func(a, b Limit) int { return cmp.Compare(a.Node, b.Node) })
	}
}

// SortGrants sorts grants by recipient, then function, in place.
func SortGrants(g []Grant) {
	slices.SortFunc(g, func(a, b Grant) int {
		return cmp.Or(cmp.Compare(a.To, b.To), cmp.Compare(a.Function, b.Function))
	})
}
