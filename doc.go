// Package dfaas is a library for decentralized Function-as-a-Service at the
// edge: each node runs a FaaS platform behind a reverse proxy, and when one
// node is overloaded its agent shifts requests to neighbours with spare
// capacity, with no central controller.
//
// A Node is assembled from parts, each a small interface with an in-memory
// implementation next to it and real backends in sub-packages:
//
//   - strategy.Strategy decides the routing (package strategy);
//   - proxyctl.Controller applies it to the proxy (proxyctl/goproxy,
//     proxyctl/haproxy);
//   - faas.Backend lists the local functions (faas/embedded, faas/openfaas,
//     faas/openwhisk);
//   - metricsrc.Source observes rates and resource usage;
//   - peer.Transport exchanges announcements with the other nodes
//     (peer.MemNetwork, peer/quic);
//   - forecast.Factory optionally predicts the next period's load.
//
// # The control cycle
//
// Every period, Node.Step:
//
//  1. handles the peer messages received (a malformed or hostile message is
//     dropped and counted, never trusted);
//  2. lists the local functions (on failure: the last known ones);
//  3. samples the metrics over the period;
//  4. forecasts each function's load;
//  5. builds a strategy.Snapshot and asks the strategy for a decision;
//  6. validates the decision and applies it to the proxy;
//  7. announces the node's state to every peer.
//
// When a step fails the decision in force stays applied (fail-static), and
// the failure is logged, counted (Status, Prometheus metrics) and returned.
// Node.Run repeats Step every period; Step can also be driven by hand with
// any clock, which is how tests and simulations run nodes in lock-step.
//
// # A basic example
//
//	net := peer.NewMemNetwork(peer.MemNetworkOptions{Seed: 1})
//	tr, _ := net.Join("a")
//	node, err := dfaas.New(dfaas.Config{
//		Strategy: &strategy.Recalc{},
//		Proxy:    proxy,   // e.g. a goproxy.Proxy
//		FaaS:     backend, // e.g. faas.NewStatic(...)
//		Metrics:  metricsrc.NewDelta(proxy.Counters()),
//		Peers:    tr,
//		ProxyURL: "http://127.0.0.1:30080",
//	})
//	if err != nil { ... }
//	defer node.Close()
//	err = node.Run(ctx)
//
// See examples/threenodes for a complete federation in one process.
//
// # Concurrency and ownership
//
// Methods of Node are safe for concurrent use, except that Step must not be
// called while Run runs. A Node does not close the parts given in its
// Config: whoever created them closes them.
package dfaas
