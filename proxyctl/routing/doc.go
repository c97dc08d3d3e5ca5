// Package routing is the routing algorithm of the DFaaS data plane, in one
// place: how a proxy turns a strategy.Route into a choice for every request
// (see the contract on strategy.Decision). The embedded proxy
// (proxyctl/goproxy) and the simulator's proxy (strategy/sim) both route
// with it, so the simulator routes as the proxy does.
//
//   - Shares are realised by a smooth weighted round robin (Picker), the
//     algorithm of nginx and HAProxy: over any window of W requests each
//     destination gets its share of W to within one request.
//   - Rate caps (a route's LocalLimit and Admit) are token buckets (Bucket)
//     with a burst of BurstWindow's worth of tokens (at least one; a rate of
//     0 refuses everything). A bucket keeps the tokens it has left when a
//     new decision changes its rate, so a new decision lets no burst
//     through.
//   - A user request picked for local service above the LocalLimit
//     overflows to the forwarding shares, in proportion to them; with no
//     forwarding share it is rejected (Route.Pick).
//   - A forwarding destination may be capped (Cap, Route.SetCaps): it
//     receives at most a share of the route's user requests, a rate, or a
//     multiple of its successful answers (Route.Succeeded), whichever is
//     most, counted as they arrive over about the last CapWindow; a request
//     beyond goes to another destination within its cap, else local
//     service, else rejection. A node caps every neighbour by what its
//     answers support (proxyctl.ForwardCap), so that the cap holds from the
//     first second of a load onset, not only once the forecast sees it.
//   - A function without a route in the decision is served locally if
//     deployed, else forwarded evenly among the neighbours running it, else
//     refused (Default).
//
// Time is passed in (now), never read, so that the simulator routes in
// virtual time. The types are not safe for concurrent use: the embedded
// proxy guards each route with a mutex. Picking and taking tokens do not
// allocate.
//
// The package imports only strategy and the standard library.
package routing
