// Package netlimit bounds what clients can hold on a DFaaS HTTP listener:
// connections (in total and per client address), time (idle, header, body
// and whole-request time-outs) and request body bytes (per request and in
// flight at once). The embedded proxy, the embedded FaaS and the agent's
// admin server are all served through a Limiter; their packages expose its
// Config as their Limits type.
//
// A Limiter wraps a net.Listener (Listener) and builds the http.Server that
// serves it (Server, Serve). At a connection cap it makes room by closing
// the oldest idle (or not yet used) connection of the address that holds
// the most, so that one address cannot starve the others; only when no such
// connection exists is the new one answered 429 (per-address cap) or 503
// (total cap) and closed. Bodies are admitted by AdmitBody (or Handler):
// larger than MaxBodyBytes gets 413, above the in-flight cap 503, slower
// than BodyTimeout 408. Its servers speak HTTP/1 only, over TLS too:
// HTTP/2 would carry hundreds of requests on each connection the caps
// count.
//
// The zero Config is fit for a small edge node; see the Default constants.
// Every refusal is counted (Stats) and exported as Prometheus metrics (a
// Limiter is a prometheus.Collector).
package netlimit
