package quic

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/lograte"
	"github.com/dfaas-go/dfaas/peer"
)

// bookkeepingTransport returns a Transport with no socket and no
// goroutine, for driving its membership state by hand.
func bookkeepingTransport(t testing.TB) *Transport {
	s, err := Config{
		Listen: "127.0.0.1:0", Key: mustSeedKey(t, 255), Federation: []peer.ID{mustSeedKey(t, 254).ID()},
		MaxPeers: 12, UnverifiedPerPeer: 4, UnverifiedDials: 2, ExpireAfter: time.Second,
	}.settings()
	if err != nil {
		t.Fatal(err)
	}
	tr := &Transport{
		s: s, id: s.Key.ID(),
		members: map[peer.ID]*member{}, byKey: map[[32]byte]*member{},
		addrDials: map[string]*bucket{}, quietAddrs: map[string]time.Time{},
	}
	tr.log = slog.New(slog.DiscardHandler)
	tr.lim = lograte.New(tr.log, lograte.Options{})
	return tr
}

func mustSeedKey(t testing.TB, i byte) *Key {
	seed := make([]byte, 32)
	seed[0] = i
	k, err := NewKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkBookkeeping checks the invariants of the gossip state.
func checkBookkeeping(tr *Transport) error {
	claims, by := 0, map[peer.ID]int{}
	for id, m := range tr.members {
		if tr.byKey[m.key] != m || m.id != id {
			return fmt.Errorf("%s: byKey out of step", id)
		}
		if m.claimBy == "" {
			continue
		}
		claims++
		by[m.claimBy]++
		if tr.members[m.claimBy] == nil {
			return fmt.Errorf("%s: claimed by %s, who is gone", id, m.claimBy)
		}
		if m.verified && m.verifiedAddr == "" {
			return fmt.Errorf("%s: verified with no address", id)
		}
	}
	if len(tr.byKey) != len(tr.members) {
		return fmt.Errorf("%d keys for %d members", len(tr.byKey), len(tr.members))
	}
	if claims != tr.unverified {
		return fmt.Errorf("unverified = %d, %d claims held", tr.unverified, claims)
	}
	for id, m := range tr.members {
		if m.introduced != by[id] {
			return fmt.Errorf("%s: introduced = %d, %d claims held", id, m.introduced, by[id])
		}
		if m.introduced > tr.s.UnverifiedPerPeer {
			return fmt.Errorf("%s: %d claims, limit %d", id, m.introduced, tr.s.UnverifiedPerPeer)
		}
	}
	if len(tr.members) > tr.s.MaxPeers {
		return fmt.Errorf("%d members, MaxPeers %d", len(tr.members), tr.s.MaxPeers)
	}
	return nil
}

// FuzzGossipBookkeeping drives the gossip state with a sequence of
// operations (members lists from connected peers, dials that fail or
// succeed, peers that go down, expire or are evicted, maintenance rounds)
// and checks its invariants after each: claims counted per member and in
// all, never over UnverifiedPerPeer per member or MaxPeers in all, never
// claimed by a member that is gone.
func FuzzGossipBookkeeping(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0, 4, 5, 6, 1, 2, 2, 3, 3, 4, 4, 0, 5, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 2, 0, 3, 1, 1, 1, 1, 5, 0, 3, 0, 2, 7})
	f.Add([]byte{2, 8, 0, 8, 0, 9, 1, 8, 1, 8, 6, 8, 3, 8, 5, 1})
	// Two peers connect and gossip; dials fail; time passes; one goes
	// down and expires with its claims; the table fills and is evicted.
	f.Add([]byte{2, 0, 2, 1, 0, 0, 1, 1, 5, 0, 4, 2, 4, 3, 5, 0, 4, 2, 7, 100, 5, 0, 3, 0, 7, 255, 5, 0, 6, 0, 2, 5,
		0, 1, 2, 9, 2, 10, 2, 11, 0, 9, 0, 10, 1, 11, 6, 0, 2, 12, 2, 13, 5, 0, 7, 200, 5, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			return
		}
		tr := bookkeepingTransport(t)
		keys := make([]*Key, 16)
		for i := range keys {
			keys[i] = mustSeedKey(t, byte(i))
		}
		now := time.Unix(1_700_000_000, 0)
		pick := func(b byte) *member { return tr.members[keys[int(b)%len(keys)].ID()] }
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%8, ops[i+1]
			now = now.Add(50 * time.Millisecond)
			switch op {
			case 0, 1: // a connected peer gossips three entries
				src := pick(arg)
				if src == nil || src.conn == nil {
					continue
				}
				var es []memberEntry
				for j := range 3 {
					var e memberEntry
					copy(e.Key[:], keys[(int(arg)*7+j*5+int(op))%len(keys)].Public())
					e.HostPort = fmt.Sprintf("10.0.0.%d:1", (int(arg)+j)%4)
					es = append(es, e)
				}
				tr.learn(src.id, es)
			case 2: // a peer connects (a dial or an inbound connection)
				k := keys[int(arg)%len(keys)]
				m := tr.members[k.ID()]
				if m == nil {
					if len(tr.members) >= tr.s.MaxPeers && !tr.evictUnverified() {
						continue
					}
					m = tr.addMember(k.ID(), fmt.Sprintf("10.0.1.%d:1", arg%4), now)
				}
				if m.conn == nil && m.hostPort != "" {
					tr.verify(m, &conn{outbound: true, id: m.id, established: now})
					m.conn = &conn{outbound: true, id: m.id, established: now, m: m}
				}
			case 3: // a peer goes down
				if m := pick(arg); m != nil && m.conn != nil {
					m.conn, m.since = nil, now
				}
			case 4: // a dial of a peer fails
				if m := pick(arg); m != nil && m.conn == nil {
					tr.claimFailed(m)
				}
			case 5: // a maintenance round: dials chosen, expiries
				var due []*member
				for _, m := range tr.members {
					if m.conn != nil || m.dialing {
						continue
					}
					if !m.bootstrap && now.Sub(m.since) > tr.s.ExpireAfter {
						tr.remove(m)
						continue
					}
					due = append(due, m)
				}
				for _, d := range tr.pickDials(due, 0, now) {
					if m := tr.members[d.id]; m != nil {
						m.dialing = false
					}
				}
				tr.pruneAddrDials(now)
			case 6: // a verified peer needs a slot
				tr.evictUnverified()
			case 7: // time passes
				now = now.Add(time.Duration(arg) * 20 * time.Millisecond)
			}
			if err := checkBookkeeping(tr); err != nil {
				t.Fatalf("after op %d (%d, %d): %v", i/2, op, arg, err)
			}
		}
	})
}
