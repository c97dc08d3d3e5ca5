package strategy_test

import (
	"context"
	"testing"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// capped is the strategy of the package documentation's example, with the
// route built by Function.NewRoute or by the package function NewRoute.
func capped(method bool) strategy.Strategy {
	return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
		var d strategy.Decision
		for _, f := range s.Functions {
			local := 0.0
			if f.Deployed {
				local = min(f.Forecast, f.Capacity)
			}
			runners := s.Running(f.Name)
			fwd := map[strategy.NodeID]float64{}
			for _, n := range runners {
				fwd[n.ID] = (f.Forecast - local) / float64(len(runners))
			}
			if method {
				d.Routes = append(d.Routes, f.NewRoute(local, 0, fwd))
			} else {
				d.Routes = append(d.Routes, strategy.NewRoute(f.Name, local, 0, fwd))
			}
		}
		d.Announce = strategy.BaseAnnouncement(s)
		return d, nil
	})
}

// TestDocExampleNoLoad simulates the documentation's example strategy on
// testbed-3, where two nodes have no load for the first minutes: built
// with the package function NewRoute, their routes reject everything until
// load is observed (the trap a newcomer fell into); with Function.NewRoute
// nothing is rejected.
func TestDocExampleNoLoad(t *testing.T) {
	sc, err := sim.BuiltinScenario("testbed-3-three-loaded")
	if err != nil {
		t.Fatal(err)
	}
	sc.QueueDepth = -1 // only the routes reject
	rejected := map[bool]int64{}
	for _, method := range []bool{false, true} {
		r, err := sim.Run(context.Background(), sc, sim.Config{Strategy: "capped", New: func() (strategy.Strategy, error) { return capped(method), nil }})
		if err != nil {
			t.Fatal(err)
		}
		rejected[method] = r.Rejected
	}
	if rejected[true] != 0 || rejected[false] < 1000 {
		t.Fatalf("rejected: %d with Function.NewRoute (want 0), %d with NewRoute (want the trap's thousands)", rejected[true], rejected[false])
	}
}
