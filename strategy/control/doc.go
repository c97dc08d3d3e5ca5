// Package control is the control core of a DFaaS node: everything that
// happens around strategy.Strategy.Decide in a control cycle, written once
// and run by the agent (package dfaas), the simulator (strategy/sim) and the
// conformance suite (strategy/strategytest).
//
// A Core has the shape of etcd raft's RawNode: it is synchronous, starts no
// goroutine, does no I/O and reads no clock (time is passed in). Its
// embedder does the I/O around it:
//
//	heard, err := core.Receive(from, msg, now) // each announcement that arrives
//	if heard.Greets() { ... accept from in the data plane ...; out, _ := core.Greet(from); ... send out ... }
//	s, err := core.Observe(observation)        // once a cycle: the snapshot
//	d, err := control.Decide(st, s)            // the strategy, completed and validated
//	core.Bound(&d, s)                          // what each neighbour may receive
//	... apply d to the data plane ...
//	core.Commit(d, accepted)                   // only if the data plane took it
//	for _, out := range core.Outbox(members) { ... send out ... }
//
// What the core does:
//
//   - Receive keeps each neighbour's latest announcement (with only the
//     grants addressed to this node, bounded by the capacity it announces),
//     dropping messages older, by incarnation and sequence number, than one
//     already received from the same sender, and messages that claim to
//     come from this node. A message of a larger incarnation is a restart:
//     what the core kept of the sender is replaced at once (Heard).
//   - Greet accepts a peer heard from for the first time, or restarted, at
//     once and yields the message that tells it so, out of cycle; Hail
//     yields the announcement for a member that connected but was not heard
//     from yet. Two nodes that meet thus accept each other within a round
//     trip rather than over periods.
//   - Observe expires neighbours not heard from within the expiry and
//     forgets those the directory no longer lists, selects the data network
//     (neighbours that accept this node's requests, are not reported down,
//     within MaxRTT, the Nearest by RTT), merges the local functions, their
//     observed rates and the functions neighbours run, feeds one forecaster
//     per function, derives the cycle's seed, and returns the validated
//     strategy.Snapshot. Per-function state exists only for the functions
//     deployed here or run by a neighbour kept: the rates of any other name
//     (a client's made-up ones) are one aggregate (Unknown), and a state
//     whose function went is dropped in the same cycle. A function without
//     offered load for IdlePeriods measured periods is forecast exactly 0.
//   - Decide calls the strategy safely, completes its decision (Complete:
//     default routes, the generic announcement) and validates it.
//   - Bound caps, whatever the strategy, the rate each neighbour receives
//     at what its measured answers support (Trust), serving what it takes
//     locally within the node's spare capacity (rejecting the rest), and
//     counts the anomalies (Anomalies).
//   - Commit records the decision the data plane applies: the next
//     snapshots' Prev, and the announcement sent every cycle until the next
//     Commit. A cycle that fails commits nothing, so the decision in force
//     and its announcement stay (fail-static).
//   - Outbox yields one message per peer, in ID order, with the next
//     sequence number and only the grants addressed to that peer.
//
// What stays outside: the wire encoding, the forwarding credentials, the
// data plane's state, metrics, logs and health (package dfaas); the proxy
// and queue model (strategy/sim). The core knows nothing of HTTP, QUIC or
// Prometheus: it imports only strategy, forecast and the standard library.
// Sequence numbers and incarnations are the core's (it assigns them in
// Outbox and checks them in Receive), so that the agent and the simulator
// handle stale messages and restarts alike; the embedder only carries them.
//
// A Core is not safe for concurrent use: the agent guards it with its lock.
package control
