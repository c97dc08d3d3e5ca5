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
// (all of them for the first list, or if full), other than c's peer, and
// marks them sent. Only peers up now, at the address they were verified
// at, are listed: this node never passes on what it was only told.
func (t *Transport) gossipFor(c *conn, full bool) []memberEntry {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if full {
		c.sentSeq = 0
	}
	var out []memberEntry
	for _, m := range t.members {
		if m.up(now) != nil && m.upSeq > c.sentSeq && m.id != c.id && m.verifiedAddr != "" {
			out = append(out, memberEntry{Key: m.key, HostPort: m.verifiedAddr})
		}
	}
	c.sentSeq = t.upSeq
	return out
}

// Gossip bounds.
//
// A member's word is a claim: the peers it lists (and new addresses of
// known peers) are held as unverified until a handshake proves them. A
// member can have at most UnverifiedPerPeer claims held at once; further
// entries are ignored (and counted). Each claim is dialled at most
// UnverifiedDials times, with backoff, then dropped (a known peer goes
// back to its verified address). Dials to claimed addresses also draw on
// two budgets: the claiming member's (UnverifiedPerPeer at once, then
// introDialRate per second) and the address's (UnverifiedDials at once,
// then one per ExpireAfter, whoever names it), so that no member can make
// this node send more than a few handshakes' worth of packets to an
// address of its choice. Peers are listed (Peers) only once verified, and
// a verified peer that needs a slot in a full table takes that of an
// unverified one.

// introDialRate is the rate (per second) at which one member's claims may
// be dialled once its burst is spent.
const introDialRate = 1.0

// learn adds the members a peer reported.
func (t *Transport) learn(from peer.ID, es []memberEntry) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	src := t.members[from]
	if src == nil || src.up(now) == nil {
		return
	}
	for _, e := range es {
		m := t.byKey[e.Key]
		switch {
		case m == nil:
			t.learnNew(src, e, now)
		case m.conn == nil && m.id != from && m.verified:
			// Up for another member: keep it from expiring, and follow
			// it if it moved (once the new address answers).
			m.since = now
			if !m.bootstrap && !m.dialing && m.claimBy == "" && m.hostPort != e.HostPort {
				if !t.claim(m, e.HostPort, src) {
					continue
				}
				m.nextDial = now
			}
		}
	}
}

// learnNew adds a peer that src reported, if src may make one more claim.
// t.mu must be held.
func (t *Transport) learnNew(src *member, e memberEntry, now time.Time) {
	id := IDFromPublicKey(e.Key[:])
	if id == t.id || !t.mayDial(id) {
		return
	}
	if len(t.members) >= t.s.MaxPeers || src.introduced >= t.s.UnverifiedPerPeer {
		t.gossipIgnored.Add(1)
		t.lim.Debug("gossip ignored "+string(src.id), "gossiped peer ignored: too many unverified peers from this member, or the table is full",
			"peer", string(id), "addr", e.HostPort, "from", string(src.id), "unverified_from_it", src.introduced)
		return
	}
	m := t.addMember(id, "", now)
	t.claim(m, e.HostPort, src)
	// Both ends of a new pair usually learn of each other at the same
	// time: the larger ID waits a little so that the smaller one's dial
	// usually arrives first.
	delay := time.Duration(rand.Int64N(int64(50 * time.Millisecond)))
	if t.id > id {
		delay += 300 * time.Millisecond
	}
	m.nextDial = now.Add(delay)
	t.lim.Debug("learnt "+string(src.id), "peer learnt", "peer", string(id), "addr", e.HostPort, "from", string(src.id))
}

// claim makes hostPort, named by src, m's address until it is verified or
// dropped. It reports false if src may make no more claims. t.mu must be
// held.
func (t *Transport) claim(m *member, hostPort string, src *member) bool {
	if hostPort == m.verifiedAddr {
		t.unclaim(m)
		m.hostPort = hostPort
		return true
	}
	if src.introduced >= t.s.UnverifiedPerPeer {
		t.gossipIgnored.Add(1)
		return false
	}
	t.unclaim(m)
	m.hostPort, m.claimBy, m.claimDials = hostPort, src.id, 0
	src.introduced++
	t.unverified++
	return true
}

