package control

import "github.com/dfaas-go/dfaas/strategy"

// Decide asks st for a decision on s as every node does: through
// strategy.SafeDecide (which clones s and turns a panic into an error),
// then Complete, then Decision.Validate against s. On error the decision
// (as far as it got) must not be applied: the cycle keeps the decision in
// force. Decide holds no state; it may run without the embedder's lock.
func Decide(st strategy.Strategy, s strategy.Snapshot) (strategy.Decision, error) {
	d, err := strategy.SafeDecide(st, s)
	if err != nil {
		return d, err
	}
	Complete(&d, s)
	return d, d.Validate(s)
}

// Complete fills what a strategy may leave out of d, decided on s: a route
// for every function it did not route (deployed here: local; else evenly
// among the neighbours running it; else none, and the proxy answers 404),
// and the generic part of the announcement (strategy.BaseAnnouncement)
// when the strategy announced no functions or no resources.
func Complete(d *strategy.Decision, s strategy.Snapshot) {
	// Look routes up in the strategy's routes only (sorted, as Route's
	// binary search needs), and add the missing ones afterwards.
	strategy.SortRoutes(d.Routes)
	var missing []strategy.Route
	for _, f := range s.Functions {
		if _, ok := d.Route(f.Name); ok {
			continue
		}
		if f.Deployed {
			missing = append(missing, strategy.Route{Function: f.Name, Local: 1})
			continue
		}
		runners := s.Running(f.Name)
		if len(runners) == 0 {
			continue
		}
		even := map[strategy.NodeID]float64{}
		for _, nb := range runners {
			even[nb.ID] = 1
		}
		missing = append(missing, strategy.NewRoute(f.Name, 0, 0, even))
	}
	d.Routes = append(d.Routes, missing...)
	strategy.SortRoutes(d.Routes)
	base := strategy.BaseAnnouncement(s)
	if d.Announce.Functions == nil {
		d.Announce.Functions = base.Functions
	}
	if d.Announce.Resources == (strategy.Resources{}) {
		d.Announce.Resources = base.Resources
	}
}
