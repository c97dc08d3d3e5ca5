// Package strategytest is a conformance suite for strategy.Strategy
// implementations. A plug-in author runs it in their own repository, with
// the same strategy.Factory they register and simulate:
//
//	func TestConformance(t *testing.T) {
//		strategytest.Run(t, strategy.NewFactory(func() *mylab.Strategy { return mylab.New() }))
//	}
//
// Run drives small random federations whose nodes each run the agent's
// control core (package strategy/control) around a fresh strategy
// instance: random topologies with RTTs (some unknown), functions,
// capacities and loads that drift, peers that go down, announcements
// delivered a period late (some lost) with grants filtered per recipient,
// expiry, forecasts, advice of every shape. It checks, for every decision:
//
//   - Decide does not panic, and does not fail on a valid snapshot;
//   - the decision is valid for its snapshot (strategy.Decision.Validate):
//     shares finite, in [0, 1] and summing to one, local shares only for
//     deployed functions, forwarding, limits and grants only for known
//     neighbours, no NaN or infinity anywhere, a well-formed announcement;
//     and still valid once completed as the agent completes it;
//   - the snapshot is not modified, and the decision shares no memory with
//     it;
//   - determinism: two runs with fresh instances and the same sequence of
//     snapshots give equal decisions.
//
// The first fault stops the run and is reported in one line that names the
// federation, the step, the node and the fault, and how to replay that
// federation alone (RunWith with the seed it names and Federations 1); go
// test -v adds the snapshot and the decision as JSON.
//
// It imports the standard library, package testing, strategy, forecast and
// strategy/control.
package strategytest
