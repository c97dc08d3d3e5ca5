// Package openfaas is a faas.Backend over the REST API of an OpenFaaS
// gateway (or of anything that speaks it, such as dfaas faas): it lists the
// deployed functions with their replicas, labels and annotations
// (GET /system/functions), checks the gateway's health (GET /healthz), and
// can deploy, update, delete and scale functions for tools and tests.
//
// # Capacity and the other DFaaS settings of a function
//
// DFaaS reads a function's capacity (req/s it sustains on this node), its
// time-out and its concurrency from labels set at deployment:
//
//	faas-cli deploy --image ghcr.io/openfaas/figlet:latest --name figlet \
//	    --label dfaas.maxrate=100 --label dfaas.timeout_ms=6000
//
// Client resolves each setting in this order and reports the result in the
// function's labels, so that faas.Function.Capacity, Timeout and
// Concurrency read it:
//
//   - capacity: label dfaas.maxrate; else annotation dfaas.maxrate; else
//     label or annotation dfaas.maxrate_per_replica times the available
//     replicas (a capacity that follows scaling);
//   - time-out: label dfaas.timeout_ms; else the annotation of that name;
//   - concurrency: label dfaas.concurrency; else the annotation; else the
//     watchdog's max_inflight environment variable times the available
//     replicas.
//
// Annotations exist because some platforms restrict label values; a
// function without any capacity setting has capacity 0 (unknown), which
// strategies treat as "never overloaded by its own measure".
//
// # Failure
//
// Every request has a time-out (Config.Timeout). When the gateway is down,
// Functions and Health return errors; a dfaas.Node then keeps the last
// known functions and reports the faas component unhealthy until the
// gateway answers again.
package openfaas
