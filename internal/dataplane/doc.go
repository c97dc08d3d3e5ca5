// Package dataplane measures what a DFaaS node's data plane costs per
// request, against plain HAProxy in the same run (dfaas dataplane).
//
// Run starts a trivial backend (a child process answering "ok"), then for
// each scenario the proxies to compare: plain HAProxy (one thread, one
// backend; two chained for forwarded requests; answering 429 itself for
// rejected ones), the agent's HAProxy data plane (proxyctl/haproxy's
// Controller with a fixed proxyctl.State) and the embedded Go proxy
// (proxyctl/goproxy, in a child process so that its CPU time is its own).
// One load generator (a child process on one OS thread at a time, like
// wrk -t1, whose share of a core is reported) drives each in alternating
// rounds: a closed loop of keep-alive HTTP/1.1 POSTs over Conns
// connections. It reports requests per second, p50/p99 latency and CPU
// seconds per 1,000 requests of the proxy processes (from
// /proc/PID/stat), the ratios to the baseline (and, for the TLS variants,
// to plain HAProxy with the same mutual TLS between its two processes),
// and the latency each adds at half its peak rate (open loop) over the
// backend alone at the same rate and over the baseline at half the
// baseline's own peak rate.
//
// Each proxy's peak resident memory (VmHWM of its processes) is reported
// too. The embedded proxies' processes apply the agent's garbage collector
// settings (Config.AgentGC, package gctune), which the load generator and
// the backend do not.
//
// The paced load takes its due times from one schedule shared by all its
// connections, so that a request stalled on one connection holds back
// none due after it while another is free; the half-peak figures also
// give the p99.9, the p99 counted from the send, the connections opened
// and the CPU shares of the load generator and of the proxy.
//
// With Config.Pin (Layout), the load generator and the backend run on
// one CPU and every proxy under test, baseline included, on another, the
// same for every round, instead of wherever the scheduler puts them.
//
// The machine is shared by the load generator, the backend and the proxy:
// read the ratios, not the rates.
package dataplane
