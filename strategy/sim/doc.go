// Package sim simulates a DFaaS federation at the level of single requests,
// running the same strategy code as the live agent, and defines the result
// object every mode (simulation, benchmark, demo) reports.
//
// It imports only the standard library.
package sim
