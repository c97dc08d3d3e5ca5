// Package scrape is the metric source of a node without a Prometheus
// server: it reads the /metrics pages of the FaaS gateway (OpenFaaS metric
// names, as dfaas faas and the OpenFaaS gateway on its port 8082 serve
// them; or, with NewOpenWhisk, the per-action series of OpenWhisk's
// user-events service) and of node_exporter directly, with the Prometheus
// text parser of prometheus/common expfmt, and turns successive readings
// into rates over the control period like metricsrc.Delta.
//
// Source combines them with the proxy's own counters: the proxy gives the
// offered, forwarded, rejected and failed rates; the gateway, when it
// reports a function, its Local rate and the mean latency of successful
// invocations; node_exporter (or metricsrc/host) the node's CPU and memory.
// When the gateway or node_exporter cannot be scraped, the sample keeps the
// proxy's view and the error wraps metricsrc.ErrDegraded, so the node keeps
// deciding and reports the metrics component degraded.
//
// It is the agent's default metric source (dfaas agent --metrics scrape).
package scrape
