// Package faas defines how a DFaaS node learns which functions run on its
// local FaaS platform (Backend), with their replicas, labels and
// annotations, and holds an in-memory Backend (Static).
//
// A function's capacity, time-out and concurrency come from its labels
// (LabelMaxRate, LabelTimeout, LabelConcurrency), as an operator sets them
// when deploying it, e.g. with faas-cli:
//
//	faas-cli deploy --name figlet --label dfaas.maxrate=100 --label dfaas.timeout_ms=6000
//
// Implementations: Static (here), faas/embedded (a built-in FaaS that
// speaks the OpenFaaS gateway API, or OpenWhisk's), faas/openfaas (a
// client of an OpenFaaS gateway, or of dfaas faas), faas/openwhisk (an
// Apache OpenWhisk namespace's actions, with dfaas.* annotations).
package faas
