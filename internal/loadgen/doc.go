// Package loadgen is the open-loop load generator of dfaas bench, dfaas
// demo and dfaas churn: user requests are sent when they are due, whether
// or not earlier ones have been answered, as independent users would send
// them, and every request is recorded (report.Record) and counted live.
//
// Arrivals come from a Poisson process with a scenario's piecewise-constant
// rates (Poisson, which draws with sim.Load.NextArrival, the simulator's
// own arrival process) or at fixed intervals (Uniform). A trace (k6 JSON
// of the original prototype, CSV time,rate, or the Azure Functions 2019
// invocations CSV) replays as a scenario's load (ApplyTrace). Progress draws the live counts on a terminal, or
// writes them as lines to a file.
package loadgen
