// Package openwhisk makes Apache OpenWhisk a FaaS platform of a DFaaS
// node: Client is a faas.Backend and faas.HealthChecker over OpenWhisk's
// REST API, and Invoker is the piece a proxy mounts in place of an OpenFaaS
// gateway to invoke the actions.
//
// # Listing actions
//
// Client lists the actions of one namespace (GET
// /api/v1/namespaces/{ns}/actions, PageSize at a time with limit and skip,
// bounded by MaxActions) with the namespace's API key ("UUID:KEY", HTTP
// Basic auth) read by ReadKeyFile from a file only its owner may read.
// Every action of the namespace's default package whose name DFaaS accepts
// is a function with one replica; actions in packages are skipped. The
// DFaaS settings come from the action's annotations and limits, and are
// reported as the function's labels so that faas.Function.Capacity,
// Timeout and Concurrency read them:
//
//   - capacity: annotation dfaas.maxrate (req/s), set with
//     wsk action update figlet -a dfaas.maxrate 100;
//   - time-out: annotation dfaas.timeout_ms, else limits.timeout;
//   - concurrency: annotation dfaas.concurrency, else limits.concurrency
//     (per container) times limits.instances (containers) when OpenWhisk
//     reports both. limits.concurrency alone is not used: OpenWhisk runs
//     as many containers as load and memory allow, so the default of 1 is
//     no bound on the action.
//
// A setting that does not parse is ignored with a warning naming the
// action and the field. TLS to the controller uses the system's
// certificate authorities or those of Config.CAFile; every request has a
// time-out and every answer a size limit.
//
// # Invoking actions
//
// Users keep calling /function/{name} on a node. Invoker serves that path,
// and only that path, by invoking the action: web actions (annotation
// web-export) at their web-action URL without credentials, others through
// the authenticated API, blocking, for their result only. The operator's
// key is added by the Invoker, never taken from the user's request and
// never returned in an answer. A blocking invocation that OpenWhisk turns
// into an asynchronous one (202) answers 504. See Invoker for the details,
// and docs/openwhisk.md for how each proxy mounts it.
//
// # Metrics
//
// Per-action rates and latencies come from OpenWhisk's user-events service
// (openwhisk_action_activations_total, openwhisk_action_status,
// openwhisk_action_duration_seconds) through metricsrc/scrape
// (NewOpenWhisk, or NewFaaS with SeriesOpenWhisk) or metricsrc/promsrc
// (Config.Series = SeriesOpenWhisk).
//
// # Trying it without OpenWhisk
//
// faas/embedded serves its built-in functions as OpenWhisk actions (dfaas
// faas --api openwhisk): the tests of this package run against it, and so
// does the real JavaScript client of OpenWhisk.
package openwhisk
