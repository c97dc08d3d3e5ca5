// Package goproxy is a Go reverse proxy that serves as a DFaaS node's data
// plane: the default proxyctl.Controller of the reference agent and of
// dfaas demo. It routes each user request for /function/{name} to the local
// FaaS, to a neighbour's proxy or to rejection exactly as the decision in
// force says (see strategy.Decision), applies decisions atomically without
// dropping a request, and counts every request for the metric source.
//
// Statuses it answers itself: 429 with header DFaaS-Rejected: policy (the
// reject share, or overflow above a local limit with nowhere to forward),
// 429 with admission (a neighbour above its admission limit), 429 with
// queue-full (the function's queue is full, see below), 403 with
// unknown-node (a forwarded request whose node identity or credential is
// not a current neighbour's), 404 with no-route (a function neither
// deployed here nor run by a neighbour), 403 for the FaaS management API,
// 400 for an invalid function name or a path with a "." or ".." segment
// or a backslash (which the FaaS could resolve to another path), 413, 503
// and 408 for bodies beyond its Limits (too large, too many bytes in
// flight, too slow), 502 when the local FaaS or a neighbour cannot be
// reached.
//
// # Faults and attacks
//
// The proxy faces the public, so its state is bounded whatever clients
// send:
//
//   - Per-function counters exist only for the functions of the routing
//     state (deployed here, run by a neighbour, or routed by the
//     decision); requests for any other name, and every request before the
//     first Apply, are counted in one aggregate (metricsrc.Counters.Other,
//     exported as dfaas_proxy_unrouted_requests_total). The counters of a
//     function that leaves the routing state are removed CounterLinger
//     after (see metricsrc.Counters for the rule).
//   - Serve applies Limits (see internal/netlimit): connections in total
//     and per client address, where a new connection at a cap closes the
//     oldest idle connection of the address that holds the most (429 or
//     503 when none is idle); idle, header, body and whole-request
//     time-outs; header size (431); body size (413) and request body bytes
//     in flight (503). The defaults fit a small edge node; refusals are
//     counted in dfaas_listener_refused_total{listener="proxy"}.
//   - The heads of an upstream's answer (the local FaaS's or a
//     neighbour's), informational (1xx) ones included, are bounded
//     together by the header limit: 502 beyond it.
//   - A path with a "." or ".." segment or a backslash is refused (400)
//     before the FaaS, which could resolve it to another path.
//   - Requests refused before any function's counters are counted by
//     reason in dfaas_proxy_refused_requests_total (MetricRefused): bad
//     paths and names (400), the management API (403), other paths (404)
//     and forwarded requests from an unknown node or with a wrong
//     credential (403 unknown-node). (HAProxy counts the same refusals in
//     its own exporter: the backend "invalid" and the frontends' 4xx.)
//   - Bodies are streamed: the proxy reads before sending only bodies of
//     at most 16 KiB, and keeps at most Config.RetryBuffer bytes of a
//     forwarded body to send it elsewhere.
//   - A request forwarded to a neighbour that refuses it as unknown-node
//     (it does not know this node's credential yet, as after it restarted)
//     or cannot be connected to is sent once more: locally when the
//     function is deployed here within its local limit, else to another
//     neighbour that runs it; never a third time, and a forwarded request
//     is never forwarded again. Retries are counted in
//     dfaas_proxy_retries_total{reason}.
//   - A neighbour's credential is compared in constant time with the
//     current one and, during its grace after a rotation, the previous
//     one (proxyctl.Neighbour.TokenInPrev); nothing else is accepted.
//   - A function with a known Concurrency and a MaxQueue
//     (proxyctl.Function) has at most Concurrency + MaxQueue requests in
//     flight to the local FaaS through the proxy: its users' requests
//     served here (those sent here after a neighbour could not take them
//     included) and its neighbours' requests. One more is refused at once:
//     429 queue-full with Retry-After: 1, counted as rejected (a user's
//     request is not sent to a neighbour instead) and in
//     dfaas_proxy_queue_full_total{function}. The FaaS queues at the
//     function's Concurrency; the cap keeps that queue, and so the latency
//     of what is served, bounded under any load, instead of requests
//     waiting until their time-out. The count is kept with atomics (each
//     request releases its place once, however it ends) and carried from
//     decision to decision: an Apply neither resets nor leaks it. Requests
//     in flight at the first Apply are not counted.
//   - Every answer of a neighbour to a forwarded request is counted per
//     function and neighbour (metricsrc.FunctionCounters.AddAnswer):
//     succeeded, with the time to it, or failed (a 5xx, a 429 or other
//     refusal of its proxy, unreachable, or refused as unknown-node). The
//     agent bounds what a neighbour receives by them (control.Trust).
//
// # Cost per request
//
// The routing path (name, counters, decision) allocates nothing. Requests
// without a body or with a small one (at most 16 KiB, and within
// Config.RetryBuffer for a neighbour) go through pooled HTTP/1.1 clients,
// one to the local FaaS and one per neighbour (over mutual TLS for an https
// neighbour), that write the request in one system call and parse the
// common answer in place (about half the CPU of http.Transport, whose two
// goroutines per connection dominate a proxy's cost); the handler then
// allocates three objects per request (the body's limits, the answer's
// headers) and none for the answers it gives itself (refusals), beyond
// what the http.Server that calls it allocates. Other requests go through
// http.Transport with connections reused and no transparent compression.
// BenchmarkRequestCost measures a request end to end against a direct one;
// TestRequestAllocs pins the allocations. The Proxy is an http.Handler:
// serve it with Serve for the limits, or embed it in a server of your own.
package goproxy
