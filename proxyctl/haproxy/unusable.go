package haproxy

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// Addresses of the neighbours.
//
// A neighbour's URL comes from its own announcement. One this node cannot
// use (a host name that does not resolve, a URL with a path, port 0) must
// not fail Apply as a whole: then one member, hostile or misconfigured,
// would freeze the routing of every HAProxy node it announces to. Such a
// neighbour is not forwarded to (it keeps no slot; its shares go to the
// others) and may still forward here; the address is logged once, and
// looked up again at most every retryUnusable while it stays the same.
const (
	// resolveTimeout bounds the look-up of one neighbour's host name.
	resolveTimeout = 2 * time.Second
	// retryUnusable is how long an address that could not be used is
	// left alone before it is tried again.
	retryUnusable = 30 * time.Second
)

// unusableAddr is a neighbour URL that could not be used, and when.
type unusableAddr struct {
	url string
	at  time.Time
}

// usable returns s with the neighbours whose address cannot be used not
// forwarded to, and the addresses of the others it forwards to. It fails
// only when ctx is done.
func (c *Controller) usable(ctx context.Context, s proxyctl.State) (proxyctl.State, map[strategy.NodeID]netip.AddrPort, error) {
	addrs := map[strategy.NodeID]netip.AddrPort{}
	failed := map[strategy.NodeID]unusableAddr{}
	var nbs []proxyctl.Neighbour
	for i, n := range s.Neighbours {
		if !n.Forward {
			continue
		}
		ap, err := c.resolveNeighbour(ctx, n)
		if err == nil {
			addrs[n.ID] = ap
			continue
		}
		if ctx.Err() != nil {
			return s, nil, ctx.Err()
		}
		if nbs == nil {
			nbs = slices.Clone(s.Neighbours)
		}
		nbs[i].Forward = false
		failed[n.ID] = c.noteUnusable(n, err)
	}
	c.mu.Lock()
	c.unusable = failed
	c.mu.Unlock()
	if nbs != nil {
		s.Neighbours = nbs
	}
	return s, addrs, nil
}

// resolveNeighbour returns n's address, unless its URL failed less than
// retryUnusable ago.
func (c *Controller) resolveNeighbour(ctx context.Context, n proxyctl.Neighbour) (netip.AddrPort, error) {
	c.mu.Lock()
	u, ok := c.unusable[n.ID]
	c.mu.Unlock()
	if ok && u.url == n.URL && time.Since(u.at) < retryUnusable {
		return netip.AddrPort{}, errUnusable
	}
	lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	return resolveURL(lctx, c.res, n.URL)
}

// noteUnusable logs that n's address cannot be used, the first time for
// its URL, and returns what to remember of it.
func (c *Controller) noteUnusable(n proxyctl.Neighbour, err error) unusableAddr {
	c.mu.Lock()
	u, ok := c.unusable[n.ID]
	c.mu.Unlock()
	if ok && u.url == n.URL {
		if err == errUnusable {
			return u
		}
		return unusableAddr{url: n.URL, at: time.Now()}
	}
	c.o.log.Warn("neighbour's address cannot be used: not forwarded to", "peer", string(n.ID), "url", n.URL, "err", err)
	return unusableAddr{url: n.URL, at: time.Now()}
}

// errUnusable is the error of an address left alone (see retryUnusable).
var errUnusable = errors.New("address could not be used recently")
