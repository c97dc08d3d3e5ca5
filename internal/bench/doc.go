// Package bench runs a scenario on real processes with one or more
// strategies — the machinery of dfaas bench: it sets up the network
// (namespaces as root, else loopback; package testbed), runs per strategy
// a cluster of dfaas faas and dfaas agent processes, sends the scenario's
// load open-loop (package loadgen) after the simulator's warm-up, records
// every request and every decision, simulates the same scenario, and
// returns the report (package report) with both side by side. Whatever
// it creates — processes, namespaces, files — is removed before Run
// returns, on every path.
package bench
