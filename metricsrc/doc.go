// Package metricsrc defines where a DFaaS node's observations come from
// (Source): per-function request rates and latency over a window, and the
// node's CPU and memory use.
//
// Most data planes expose cumulative counters. A TotalsReader reads them,
// and Delta turns successive readings into rates over the whole control
// period (not a one-second sample, and not reset by proxy updates).
// Counters is an in-memory set of such counters that a data plane updates
// (the embedded proxy does); Static is a settable Source for tests and
// simulations.
//
// Implementations in sub-packages: metricsrc/host (CPU and memory from
// /proc).
package metricsrc
