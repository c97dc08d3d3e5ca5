package quic

import (
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// maintain dials peers that are due, closes silent connections and
// forgets expired peers, until Close.
func (t *Transport) maintain() {
	tick := min(t.s.PingInterval/2, 100*time.Millisecond)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tk.C:
		}
		t.maintainOnce(time.Now())
	}
}

func (t *Transport) maintainOnce(now time.Time) {
	type target struct {
		id       peer.ID
		hostPort string
	}
	var dial []target
	var due []*member
	var silent []*conn
	inFlight := 0
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	for id, m := range t.members {
		if c := m.conn; c != nil {
			if now.Sub(c.seen()) > t.s.DownAfter {
				silent = append(silent, c)
			}
			continue
		}
		if m.dialing {
			inFlight++
			continue
		}
		if !m.bootstrap && now.Sub(m.since) > t.s.ExpireAfter {
			delete(t.members, id)
			delete(t.byKey, m.key)
			t.digestDirty = true
			t.log.Info("peer expired", "peer", string(id), "addr", m.hostPort)
			continue
		}
		if m.hostPort != "" && !now.Before(m.nextDial) {
			due = append(due, m)
		}
	}
	// Bound the handshakes in flight: a node that learns of many peers
	// at once dials them a few at a time (the others wait for a later
	// tick) rather than time them all out on a busy machine.
	slices.SortFunc(due, func(a, b *member) int { return a.nextDial.Compare(b.nextDial) })
	for _, m := range due[:min(len(due), max(0, maxDialsInFlight-inFlight))] {
		m.dialing = true
		dial = append(dial, target{m.id, m.hostPort})
	}
	t.mu.Unlock()
	for _, c := range silent {
		t.log.Info("peer silent; declared down", "peer", string(c.id), "silent_for", now.Sub(c.seen()).Round(time.Millisecond))
		c.qc.CloseWithError(codeSilent, "silent")
	}
	for _, d := range dial {
		t.wg.Go(func() { t.dial(d.id, d.hostPort) })
	}
}