// unclaim settles m's claim, if it has one. t.mu must be held.
func (t *Transport) unclaim(m *member) {
	if m.claimBy == "" {
		return
	}
	if src := t.members[m.claimBy]; src != nil {
		src.introduced--
	}
	m.claimBy, m.claimDials = "", 0
	t.unverified--
}

// dropClaim drops m's claim: a known peer goes back to its verified
// address, one only gossiped is forgotten. t.mu must be held.
func (t *Transport) dropClaim(m *member, why string) {
	t.gossipDropped.Add(1)
	t.lim.Debug("gossip dropped "+string(m.claimBy), "gossiped address dropped: "+why,
		"peer", string(m.id), "addr", m.hostPort, "from", string(m.claimBy), "dials", m.claimDials)
	t.unclaim(m)
	if m.verifiedAddr != "" {
		m.hostPort = m.verifiedAddr
		return
	}
	t.remove(m)
}

// claimFailed notes a failed dial of m: a claim dialled UnverifiedDials
// times is dropped. t.mu must be held.
func (t *Transport) claimFailed(m *member) {
	if m.claimBy != "" && m.claimDials >= t.s.UnverifiedDials {
		t.dropClaim(m, "unreachable")
	}
}

// claimDial reports whether m's claimed address may be dialled now, and
// if so draws on the budgets of the claiming member and of the address.
// t.mu must be held.
func (t *Transport) claimDial(m *member, now time.Time) bool {
	src := t.members[m.claimBy]
	if src == nil {
		t.dropClaim(m, "the member that named it is gone")
		return false
	}
	ab := t.addrDials[m.hostPort]
	if ab == nil {
		if len(t.addrDials) >= 4*t.s.MaxPeers {
			return false
		}
		ab = &bucket{}
		ab.init(1/t.s.ExpireAfter.Seconds(), float64(t.s.UnverifiedDials))
		t.addrDials[m.hostPort] = ab
	}
	if !ab.has(now, 1) || !src.introBudget.has(now, 1) {
		return false
	}
	ab.allow(now, 1)
	src.introBudget.allow(now, 1)
	m.claimDials++
	return true
}

// pruneAddrDials forgets the addresses whose budget is whole again. t.mu
// must be held.
func (t *Transport) pruneAddrDials(now time.Time) {
	for addr, b := range t.addrDials {
		if b.has(now, b.burst) {
			delete(t.addrDials, addr)
		}
	}
}

// evictUnverified frees a slot by dropping the claim of a peer that was
// never verified, from the member with the most claims; it reports false
// if there is none. t.mu must be held.
func (t *Transport) evictUnverified() bool {
	var victim *member
	most := -1
	for _, m := range t.members {
		if m.verified || m.bootstrap || m.claimBy == "" {
			continue
		}
		n := 0
		if src := t.members[m.claimBy]; src != nil {
			n = src.introduced
		}
		if n > most || n == most && m.since.Before(victim.since) {
			victim, most = m, n
		}
	}
	if victim == nil {
		return false
	}
	t.dropClaim(victim, "a verified peer needed the slot")
	return true
}

// remove forgets m, with the claims it made and its own. t.mu must be
// held.
func (t *Transport) remove(m *member) {
	if m.claimBy != "" {
		t.gossipDropped.Add(1) // never reached within ExpireAfter
	}
	t.unclaim(m)
	t.setQuiet(m, "", time.Time{})
	delete(t.members, m.id)
	delete(t.byKey, m.key)
	t.digestDirty = true
	if m.introduced == 0 {
		return
	}
	for _, o := range t.members {
		if o.claimBy == m.id {
			t.dropClaim(o, "the member that named it is gone")
		}
	}
}
