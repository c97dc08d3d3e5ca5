// Package stack assembles one DFaaS node of the reference agent from its
// parts: a FaaS (the embedded one, or a backend such as OpenFaaS), a data
// plane (the embedded proxy, or HAProxy driven by its runtime API), a
// metric source, a forecaster, the peer transport and the control loop
// (dfaas.Node), with the admin HTTP server (/healthz, /status, /metrics).
// dfaas agent runs one stack; dfaas demo runs three in one process.
//
// Configuration errors name the agent flag that sets the setting at fault
// and are usage errors (package usage).
package stack
