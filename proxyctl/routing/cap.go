package routing

import (
	"math"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// CapWindow is the time constant of the counts a forwarding cap compares:
// requests count with weight exp(-age/CapWindow), so that the counts are
// those of about the last CapWindow, and a steady rate r counts r·CapWindow.
const CapWindow = time.Second

// Cap bounds what one forwarding destination of a route receives of the
// route's user requests, as they arrive, whatever the decision's shares:
// it is sent a request only while the requests it was sent stay within the
// largest of Share of the route's user requests (plus one), Rate req/s, and Growth
// times the answers it returned successfully (Route.Succeeded), all
// counted over the last CapWindow. A destination may thus receive Share of
// a route's requests from the first requests of a load onset, Rate (with a
// burst of Rate·CapWindow) whatever the share, and, as its successes come
// back, Growth times what it serves: an honest neighbour is held back for
// about a round trip, one that answers only errors stays at Share. The
// zero Cap caps nothing.
//
// A request picked for a destination beyond its cap goes to the next
// destination in order: another forwarding destination of the route within
// its cap (in index order after it), else local service if the route has
// a local share (within its local limit), else rejection.
type Cap struct {
	// On enables the cap.
	On bool
	// Share is the share of the route's user requests the destination
	// may receive, in [0, 1].
	Share float64
	// Rate is what it may receive whatever the share (req/s, >= 0).
	Rate float64
	// Growth is how many times its successful answers it may receive
	// (>= 0).
	Growth float64
}

// capState is a destination's cap and the count of what it was sent.
type capState struct {
	node strategy.NodeID
	cap  Cap
	sent float64 // decayed count of the requests sent to it
	ok   float64 // decayed count of its successful answers
}

// counts are a route's decayed counts: its user requests and what each
// capped destination was sent, as of last.
type counts struct {
	users float64
	caps  []capState // by destination index; nil if none is capped
	last  time.Time
}

// SetCaps caps the forwarding destinations of r: caps[i] applies to
// destination i, the route of node nodes[i] (the two of the same length as
// the destinations; a missing entry caps nothing). The counts carry over
// from old, the route r replaces (nil if none), by node: a new decision
// lets no burst through a cap. SetCaps does not modify old.
func (r *Route) SetCaps(nodes []strategy.NodeID, caps []Cap, old *Route, now time.Time) {
	on := false
	for _, c := range caps {
		on = on || c.On
	}
	if !on {
		r.counts = counts{}
		return
	}
	r.counts = counts{caps: make([]capState, len(nodes)), last: now}
	if old != nil && old.counts.caps != nil {
		o := old.counts
		o.caps = append([]capState(nil), o.caps...)
		o.age(now)
		r.counts.users = o.users
		for i, n := range nodes {
			for _, oc := range o.caps {
				if oc.node == n {
					r.counts.caps[i].sent, r.counts.caps[i].ok = oc.sent, oc.ok
				}
			}
		}
	}
	for i, n := range nodes {
		r.counts.caps[i].node = n
		if i < len(caps) {
			r.counts.caps[i].cap = caps[i]
		}
	}
}

// age decays the counts to time now.
func (c *counts) age(now time.Time) {
	dt := now.Sub(c.last)
	if dt <= 0 {
		return
	}
	k := math.Exp(-float64(dt) / float64(CapWindow))
	c.users *= k
	for i := range c.caps {
		c.caps[i].sent *= k
		c.caps[i].ok *= k
	}
	c.last = now
}

// within reports whether destination i may be sent one more request.
func (c *counts) within(i int) bool {
	s := &c.caps[i]
	if !s.cap.On {
		return true
	}
	// sent <= Share·users rather than sent+1 <= Share·users: a capped
	// destination may always be sent one request more than its share, so
	// that the first request of a function only a neighbour runs reaches
	// it and its answers can count.
	return s.sent <= s.cap.Share*c.users || s.sent+1 <= max(s.cap.Rate*CapWindow.Seconds(), s.cap.Growth*s.ok)
}

// Succeeded counts, at time now, a successful answer of destination i to
// a request r forwarded to it (see Cap); nothing if i is not capped.
func (r *Route) Succeeded(i int, now time.Time) {
	c := &r.counts
	if i < 0 || i >= len(c.caps) {
		return
	}
	c.age(now)
	c.caps[i].ok++
}

// capped applies the caps to choice ch, i of a user request at time now
// (see Cap) and returns the final choice.
func (r *Route) capped(ch Choice, i int, now time.Time) (Choice, int) {
	c := &r.counts
	if c.caps == nil {
		return ch, i
	}
	c.age(now)
	c.users++
	if ch != Forward {
		return ch, i
	}
	if c.within(i) {
		c.caps[i].sent++
		return Forward, i
	}
	r.over++
	for k := 1; k < len(c.caps); k++ {
		j := (i + k) % len(c.caps)
		if r.overflow.weights[j] > 0 && c.within(j) {
			c.caps[j].sent++
			return Forward, j
		}
	}
	if r.local && (!r.limited || r.limit.Take(now)) {
		return Local, 0
	}
	return Reject, 0
}

// Capped returns how many user requests r sent elsewhere than the
// destination picked for them, because of its cap.
func (r *Route) Capped() uint64 { return r.over }
