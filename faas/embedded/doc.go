// Package embedded is a small FaaS platform in a Go library: built-in
// functions (a figlet-like banner, shasum, echo, sleep, a CPU burner and a
// memory eater) with a capacity model — a concurrency limit, random service
// times sized to a stated capacity, a bounded queue and a queue time-out,
// all per replica — so that overload behaves as on a real node, behind the
// OpenFaaS gateway HTTP API.
//
// The API follows the OpenFaaS gateway closely enough for faas/openfaas and
// faas-cli-style clients, with the request and response types of
// github.com/openfaas/faas-provider/types:
//
//	GET    /system/functions              list (types.FunctionStatus)
//	GET    /system/function/{name}        one function
//	POST   /system/functions              deploy a built-in (types.FunctionDeployment), 202
//	PUT    /system/functions              update, 202; 404 if absent
//	DELETE /system/functions              delete (types.DeleteFunctionRequest), 202
//	POST   /system/scale-function/{name}  scale (types.ScaleServiceRequest), 202
//	GET    /system/info, /system/namespaces
//	ANY    /function/{name}[/...]         invoke
//	GET    /healthz, /metrics
//
// A deployment names the built-in it runs by envProcess or by image
// ("ghcr.io/openfaas/figlet:latest" runs figlet; see DecodeDeployment), and
// sets its capacity model with labels (dfaas.maxrate, dfaas.concurrency) or
// environment variables (capacity, max_inflight, queue, queue_timeout,
// deterministic). Listings report dfaas.maxrate and dfaas.concurrency for
// the function's current replicas and dfaas.maxrate_per_replica.
//
// /metrics has the gateway's metric names and labels:
// gateway_function_invocation_total{function_name,code},
// gateway_functions_seconds{function_name,code} (a histogram),
// gateway_function_invocation_started{function_name} and
// gateway_service_count{function_name}; with a Namespace, function_name is
// "name.namespace" as on OpenFaaS. Unlike the OpenFaaS gateway, which
// serves /metrics on a separate port (8082), the embedded FaaS serves it
// on its API port. Optional basic auth protects /system/ (Config.Username,
// or Config.GenerateCredentials for a random password, as an OpenFaaS
// installation generates one; Server.Credentials returns it for clients
// such as faas/openfaas). A FaaS started by an agent should always have
// credentials: otherwise any local process can scale its functions to 0.
//
// Serve applies the server's Limits (connections in total and per client
// address, idle, header, body and whole-request time-outs, body size and
// request body bytes in flight; see the Limits type); Handler applies the
// body caps alone. A function reads its whole body into memory, so the
// in-flight cap bounds the memory bodies take: above it requests get 503.
// Refusals are exported on /metrics as
// dfaas_listener_refused_total{listener="faas",reason}.
//
// An OpenWhisk (NewOpenWhisk) serves the same functions as the actions of
// one OpenWhisk namespace through a subset of OpenWhisk's REST API, with web
// actions, activations and the user-events metrics (dfaas faas --api
// openwhisk).
//
// It is the default FaaS of the reference agent and of dfaas demo, and the
// standalone server of dfaas faas. A Server also implements faas.Backend
// in-process.
package embedded
