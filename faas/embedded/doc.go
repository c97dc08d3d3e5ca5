// Package embedded is a small FaaS platform in a Go library: built-in
// functions (a figlet-like banner, shasum, echo, sleep, a CPU burner and a
// memory eater) with a capacity model — a concurrency limit, random service
// times sized to a stated capacity, a bounded queue and a queue time-out —
// so that overload behaves as on a real node, behind the part of the
// OpenFaaS gateway HTTP API that DFaaS uses.
//
// It is the default FaaS of the reference agent and of dfaas demo, and the
// standalone server of dfaas faas. A Server also implements faas.Backend
// in-process.
package embedded
