// Package remote is the agent's side of an outside decision model, such
// as a reinforcement-learning agent served over HTTP: Client is a
// strategy.Advisor that POSTs the node's observation (Observation, built
// from the strategy snapshot) to the model and decodes its answer strictly
// into strategy.Advice, which the strategy.External strategy then applies.
//
// The protocol, in JSON over HTTP:
//
//	POST <url>
//	Content-Type: application/json
//
//	{"version": 1, "self": "node-a", "time": "...", "period_ms": 5000,
//	 "functions": [{"name": "figlet", "deployed": true, "capacity": 200, "offered": 250, ...}],
//	 "neighbours": [{"id": "node-b", "age_ms": 1200, "rtt_ms": 3, "functions": [...]}],
//	 "applied": {"figlet": {"local": 0.8, "reject": 0, "forward": {"node-b": 0.2}}}}
//
//	200 OK
//	{"routes": {"figlet": {"local": 0.6, "reject": 0.1, "forward": {"node-b": 0.3}}}}
//
// Any number of functions and neighbours is supported. The agent bounds
// every call with a deadline (dfaas.Config.AdviceTimeout); on an error or
// a time-out the strategy keeps the decision in force.
//
// It imports only the standard library.
package remote
