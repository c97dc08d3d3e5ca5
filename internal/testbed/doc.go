// Package testbed runs a federation of DFaaS nodes as real processes on
// this machine, for dfaas bench: per node a "dfaas faas" and a "dfaas
// agent" (with its proxy, the embedded one or HAProxy), connected either
// by network namespaces joined by a user-space router that carries packets
// only along a scenario's links and delays each by half the link's RTT
// (Netns, as root on Linux), or on loopback (Loopback).
//
// A Cluster starts the processes of one run, waits for the federation to
// form, watches the processes and polls the agents' decisions; Close stops
// every process it started, on every path. Namespaces left by a bench that
// was killed are swept by the next one (SweepStale).
package testbed
