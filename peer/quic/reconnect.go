package quic

import (
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// Reconnect damping.
//
// A connection that ends before DownAfter is a flap. After two flaps in a
// row, a peer must wait before it connects again: both ends refuse its
// handshakes (first by its address, before any cryptography, then by its
// ID after the certificate) and do not dial it until the wait is over.
// The wait is MinBackoff doubled per further flap up to MaxBackoff, with
// jitter; a connection that lasts DownAfter, or a quiet spell, clears it.
// A member that reconnects in a loop is thus held to about one connection
// per MaxBackoff.

// connEnded records that c, m's connection, ended (or was replaced) at
// now. t.mu must be held.
func (t *Transport) connEnded(m *member, c *conn, now time.Time) {
	if now.Sub(c.established) >= t.s.DownAfter || now.Sub(m.flapAt) > 2*t.s.MaxBackoff+t.s.DownAfter {
		m.flaps = 0
	}
	if now.Sub(c.established) >= t.s.DownAfter {
		t.setQuiet(m, "", time.Time{})
		return
	}
	m.flaps++
	m.flapAt = now
	if m.flaps < 2 {
		return
	}
	wait := t.backoff(m.flaps - 1)
	t.setQuiet(m, c.qc.RemoteAddr().String(), now.Add(wait))
	t.lim.Info("flapping "+string(m.id), "peer reconnects in a loop: its next connection must wait",
		"peer", string(m.id), "flaps", m.flaps, "wait", wait.Round(time.Millisecond))
}

// setQuiet makes m wait until until, refusing handshakes from addr until
// then; an empty addr clears the wait. t.mu must be held.
func (t *Transport) setQuiet(m *member, addr string, until time.Time) {
	if m.quietAddr != "" && t.quietAddrs[m.quietAddr] == m.quietUntil {
		delete(t.quietAddrs, m.quietAddr)
	}
	m.quietAddr, m.quietUntil = addr, until
	if addr != "" {
		t.quietAddrs[addr] = until
	}
}

// quietFor returns how long the peer id must still wait before this node
// accepts it; 0 if it need not.
func (t *Transport) quietFor(id peer.ID, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.members[id]; m != nil && now.Before(m.quietUntil) {
		return m.quietUntil.Sub(now)
	}
	return 0
}

// quietAddr reports whether handshakes from addr are refused now.
func (t *Transport) quietAddr(addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.quietAddrs[addr]
	return ok && now.Before(until)
}

// pruneQuiet forgets the waits that are over. t.mu must be held.
func (t *Transport) pruneQuiet(now time.Time) {
	for addr, until := range t.quietAddrs {
		if !now.Before(until) {
			delete(t.quietAddrs, addr)
		}
	}
}
