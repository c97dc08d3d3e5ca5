package strategy_test

import (
	"fmt"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// A custom strategy: keep as much locally as the function's capacity
// allows and split the rest evenly among the neighbours that run it.
func ExampleFunc() {
	capped := strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
		var d strategy.Decision
		for _, f := range s.Functions {
			local := 0.0
			if f.Deployed {
				local = min(f.Forecast, f.Capacity)
			}
			fwd := map[strategy.NodeID]float64{}
			runners := s.Running(f.Name)
			for _, n := range runners {
				fwd[n.ID] = (f.Forecast - local) / float64(len(runners))
			}
			d.Routes = append(d.Routes, f.NewRoute(local, 0, fwd))
		}
		d.Announce = strategy.BaseAnnouncement(s)
		return d, nil
	})

	s := strategy.Snapshot{
		Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
		Functions: []strategy.Function{{Name: "figlet", Deployed: true, Capacity: 100, Offered: 160, Forecast: 160}},
		Neighbours: []strategy.Neighbour{
			{ID: "b", Announcement: strategy.Announcement{Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true}}}},
			{ID: "c", Announcement: strategy.Announcement{Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true}}}},
		},
	}
	d, _ := capped.Decide(s)
	if err := d.Validate(s); err != nil {
		fmt.Println(err)
	}
	r, _ := d.Route("figlet")
	fmt.Printf("local %.3f, to b %.3f, to c %.3f, reject %.3f\n", r.Local, r.ForwardShare("b"), r.ForwardShare("c"), r.Reject)
	// Output: local 0.625, to b 0.188, to c 0.188, reject 0.000
}
