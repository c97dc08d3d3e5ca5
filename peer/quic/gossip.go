package quic

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// currentDigest returns the digest of this node's view of the membership:
// itself and the peers up now. Two nodes of a fully connected federation
// have the same digest.
func (t *Transport) currentDigest() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.digestDirty {
		return t.digest
	}
	ids := []peer.ID{t.id}
	for _, m := range t.members {
		if m.conn != nil {
			ids = append(ids, m.id)
		}
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	t.digest = binary.BigEndian.Uint64(h.Sum(nil))
	t.digestDirty = false
	return t.digest
}

// gossipFor lists the peers that came up since the last list sent on c
// (all of them for the first list), other than c's peer, and marks them
// sent.
func (t *Transport) gossipFor(c *conn) []memberEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []memberEntry
	for _, m := range t.members {
		if m.conn != nil && m.upSeq > c.sentSeq && m.id != c.id && m.hostPort != "" {
			out = append(out, memberEntry{Key: m.key, HostPort: m.hostPort})
		}
	}
	c.sentSeq = t.upSeq
	return out
}

// learn adds the members a peer reported.
func (t *Transport) learn(from peer.ID, es []memberEntry) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range es {
		m := t.byKey[e.Key]
		if m == nil {
			id := IDFromPublicKey(e.Key[:])
			if id == t.id || !t.mayDial(id) || len(t.members) >= t.s.MaxPeers {
				continue
			}
			// Both ends of a new pair usually learn of each other at the
			// same time: the larger ID waits a little so that the smaller
			// one's dial usually arrives first.
			delay := time.Duration(rand.Int64N(int64(50 * time.Millisecond)))
			if t.id > id {
				delay += 300 * time.Millisecond
			}
			t.addMember(id, e.HostPort, now).nextDial = now.Add(delay)
			t.log.Debug("peer learnt", "peer", string(id), "addr", e.HostPort, "from", string(from))
			continue
		}
		if m.conn == nil && m.id != from {
			// Up for another member: keep it from expiring, and follow
			// it if it moved.
			m.since = now
			if !m.bootstrap && !m.dialing && m.hostPort != e.HostPort {
				m.hostPort = e.HostPort
				m.nextDial = now
			}
		}
	}
}
