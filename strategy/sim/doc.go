// Package sim simulates a DFaaS federation at the level of single requests,
// running the same strategy code as the live agent, and defines the result
// object every mode (simulation, benchmark, demo) reports.
//
// A Scenario (the JSON format of the scenario files, see LoadScenario)
// describes the nodes, their functions and capacities, the links and the
// load. Run simulates it with a strategy, seeded and deterministic:
// Poisson arrivals, functions with concurrency, exponential service times,
// a FIFO queue with a time-out, links with RTT, one-hop forwarding, and
// every node running the strategy each period on the snapshot the agent
// would build from its proxy's counters, with announcements arriving after
// the link delay. OracleSuccessRate is the fluid max-flow bound of a
// scenario; Generate makes random federations.
//
// It imports only the standard library (and the module's strategy and
// forecast packages, which do too).
package sim
