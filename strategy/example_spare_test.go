package strategy_test

import (
	"fmt"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// Spare serves up to its capacity, less a headroom, locally and forwards
// the rest to the neighbours that run the function, in proportion to the
// spare capacity they announce; what they cannot take is rejected at the
// edge. (The README quotes this type and its Decide.)
type Spare struct{ Headroom float64 }

func (sp *Spare) Decide(s strategy.Snapshot) (strategy.Decision, error) {
	var d strategy.Decision
	for _, f := range s.Functions {
		local := 0.0
		if f.Deployed {
			local = min(f.Forecast, f.Capacity*(1-sp.Headroom))
		}
		excess := f.Forecast - local
		fwd := map[strategy.NodeID]float64{} // the rest, by announced spare capacity
		spare := 0.0
		for _, n := range s.Running(f.Name) {
			st, _ := n.Announcement.Function(f.Name)
			fwd[n.ID] = st.Spare
			spare += st.Spare
		}
		sent := min(excess, spare)
		for id, sp := range fwd {
			if spare > 0 {
				fwd[id] = sent * sp / spare
			}
		}
		reject := excess - sent
		d.Routes = append(d.Routes, f.NewRoute(local, reject, fwd)) // weights (req/s) → shares
	}
	d.Announce = strategy.BaseAnnouncement(s)
	return d, nil
}

// The Spare strategy on an overloaded node, on the same node before any
// load has arrived, and when its neighbours have no spare capacity left.
func Example_spare() {
	runs := func(id strategy.NodeID, spare float64) strategy.Neighbour {
		return strategy.Neighbour{ID: id, Announcement: strategy.Announcement{
			Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true, Spare: spare}},
		}}
	}
	s := strategy.Snapshot{
		Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
		Functions:  []strategy.Function{{Name: "figlet", Deployed: true, Capacity: 100, Offered: 160, Forecast: 160}},
		Neighbours: []strategy.Neighbour{runs("b", 40), runs("c", 10)},
	}
	sp := &Spare{Headroom: 0.1}
	full := []strategy.Neighbour{runs("b", 0), runs("c", 0)}
	for i, load := range []float64{160, 0, 160} {
		s.Functions[0].Offered, s.Functions[0].Forecast = load, load
		if i == 2 {
			s.Neighbours = full
		}
		d, _ := sp.Decide(s)
		if err := d.Validate(s); err != nil {
			fmt.Println(err)
		}
		r, _ := d.Route("figlet")
		fmt.Printf("load %3.0f: local %.4f, to b %.4f, to c %.4f, reject %.4f\n", load, r.Local, r.ForwardShare("b"), r.ForwardShare("c"), r.Reject)
	}
	// Output:
	// load 160: local 0.5625, to b 0.2500, to c 0.0625, reject 0.1250
	// load   0: local 1.0000, to b 0.0000, to c 0.0000, reject 0.0000
	// load 160: local 0.5625, to b 0.0000, to c 0.0000, reject 0.4375
}

// With no load yet every weight is 0: the package function NewRoute
// rejects everything, Function.NewRoute serves locally a function that is
// deployed, and splits evenly among the candidates one that is not.
func ExampleFunction_NewRoute() {
	candidates := map[strategy.NodeID]float64{"b": 0, "c": 0}
	deployed := strategy.Function{Name: "figlet", Deployed: true}
	elsewhere := strategy.Function{Name: "ocr"}
	for _, r := range []strategy.Route{
		strategy.NewRoute("figlet", 0, 0, candidates),
		deployed.NewRoute(0, 0, candidates),
		elsewhere.NewRoute(0, 0, candidates),
		deployed.NewRoute(30, 10, map[strategy.NodeID]float64{"b": 10}),
	} {
		fmt.Printf("%s: local %.1f, to b %.1f, to c %.1f, reject %.1f\n", r.Function, r.Local, r.ForwardShare("b"), r.ForwardShare("c"), r.Reject)
	}
	// Output:
	// figlet: local 0.0, to b 0.0, to c 0.0, reject 1.0
	// figlet: local 1.0, to b 0.0, to c 0.0, reject 0.0
	// ocr: local 0.0, to b 0.5, to c 0.5, reject 0.0
	// figlet: local 0.6, to b 0.2, to c 0.0, reject 0.2
}
