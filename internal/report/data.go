package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Outcome classifies the answer to one user request, as the result object
// counts it.
type Outcome uint8

// Outcomes of a user request.
const (
	// Served: answered with success (2xx), locally or by a neighbour.
	Served Outcome = iota
	// Rejected: refused on purpose by a proxy (it said so in the
	// DFaaS-Rejected header).
	Rejected
	// Failed: anything else — an error status, a time-out, a connection
	// error.
	Failed
)

// String returns "served", "rejected" or "failed".
func (o Outcome) String() string {
	switch o {
	case Served:
		return "served"
	case Rejected:
		return "rejected"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// Record is one user request as the load generator saw it.
type Record struct {
	// At is when it was sent, from the start of the load.
	At time.Duration
	// Node is the scenario node it was sent to; Function the function it
	// called.
	Node, Function string
	// Latency is the time to the end of the response (or the error).
	Latency time.Duration
	// Status is the HTTP status, 0 if there was no response.
	Status  int
	Outcome Outcome
	// ForwardedTo is the node the request was forwarded to, empty if it
	// was not forwarded; ServedBy the node that processed it, if it said.
	ForwardedTo, ServedBy string
	// Error is the transport error, if any.
	Error string
	// Reason is why a proxy refused the request on purpose (the
	// DFaaS-Rejected header: policy, admission, no-route, unknown-node),
	// empty otherwise.
	Reason string
}

// Forwarded reports whether the request was sent to a neighbour.
func (r Record) Forwarded() bool { return r.ForwardedTo != "" }

// Share is the fraction of a node's user requests for a function forwarded
// to one neighbour.
type Share struct {
	Node  string
	Share float64
}

// Decision is the route a node had in force for one function from time At
// on (until its next Decision for that function).
type Decision struct {
	At             time.Duration
	Node, Function string
	Local, Reject  float64
	Forward        []Share
	// LocalLimit is the route's cap on local service, req/s (0: none).
	LocalLimit float64
}

// Forwarded returns the total forwarding share of d.
func (d Decision) Forwarded() float64 {
	var t float64
	for _, s := range d.Forward {
		t += s.Share
	}
	return t
}

// Class is the effective outcome of a user request, finer than its
// Outcome: where it was served, or which rule refused it.
type Class uint8

// Classes of user requests. Each request has exactly one, so that the
// classes of a node's requests add up to what it was offered.
const (
	// ServedLocally: served at the node where it arrived.
	ServedLocally Class = iota
	// ServedByNeighbour: forwarded, and served by the neighbour.
	ServedByNeighbour
	// RejectedPolicy: refused by the reject share of the node's route.
	RejectedPolicy
	// RejectedLocalLimit: refused by the node because it was above the
	// route's local limit with no forwarding share to overflow to (the
	// proxy answers "policy"; the route in force had no reject share but
	// a local limit).
	RejectedLocalLimit
	// RejectedAdmission: forwarded, and refused by the neighbour as above
	// the admission limit it granted this node.
	RejectedAdmission
	// RejectedOther: refused for another reason (no-route, unknown-node).
	RejectedOther
	// FailedClass: failed (error status, time-out, connection error).
	FailedClass
	// NumClasses is the number of classes.
	NumClasses
)

var classNames = [NumClasses]string{"served_locally", "served_by_neighbour", "rejected_policy", "rejected_local_limit",
	"rejected_admission", "rejected_other", "failed"}

var classLabels = [NumClasses]string{"served locally", "served by a neighbour", "rejected: policy (reject share)",
	"rejected: local limit", "rejected: admission (neighbour)", "rejected: other", "failed"}

// String returns the class's name in CSV files: served_locally,
// served_by_neighbour, rejected_policy, rejected_local_limit,
// rejected_admission, rejected_other, failed.
func (c Class) String() string {
	if c < NumClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", c)
}

// Label returns the class in words, for plots.
func (c Class) Label() string {
	if c < NumClasses {
		return classLabels[c]
	}
	return c.String()
}

// Routes finds the decision in force at a node for a function at a time.
type Routes struct {
	by map[[2]string][]Decision
}

// NewRoutes indexes decisions (each in force from its At until the next
// one for the same node and function).
func NewRoutes(ds []Decision) Routes {
	r := Routes{by: map[[2]string][]Decision{}}
	for _, d := range ds {
		k := [2]string{d.Node, d.Function}
		r.by[k] = append(r.by[k], d)
	}
	for _, v := range r.by {
		slices.SortStableFunc(v, func(a, b Decision) int { return cmp.Compare(a.At, b.At) })
	}
	return r
}

// At returns the decision in force at node for fn at t, if any was
// recorded by then.
func (r Routes) At(node, fn string, t time.Duration) (Decision, bool) {
	v := r.by[[2]string{node, fn}]
	i, _ := slices.BinarySearchFunc(v, t, func(d Decision, t time.Duration) int {
		if d.At <= t {
			return -1
		}
		return 1
	})
	if i == 0 {
		return Decision{}, false
	}
	return v[i-1], true
}

// Classify returns the class of a user request, with the routes in force
// (the bench polls them once a second, so a request in the second after
// a change may be put down to the route before it).
func (r Routes) Classify(rec Record) Class {
	switch rec.Outcome {
	case Served:
		if rec.Forwarded() {
			return ServedByNeighbour
		}
		return ServedLocally
	case Rejected:
		switch rec.Reason {
		case "policy":
			if d, ok := r.At(rec.Node, rec.Function, rec.At); ok && d.Reject == 0 && d.LocalLimit > 0 {
				return RejectedLocalLimit
			}
			return RejectedPolicy
		case "admission":
			return RejectedAdmission
		}
		return RejectedOther
	}
	return FailedClass
}

// Second is what happened at one node during one second of the load,
// counted by when requests arrived.
type Second struct {
	Node string
	// T is the second: requests sent in [T, T+1) s.
	T           int
	Offered     int64
	ServedLocal int64 // served without being forwarded
	Forwarded   int64 // sent to a neighbour (whatever the outcome)
	Rejected    int64
	Failed      int64
	// ServedForOthers counts requests forwarded to this node (by the
	// node where they arrived) and served here.
	ServedForOthers int64
	// ByClass counts the requests by class; they add up to Offered.
	ByClass [NumClasses]int64
	// Latency quantiles of the requests served, ms (0 if none).
	Latency sim.Quantiles
}

// Series returns one Second per node and second of a load of length d,
// nodes in the given order; routes classify the requests. Records of
// other nodes or outside [0, d) are left out.
func Series(recs []Record, routes Routes, nodes []string, d time.Duration) []Second {
	n := int((d + time.Second - 1) / time.Second)
	idx := make(map[string]int, len(nodes))
	for i, id := range nodes {
		idx[id] = i
	}
	out := make([]Second, len(nodes)*n)
	lats := make([][]time.Duration, len(out))
	for i, id := range nodes {
		for t := range n {
			out[i*n+t] = Second{Node: id, T: t}
		}
	}
	for _, r := range recs {
		i, ok := idx[r.Node]
		if !ok || r.At < 0 || r.At >= d {
			continue
		}
		t := int(r.At / time.Second)
		if j, ok := idx[r.ForwardedTo]; ok && r.Outcome == Served {
			out[j*n+t].ServedForOthers++
		}
		k := i*n + t
		s := &out[k]
		s.Offered++
		s.ByClass[routes.Classify(r)]++
		if r.Forwarded() {
			s.Forwarded++
		}
		switch r.Outcome {
		case Served:
			if !r.Forwarded() {
				s.ServedLocal++
			}
			lats[k] = append(lats[k], r.Latency)
		case Rejected:
			s.Rejected++
		default:
			s.Failed++
		}
	}
	for k := range out {
		out[k].Latency = sim.QuantilesOf(lats[k])
	}
	return out
}

// SimPeriod is what one simulated node observed over one control period
// of a run of the simulator (from the snapshots its strategy was given):
// rates in req/s, over [From, To) of the load's time.
type SimPeriod struct {
	Node                                                               string
	From, To                                                           time.Duration
	Offered, ServedLocal, Forwarded, Rejected, Failed, ServedForOthers float64
}

// Summarize counts the records as the shared result object (mode "bench"),
// with one NodeStat per node in the given order. Records of other nodes
// are left out. OracleSuccessRate is left 0 for the caller to fill.
func Summarize(scenario, strat string, nodes []string, recs []Record) sim.Result {
	res := sim.Result{Scenario: scenario, Strategy: strat, Mode: "bench"}
	per := make(map[string]*sim.NodeStat, len(nodes))
	lats := map[string][]time.Duration{}
	for _, n := range nodes {
		per[n] = &sim.NodeStat{ID: n}
	}
	var all []time.Duration
	for _, r := range recs {
		ns := per[r.Node]
		if ns == nil {
			continue
		}
		ns.Offered++
		if r.Forwarded() {
			ns.Forwarded++
		}
		switch r.Outcome {
		case Served:
			ns.Served++
			all = append(all, r.Latency)
			lats[r.Node] = append(lats[r.Node], r.Latency)
		case Rejected:
			ns.Rejected++
		default:
			ns.Failed++
		}
	}
	for _, n := range nodes {
		ns := per[n]
		ns.SuccessRate = sim.Rate(ns.Served, ns.Offered)
		ns.Latency = sim.QuantilesOf(lats[n])
		res.Offered += ns.Offered
		res.Served += ns.Served
		res.Forwarded += ns.Forwarded
		res.Rejected += ns.Rejected
		res.Failed += ns.Failed
		res.Nodes = append(res.Nodes, *ns)
	}
	res.SuccessRate = sim.Rate(res.Served, res.Offered)
	res.Latency = sim.QuantilesOf(all)
	return res
}

// SortRecords sorts records by time, then node and function.
func SortRecords(recs []Record) {
	slices.SortStableFunc(recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Function, b.Function))
	})
}
