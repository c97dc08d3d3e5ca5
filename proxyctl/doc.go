// Package proxyctl defines how a DFaaS node drives its reverse proxy
// (Controller): the proxy routes each user request to local processing, to
// a neighbour or to rejection as the State's decision says (see
// strategy.Decision for the exact semantics every proxy implements), and
// learns the neighbours (their proxy URLs and credentials) from the same
// State.
//
// Recorder is an in-memory Controller that records what it was given.
// Implementations in sub-packages: proxyctl/goproxy (a Go reverse proxy,
// the default data plane), proxyctl/haproxy (HAProxy driven through its
// runtime API).
package proxyctl
