// Package embedded is a Go reverse proxy that serves as a DFaaS node's data
// plane: the default proxyctl.Controller of the reference agent and of
// dfaas demo. It routes each user request for /function/{name} to the local
// FaaS, to a neighbour's proxy or to rejection exactly as the decision in
// force says (see strategy.Decision), applies decisions atomically without
// dropping a request, and counts every request for the metric source.
//
// Statuses it answers itself: 429 with header DFaaS-Rejected: policy (the
// reject share, or overflow above a local limit with nowhere to forward),
// 429 with admission (a neighbour above its admission limit), 403 with
// unknown-node (a forwarded request whose node identity or credential is
// not a current neighbour's), 404 with no-route (a function neither
// deployed here nor run by a neighbour), 403 for the FaaS management API,
// 502 when the local FaaS or a neighbour (after one retry elsewhere) cannot
// be reached.
package embedded
