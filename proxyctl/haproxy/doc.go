// Package haproxy drives HAProxy (2.6 or later) as a DFaaS node's data
// plane: a proxyctl.Controller that applies every decision through HAProxy's
// runtime API, without reloading, and a metricsrc.TotalsReader over
// HAProxy's own counters.
//
// # The configuration
//
// Render writes the configuration from the node's functions and
// neighbours. Every request passes through HAProxy once. One public
// frontend (ListenAddr, :30080 by default) serves /function/{name}[/...]
// (an exact name) and the health path; the FaaS management API is never
// reachable through it. It draws each user request's target from the
// function's route table (the map route: 256 buckets filled in smooth
// weighted round-robin order from the decision's shares, the bucket being
// the function's request count) and sends it straight to the gateway
// (backend gw.<name>, with the function's concurrency limit, a queue
// time-out and a queue cap: a request that would join a queue already
// holding proxyctl.Function.MaxQueue is refused at once, 429 queue-full),
// to a neighbour (backend out.n<i>, which adds this node's identity and the
// credential the neighbour gave it, and health-checks it), or answers it (429 policy, 404 no-route). Local requests above the
// local limit overflow to the forwarding shares. A user request bound for
// a neighbour beyond its forwarding cap (proxyctl.ForwardCap:
// its share of the function's user requests in the last second, from the
// request rates of the stick tables st_fn and st_out, its trusted rate, or
// a multiple of its successful answers then, st_out's gpc0 rate)
// is served locally if the route has a local share and the local limit
// allows, else refused (429 policy). A request a neighbour refuses with
// 403 or cannot be reached for, or that the gateway cannot take, is
// retried once through an internal frontend: locally, or with
// another neighbour. Rate caps (local and per neighbour) and counters use
// stick tables. The public listener has time-outs (idle, headers, whole
// request, client), connection caps (global, frontend, per client
// address, an IPv6 client's /64) and a body size limit, all set in
// Config; its listeners speak HTTP/1 only (with HTTP/2, one connection
// would carry up to 100 requests at once past the per-address cap).
// HAProxy's Prometheus exporter listens on MetricsAddr.
//
// # Run-time updates
//
// Apply computes the full run-time state (the maps of routes, identities,
// credentials and limits, the neighbour in each slot and its address,
// concurrency limits; queue caps are in a map too, read only while a
// request waits) and sends only what changed through the runtime API
// (github.com/haproxytech/client-native/v6/runtime). A neighbour joining or
// leaving takes a free slot or frees one: no reload. HAProxy is reloaded
// (hitlessly: master-worker mode, listeners passed to the new worker through
// the master CLI) only when a function appears that has no backend yet, or
// when the neighbours outgrow the slots. The configuration file always holds
// the latest state, and when HAProxy restarts (its worker process changes)
// the controller re-applies the full state. A controller that finds an
// HAProxy left running by a controller that died takes its listening
// sockets over and stops it, so that none of the old credentials stays in
// force.
//
// # Forwarding between nodes
//
// A forwarded request carries DFaaS-Node-ID and DFaaS-Node-Token. The
// receiving HAProxy accepts it only if the token's SHA-256 matches the one
// stored for that node in a map installed at run time from
// proxyctl.Neighbour.TokenIn (a secret the nodes exchange over the
// authenticated peer channel), or, during the grace after a rotation, from
// TokenInPrev; otherwise it answers 403 with DFaaS-Rejected: unknown-node. A forwarded request is served locally or refused (429
// admission, 404 no-route), never forwarded again.
//
// A neighbour's address comes from its announcement. One this node cannot
// use (a host name that does not resolve within 2 s, a URL with a path,
// port 0) is not forwarded to, and the rest of the state is applied: the
// address is logged once and tried again after 30 s (or at once if it
// changes), so that one member cannot make every Apply fail.
//
// # Counters
//
// Controller.Totals reads HAProxy's cumulative per-backend and per-server
// counters and its stick tables and returns them as metricsrc.Totals;
// wrap the Controller in metricsrc.NewDelta for rates. A user request
// refused for its body (411, 413) counts as rejected; one refused by a
// queue cap counts as rejected, not as local, and, a neighbour's, not as
// accepted from it. Counters accumulate
// across reloads and restarts. They include each neighbour's answers
// (succeeded, with their latency, and failed; Totals.Answers) and, in one
// aggregate (Totals.Other), the user requests for names not routed here.
package haproxy
