// Package promsrc connects DFaaS metric sources to Prometheus, both
// ways.
//
// Collector exports any metricsrc.TotalsReader (the proxy's cumulative
// request counters) as Prometheus counters named dfaas_proxy_*, so that a
// Prometheus server scraping the agent's /metrics holds the proxy's view.
//
// Source is a metricsrc.Source over the Prometheus HTTP API
// (client_golang api/prometheus/v1). Each Sample is one instant query at
// the sample's time, built by pure functions (Query, Range) and covering:
//
//   - per function, from the agent's dfaas_proxy_* counters: offered,
//     local, received, forwarded, rejected and failed request rates, rates
//     per neighbour, and mean local latency;
//   - per function, from the FaaS gateway (OpenFaaS names,
//     gateway_function_invocation_total and gateway_functions_seconds):
//     invocation rate by status class (success, refused with 429, errors)
//     and mean latency of successful invocations; or, with Config.Series
//     SeriesOpenWhisk, from OpenWhisk's user-events service
//     (openwhisk_action_activations_total, openwhisk_action_status,
//     openwhisk_action_duration_seconds of one namespace): activation rate,
//     successes, errors and mean duration;
//   - the node, from node_exporter: busy CPU cores, cores, memory in use
//     and in total;
//   - the up state of the three scrape targets.
//
// Sample maps this onto metricsrc.Sample: every field comes from the
// proxy's counters, except Local (the gateway's invocation rate) and
// Latency (the gateway's mean latency of successful invocations) when the
// gateway reports the function, and the node usage.
//
// # Query windows
//
// rate() needs at least two samples in its range, so the range is the
// control period but at least MinRangeScrapes scrape intervals (Range). It
// is written in milliseconds when not a whole number of seconds, so any
// period is valid — the original agent wrote minutes and broke below 30 s.
// The Sample's Window is that range.
//
// # Failure
//
// Source fails when Prometheus cannot be queried or when the agent's scrape
// target is absent or down (its counters would be stale). Wrap it with
// metricsrc.Fallback over the proxy's own counters to keep deciding; the
// node then reports the metrics component degraded in /healthz and /status.
package promsrc
