// Command customstrategy is the dfaas binary with one more strategy,
// "spare": every node serves up to its capacity locally and forwards the
// rest to the neighbours that run the function, in proportion to the spare
// capacity they announce. It is the recipe for plugging a strategy of your
// own into the reference agent: build a registry, register, run the
// command line.
//
//	go run ./examples/customstrategy demo --strategy spare
//	go run ./examples/customstrategy agent --strategy spare --key node.pem ...
package main

import (
	"encoding/json"
	"log"
	"math"

	"github.com/dfaas-go/dfaas/cmd/dfaas/cli"
	"github.com/dfaas-go/dfaas/strategy"
)

// Spare is the custom strategy. Like every strategy it is a pure function
// of the snapshot: no I/O, no clock.
type Spare struct {
	// Headroom is the share of capacity kept free locally, in [0, 1).
	Headroom float64 `json:"headroom"`
}

// Decide implements strategy.Strategy.
func (sp *Spare) Decide(s strategy.Snapshot) (strategy.Decision, error) {
	var d strategy.Decision
	for _, f := range s.Functions {
		load := math.Max(f.Forecast, f.Offered)
		local := 0.0
		if f.Deployed {
			local = math.Min(load, f.Capacity*(1-sp.Headroom))
		}
		fwd := map[strategy.NodeID]float64{}
		var spare float64
		for _, n := range s.Running(f.Name) {
			st, _ := n.Announcement.Function(f.Name)
			fwd[n.ID] = st.Spare
			spare += st.Spare
		}
		excess := load - local
		for id := range fwd {
			fwd[id] = excess * fwd[id] / math.Max(spare, 1e-9)
		}
		reject := math.Max(0, excess-spare)
		// Weights → shares; with no load yet, local if deployed.
		d.Routes = append(d.Routes, f.NewRoute(local, reject, fwd))
	}
	d.Announce = strategy.BaseAnnouncement(s) // spare capacity per function
	return d, nil
}

func newRegistry() *strategy.Registry {
	reg := strategy.Builtin()
	err := reg.Register("spare", "serve up to capacity, forward the rest by announced spare capacity",
		func(params json.RawMessage) (strategy.Strategy, error) {
			sp := &Spare{Headroom: 0.05}
			return sp, strategy.DecodeParams(params, sp)
		})
	if err != nil {
		log.Fatal(err)
	}
	return reg
}

func main() { cli.Main(newRegistry()) }
