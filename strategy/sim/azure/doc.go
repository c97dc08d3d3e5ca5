// Package azure builds simulator scenarios from the Azure Functions 2019
// trace (the Azure Public Dataset's "Azure Functions Trace 2019", Shahrad
// et al., "Serverless in the Wild", USENIX ATC 2020, CC-BY 4.0):
// per-minute invocation counts per function, with execution-time and
// memory files.
//
// ReadDir (or ReadInvocations, ReadDurations and ReadMemory) reads the
// files, finding columns by header name, so both forms that occur work:
// the published one (HashOwner,HashApp,HashFunction,Trigger,1..1440, one
// file per day) and the sampled one (HashFunction,HashApp,HashOwner,
// minute_1..minute_1440). It keeps only the busiest functions, so memory
// stays bounded whatever the file's size; lines, minutes and counts are
// bounded too. Trace.Scenario maps the functions onto a ring of nodes,
// compresses time and scales the counts to the capacities the durations
// and memory give (see Config). dfaas sim --azure DIR runs it.
//
// testdata/sample holds twelve functions of a public 100-function sample
// of the trace, with its attribution. The package imports only the
// standard library and strategy/sim.
package azure
