package quic

import (
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// maintainTick is the longest interval between two maintenance rounds: a
// peer whose federation certificate expires is disconnected within it.
const maintainTick = 100 * time.Millisecond

// maintain dials peers that are due, closes silent and expired
// connections and forgets expired peers, until Close.
func (t *Transport) maintain() {
	tick := min(t.s.PingInterval/2, maintainTick)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case <-t.ctx.Done():
			t.lim.Flush()
			return
		case <-tk.C:
		}
		now := time.Now()
		t.maintainOnce(now)
		t.checkOwnCertificate(now)
		if now.Sub(t.lastFlush) >= t.s.LogInterval/4 {
			t.lastFlush = now
			t.lim.Flush()
		}
	}
}

// dialTarget is a dial that maintainOnce starts.
type dialTarget struct {
	id       peer.ID
	hostPort string
}

func (t *Transport) maintainOnce(now time.Time) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	silent, expired, due, inFlight := t.survey(now)
	dial := t.pickDials(due, inFlight, now)
	t.pruneAddrDials(now)
	t.pruneQuiet(now)
	t.mu.Unlock()
	for _, c := range silent {
		t.lim.Info("silent "+string(c.id), "peer silent; declared down", "peer", string(c.id),
			"silent_for", now.Sub(c.seen()).Round(time.Millisecond))
		c.qc.CloseWithError(codeSilent, "silent")
	}
	for _, c := range expired {
		t.reject(RejectExpired)
		t.lim.Warn("expired "+string(c.id), "peer disconnected: its federation certificate has expired",
			"peer", string(c.id), "not_after", c.until)
		c.qc.CloseWithError(codeExpired, "federation certificate expired")
	}
	for _, d := range dial {
		t.wg.Go(func() { t.dial(d.id, d.hostPort) })
	}
}

// survey goes through the members: it returns the connections that are
// silent and those whose peer's admission has expired, the members due
// for a dial and the number of dials in flight, and forgets the members
// down for ExpireAfter. t.mu must be held.
func (t *Transport) survey(now time.Time) (silent, expired []*conn, due []*member, inFlight int) {
	for id, m := range t.members {
		if c := m.conn; c != nil {
			switch {
			case c.expired(now):
				expired = append(expired, c)
			case now.Sub(c.seen()) > t.s.DownAfter:
				silent = append(silent, c)
			}
			continue
		}
		if m.dialing {
			inFlight++
			continue
		}
		if !m.bootstrap && now.Sub(m.since) > t.s.ExpireAfter {
			t.remove(m)
			if m.verified {
				t.lim.Info("expired peer "+string(id), "peer expired", "peer", string(id), "addr", m.hostPort)
			}
			continue
		}
		if m.hostPort != "" && !now.Before(m.nextDial) {
			due = append(due, m)
		}
	}
	return silent, expired, due, inFlight
}

// pickDials chooses the members to dial now among those due, marking
// them dialling. It bounds the handshakes in flight: a node that learns
// of many peers at once dials them a few at a time (the others wait for a
// later round) rather than time them all out on a busy machine. Claimed
// addresses also wait for their budgets (see claimDial). t.mu must be
// held.
func (t *Transport) pickDials(due []*member, inFlight int, now time.Time) []dialTarget {
	slices.SortFunc(due, func(a, b *member) int { return a.nextDial.Compare(b.nextDial) })
	var dial []dialTarget
	for _, m := range due {
		if inFlight+len(dial) >= maxDialsInFlight {
			break
		}
		if m.claimBy != "" && !t.claimDial(m, now) {
			if !m.verified {
				continue // it waits for the budgets, or expires
			}
			// A known peer is dialled at its verified address meanwhile.
			if m.claimBy != "" {
				t.dropClaim(m, "no dial budget left for it")
			}
		}
		m.dialing = true
		dial = append(dial, dialTarget{m.id, m.hostPort})
	}
	return dial
}
