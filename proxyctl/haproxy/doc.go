// Package haproxy drives HAProxy (2.6 or later) as a DFaaS node's data
// plane: a proxyctl.Controller that applies every decision through HAProxy's
// runtime API, without reloading, and a metricsrc.TotalsReader over
// HAProxy's own counters.
//
// # The configuration
//
// Render writes the configuration from the node's functions and
// neighbours. One public frontend (ListenAddr, :30080 by default) serves
// /function/{name}[/...] (an exact name) and the health path; the FaaS
// management API is never reachable through it. Each function has three
// backends: fn.<name> splits user requests by weight among the servers
// local (the gateway, through an internal frontend that enforces the local
// rate limit), reject (an internal responder that answers 429), noroute
// (404) and one slot per neighbour, n1, n2, ...; over.<name> receives local
// requests above the local limit and splits them among the forwarding
// shares; gw.<name> holds the gateway with the function's concurrency limit
// (maxconn) and a queue time-out, so that bursts and cold starts wait in
// HAProxy's queue. Each neighbour slot is an internal listener (out.n<i>)
// that adds this node's identity and the credential the neighbour gave it,
// health-checks the neighbour's HealthPath, and takes it out of rotation
// after two failed checks or at once on a failed connection; a request that
// could not reach it is retried once elsewhere. Rate caps (local and per
// neighbour) use stick tables. HAProxy's Prometheus exporter listens on
// MetricsAddr.
//
// # Run-time updates
//
// Apply computes the full run-time state (server weights, the neighbour in
// each slot and its address, the maps of identities, credentials and limits,
// concurrency limits) and sends only what changed through the runtime API
// (github.com/haproxytech/client-native/v6/runtime). A neighbour joining or
// leaving takes a free slot or frees one: no reload. HAProxy is reloaded
// (hitlessly: master-worker mode, listeners passed to the new worker through
// the master CLI) only when a function appears that has no backend yet, or
// when the neighbours outgrow the slots. The configuration file always holds
// the latest state, and when HAProxy restarts (its worker process changes)
// the controller re-applies the full state.
//
// # Forwarding between nodes
//
// A forwarded request carries DFaaS-Node-ID and DFaaS-Node-Token. The
// receiving HAProxy accepts it only if the token's SHA-256 matches the one
// stored for that node in a map installed at run time from
// proxyctl.Neighbour.TokenIn (a secret the nodes exchange over the
// authenticated peer channel); otherwise it answers 403 with DFaaS-Rejected:
// unknown-node. A forwarded request is served locally or refused (429
// admission, 404 no-route), never forwarded again.
//
// # Counters
//
// Controller.Totals reads HAProxy's cumulative per-backend and per-server
// counters and its stick tables and returns them as metricsrc.Totals;
// wrap the Controller in metricsrc.NewDelta for rates. Counters accumulate
// across reloads and restarts.
package haproxy
