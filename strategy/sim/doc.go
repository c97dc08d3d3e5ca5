// Package sim simulates a DFaaS federation at the level of single requests,
// running the same code as the live agent, and defines the result object
// every mode (simulation, benchmark, demo) reports.
//
// A Scenario (the JSON format of the scenario files, see LoadScenario)
// describes the nodes, their functions and capacities, the links and the
// load. Run simulates it with a strategy, seeded and deterministic:
// Poisson arrivals, functions with concurrency, exponential service times,
// a FIFO queue with a time-out, links with RTT, one-hop forwarding, and
// announcements arriving after the link delay. Each node's proxy routes
// with the embedded proxy's routing algorithm (package proxyctl/routing)
// and each node's agent is the live agent's control core (package
// strategy/control) fed from the proxy's counters; a parity test runs
// scripts through both the agent and the simulator's node and checks that
// they build the same snapshots and decisions. OracleSuccessRate is the
// fluid max-flow bound of a scenario; Generate makes random federations.
//
// Clairvoyant runs the clairvoyant reference controller: a central
// controller that knows every period's true rates and places them by a
// balanced maximum flow. Evaluate runs strategies with both references
// (the clairvoyant controller and the strategy with a perfect forecast,
// Config.PerfectForecast) and splits each one's gap to the oracle (Gap),
// optionally repeated with other seeds and confidence intervals (package
// stats). GenerateFamily makes families of random federations that
// EvaluateFamily and FamilyReport summarise; package azure builds
// scenarios from the Azure Functions 2019 trace.
//
// It imports only the standard library and the module's strategy,
// strategy/control, forecast and proxyctl/routing packages, which import
// nothing else.
package sim
