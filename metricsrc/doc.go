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
// Fallback keeps a node deciding when its preferred source fails: it
// returns a fallback's sample with an error wrapping ErrDegraded, which the
// node reports as the metric source's health.
//
// Implementations in sub-packages: metricsrc/host (CPU and memory from
// /proc), metricsrc/scrape (the FaaS gateway's and node_exporter's
// /metrics, scraped directly), metricsrc/promsrc (a Prometheus server;
// it also exports a TotalsReader as Prometheus metrics), metricsrc/cadvisor
// (each function's own CPU and memory from the kubelet's cAdvisor, directly
// or through Prometheus).
package metricsrc
