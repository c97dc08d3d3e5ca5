package strategy

import (
	"fmt"
	"math"
)

// DefaultUtilization is the share of a function's stated capacity that
// capacity-aware strategies plan to use by default. Planning for exactly
// the stated capacity makes queues grow without bound under random
// arrivals.
const DefaultUtilization = 0.95

// Recalc is the original Recalc strategy with its defects fixed. Each
// function has a capacity (label dfaas.maxrate) of which Utilization is
// planned. Rates are the forecast (or, without forecaster, the average over
// the whole period, not a one-second sample).
//
// A function whose own-user rate r is within its planned capacity c grants
// its spare capacity c-r, split evenly, to the neighbours that announce the
// function (they run it or have users for it), and admits from each of them
// at most its grant (with slack for the grants in flight).
//
// An overloaded function (r > c) serves c locally — the same cap is given to
// the proxy as LocalLimit, so the agent and the proxy share one overload
// decision — and forwards the excess to neighbours in proportion to the
// grants they announced to this node, up to those grants; what no
// neighbour has room for is rejected explicitly. A function not deployed
// here is forwarded the same way; with no user load it is split evenly
// among the neighbours running it so that the forwarding set is never
// empty.
type Recalc struct {
	// Utilization is the share of the stated capacity planned for, in
	// (0, 1]. If zero, DefaultUtilization.
	Utilization float64 `json:"utilization"`
}

// Validate implements Validator.
func (rc *Recalc) Validate() error {
	if rc.Utilization < 0 || rc.Utilization > 1 || math.IsNaN(rc.Utilization) {
		return fmt.Errorf("utilization %v not in (0, 1]", rc.Utilization)
	}
	return nil
}

// admitSlack is how much more than its grant a neighbour may send before the
// proxy refuses it: grants travel for up to a period, and arrivals are
// random.
const admitSlack = 1.25

// Decide implements Strategy.
func (rc *Recalc) Decide(s Snapshot) (Decision, error) {
	u := rc.Utilization
	if u == 0 {
		u = DefaultUtilization
	}
	var d Decision
	d.Announce = BaseAnnouncement(s)
	for _, f := range s.Functions {
		r := f.Forecast
		granted := map[NodeID]float64{}
		var totalGranted float64
		runners := s.Running(f.Name)
		for _, n := range runners {
			if g := n.Announcement.GrantTo(s.Self, f.Name); g > 0 {
				granted[n.ID] = g
				totalGranted += g
			}
		}
		switch {
		case f.Deployed && f.Capacity == 0:
			// Capacity unknown: nothing to judge overload by.
			d.Routes = append(d.Routes, Route{Function: f.Name, Local: 1})
		case f.Deployed && r <= f.Capacity*u:
			c := f.Capacity * u
			route := Route{Function: f.Name, Local: 1}
			var askers []Neighbour
			for _, n := range s.Neighbours {
				if _, ok := n.Announcement.Function(f.Name); ok {
					askers = append(askers, n)
				}
			}
			for _, n := range askers {
				g := (c - r) / float64(len(askers))
				d.Announce.Grants = append(d.Announce.Grants, Grant{To: n.ID, Function: f.Name, Rate: g})
				route.Admit = append(route.Admit, Limit{Node: n.ID, Rate: g*admitSlack + 1})
			}
			d.Routes = append(d.Routes, route)
		default:
			c := 0.0
			if f.Deployed {
				c = f.Capacity * u
			}
			if r == 0 && !f.Deployed {
				// No user load yet: keep a non-empty forwarding set.
				even := map[NodeID]float64{}
				for _, n := range runners {
					even[n.ID] = 1
				}
				d.Routes = append(d.Routes, NewRoute(f.Name, 0, 0, even))
				continue
			}
			excess := r - c
			fwd := math.Min(excess, totalGranted)
			weights := map[NodeID]float64{}
			for id, g := range granted {
				weights[id] = fwd * g / totalGranted
			}
			route := NewRoute(f.Name, c, excess-fwd, weights)
			if f.Deployed {
				route.LocalLimit = c
			}
			// Admit nothing from neighbours for an overloaded function.
			for _, n := range s.Neighbours {
				if _, ok := n.Announcement.Function(f.Name); ok && f.Deployed {
					route.Admit = append(route.Admit, Limit{Node: n.ID, Rate: 0})
				}
			}
			d.Routes = append(d.Routes, route)
		}
	}
	SortGrants(d.Announce.Grants)
	return d, nil
}

// Interface guards.
var (
	_ Strategy  = (*Recalc)(nil)
	_ Validator = (*Recalc)(nil)
)
