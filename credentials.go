package dfaas

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// credential is what a neighbour must present (header DFaaS-Node-Token)
// when it forwards a request to this node. Credentials are 32 random
// bytes, made for one neighbour by one incarnation of this node (a
// restarted node makes new ones, so a captured credential dies with the
// incarnation that issued it), and:
//
//   - replaced every Config.CredentialRotation, the previous one staying
//     valid for a grace period (the neighbour expiry) so that a neighbour
//     that has not applied the new one yet loses no request;
//   - replaced at once, the previous one revoked, when the neighbour is
//     first heard from or restarts (a new incarnation);
//   - revoked when the neighbour expires or leaves the federation.
//
// The proxy applies them (proxyctl.Neighbour TokenIn and TokenInPrev);
// a neighbour is handed the current one only once the proxy in force
// accepts it.
type credential struct {
	cur, prev string
	issued    time.Time // when cur was made
}

func newToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// inbound returns the credentials peer id may present at time now: the
// current one (made, or rotated if rotate and it is due) and the previous
// one while its grace lasts. n.mu must be held.
func (n *Node) inbound(id peer.ID, now time.Time, rotate bool) (cur, prev string) {
	c := n.creds[id]
	if c == nil {
		c = &credential{cur: newToken(), issued: now}
		n.creds[id] = c
	}
	if rotate && now.Sub(c.issued) >= n.cfg.credentialRotation() {
		c.prev, c.cur, c.issued = c.cur, newToken(), now
		n.m.rotations.Inc()
	}
	if c.prev != "" && now.Sub(c.issued) >= n.cfg.expiry() {
		c.prev = ""
	}
	return c.cur, c.prev
}

// renew replaces peer id's credential at once, revoking the previous ones
// (the peer is new, or a new incarnation that cannot know them). n.mu
// must be held.
func (n *Node) renew(id peer.ID, now time.Time) {
	n.creds[id] = &credential{cur: newToken(), issued: now}
}

// proxyState builds the proxy's state for decision d, decided on s, at
// time now (rotating the credentials that are due). It includes every
// fresh neighbour (any of them may forward here), marking those in the
// data network as forwarding targets.
func (n *Node) proxyState(now time.Time, s strategy.Snapshot, fns []faas.Function, d strategy.Decision) proxyctl.State {
	st := proxyctl.State{Self: n.id, Decision: d}
	for _, fn := range fns {
		f := proxyctl.Function{Name: fn.Name}
		if sf, ok := s.Function(fn.Name); ok {
			f.Capacity, f.Concurrency = sf.Capacity, sf.Concurrency
			f.MaxQueue = proxyctl.QueueCap(proxyctl.EffectiveDepth(n.cfg.QueueDepth), sf.Concurrency)
		}
		if t, err := fn.Timeout(); err == nil {
			f.Timeout = t
		}
		st.Functions = append(st.Functions, f)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lastStep = now
	st.Neighbours = n.neighbourStates(now, true, func(id strategy.NodeID) bool {
		_, ok := s.Neighbour(id)
		return ok
	})
	return st
}

// neighbourStates returns the proxy's neighbours: every neighbour the core
// keeps, with its URL, functions and credentials, a forwarding target if
// forward says so, capped as its answers support (control.Core.ForwardCap). n.mu must be held.
func (n *Node) neighbourStates(now time.Time, rotate bool, forward func(strategy.NodeID) bool) []proxyctl.Neighbour {
	out := make([]proxyctl.Neighbour, 0, len(n.neighbours))
	for id, ns := range n.neighbours {
		cn, ok := n.core.Neighbour(strategy.NodeID(id))
		if !ok {
			continue // expired (observe drops it)
		}
		nb := proxyctl.Neighbour{ID: strategy.NodeID(id), URL: ns.msg.Proxy, TokenOut: ns.msg.Token, Cert: ns.msg.Cert}
		nb.TokenIn, nb.TokenInPrev = n.inbound(id, now, rotate)
		nb.Forward = forward(nb.ID)
		if share, rate, growth, ok := n.core.ForwardCap(nb.ID); ok && nb.Forward {
			nb.Cap = proxyctl.ForwardCap{On: true, Share: share, Rate: rate, Growth: growth}
		}
		for _, fs := range cn.Announcement.Functions {
			if fs.Deployed {
				nb.Functions = append(nb.Functions, fs.Name)
			}
		}
		out = append(out, nb)
	}
	slices.SortFunc(out, func(a, b proxyctl.Neighbour) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
