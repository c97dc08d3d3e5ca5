// Package strategy defines how a DFaaS node decides where user requests go,
// and holds the built-in strategies.
//
// A Strategy is a pure function from a Snapshot (what the node knows: its
// functions with their capacity and observed rates, its neighbours' latest
// announcements and how old they are, link RTTs, forecasts, the decision
// applied now, the time and a seed) to a Decision (for each function, the
// shares of user requests to serve locally, forward to each neighbour and
// reject, optional rate caps, and what to announce to the peers). It does
// no I/O and reads no clock, so the same code runs in the live agent
// (package dfaas) and in the simulator, and is tested without a network.
//
// # Writing a strategy
//
// Implement Decide, or wrap a function with Func:
//
//	capped := strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
//		// Serve up to the capacity locally; split the rest evenly among the
//		// neighbours that run the function.
//		var d strategy.Decision
//		for _, f := range s.Functions {
//			local := 0.0
//			if f.Deployed {
//				local = min(f.Forecast, f.Capacity)
//			}
//			runners := s.Running(f.Name)
//			fwd := map[strategy.NodeID]float64{}
//			for _, n := range runners {
//				fwd[n.ID] = (f.Forecast - local) / float64(len(runners))
//			}
//			// Weights → shares; with no load yet (all weights 0) the
//			// route serves locally if f is deployed.
//			d.Routes = append(d.Routes, f.NewRoute(local, 0, fwd))
//		}
//		d.Announce = strategy.BaseAnnouncement(s)
//		return d, nil
//	})
//
// Function.NewRoute turns weights (here, rates) into a route's shares.
// Prefer it to the package function NewRoute, which rejects everything
// when every weight is zero, as happens to rates before a node has load.
//
// Register it in a Registry under a name to make it selectable by name in
// the reference agent (see examples/customstrategy).
//
// # Built-in strategies
//
// Builtin returns a registry with: "flow" (Flow, ours and the recommended
// default: explicit asks and grants of spare capacity, water-filling over
// one hop, load shed at the edge), "recalc" (Recalc, the original's
// maxrate strategy, fixed), "nodemargin" (NodeMargin, the original's
// resource-margin strategy with a resource model learned online),
// "static" (Static), "alllocal" (AllLocal) and "external" (External, which
// applies the advice of an outside model; see Advisor and package
// strategy/remote).
//
// Package strategy/strategytest is a conformance suite for strategies;
// package strategy/sim simulates a federation request by request with the
// same strategy code, and computes the oracle bound of a scenario.
//
// # Determinism
//
// Decide must give equal decisions for equal snapshot sequences. Use
// Snapshot.Now as the clock and Snapshot.Seed for randomness. The caller
// (the agent or the simulator) validates every decision with
// Decision.Validate before applying it and keeps the previous decision when
// Decide fails, panics or returns an invalid decision.
package strategy
