// Package strategytest is a conformance suite for strategy.Strategy
// implementations. A plug-in author runs it in their own repository:
//
//	func TestConformance(t *testing.T) {
//		strategytest.Run(t, func() strategy.Strategy { return mylab.New() })
//	}
//
// Run drives small simulated federations (a few nodes, each with a fresh
// strategy instance, random topologies, functions, capacities and loads,
// announcements delivered a period late with grants filtered per
// recipient, advice of every shape) and checks, for every decision:
//
//   - Decide does not panic, and does not fail on a valid snapshot;
//   - the decision is valid for its snapshot (strategy.Decision.Validate):
//     shares finite, in [0, 1] and summing to one, local shares only for
//     deployed functions, forwarding, limits and grants only for known
//     neighbours, no NaN or infinity anywhere, a well-formed announcement;
//   - the snapshot is not modified, and the decision shares no memory with
//     it;
//   - determinism: two runs with fresh instances and the same sequence of
//     snapshots give equal decisions.
//
// It imports only the standard library (and package testing).
package strategytest
