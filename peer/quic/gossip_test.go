package quic

import (
	"context"
	"crypto/ed25519"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// udpSink counts the packets and bytes sent to an address nobody answers
// from: the victim an attacker names.
type udpSink struct {
	pc             net.PacketConn
	packets, bytes atomic.Int64
	wg             sync.WaitGroup
}

func newUDPSink(t *testing.T) *udpSink {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSink{pc: pc}
	s.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.packets.Add(1)
			s.bytes.Add(int64(n))
		}
	})
	t.Cleanup(func() { pc.Close(); s.wg.Wait() })
	return s
}

func (s *udpSink) addr() string { return s.pc.LocalAddr().String() }

// fakeEntries returns n member entries with new keys, all at addr.
func fakeEntries(t *testing.T, n int, addr string) []memberEntry {
	es := make([]memberEntry, n)
	for i := range es {
		copy(es[i].Key[:], mustKey(t).Public())
		es[i].HostPort = addr
	}
	return es
}

// hostileMember is a member driven by hand: it completes the hello
// exchange, answers as a live peer (it pings), and gossips what the test
// likes.
type hostileMember struct {
	qc   *quicgo.Conn
	mu   sync.Mutex
	ctrl *quicgo.Stream
	wg   sync.WaitGroup

	lists, entries atomic.Int64  // members frames received, and their entries
	echoPongs      atomic.Int64  // pongs answering pings with the node's digest
	nodeDigest     atomic.Uint64 // the digest in the node's last pong
	echo           atomic.Bool   // ping with the node's digest (an up-to-date view)
}

// attacker connects to tr as the member holding key k and certificate der
// (nil: self-signed).
func attacker(t *testing.T, tr *Transport, k *Key, der []byte) *hostileMember {
	t.Helper()
	qc, err := rawDial(t, tr, k, der)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ctrl, err := qc.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.Write(hello{Version: ProtocolVersion, MaxMessage: 1 << 16}.append(nil)); err != nil {
		t.Fatal(err)
	}
	ctrl.SetReadDeadline(time.Now().Add(2 * time.Second))
	if typ, _, err := readFrame(ctrl, maxControlFrame); err != nil || typ != frameHello {
		t.Fatalf("hello reply: type %d, %v", typ, err)
	}
	ctrl.SetReadDeadline(time.Time{})
	h := &hostileMember{qc: qc, ctrl: ctrl}
	h.wg.Go(func() { // read what the node sends, as a peer would
		for {
			typ, p, err := readFrame(ctrl, maxControlFrame)
			if err != nil {
				return
			}
			switch typ {
			case frameMembers:
				es, _ := decodeMembers(p)
				h.lists.Add(1)
				h.entries.Add(int64(len(es)))
			case framePong:
				pg, _ := decodePing(p)
				h.nodeDigest.Store(pg.Digest)
				if pg.Nonce == echoNonce {
					h.echoPongs.Add(1)
				}
			}
		}
	})
	h.wg.Go(func() { // ping, as a dialler does
		tk := time.NewTicker(tr.s.PingInterval)
		defer tk.Stop()
		for {
			select {
			case <-qc.Context().Done():
				return
			case <-tk.C:
			}
			d, nonce := uint64(0), uint64(1)
			if h.echo.Load() {
				d, nonce = h.nodeDigest.Load(), echoNonce
			}
			h.write(ping{Nonce: nonce, Digest: d}.append(nil, framePing))
		}
	})
	t.Cleanup(func() { qc.CloseWithError(0, ""); h.wg.Wait() })
	eventually(t, 10*time.Second, "attacker registered", func() bool { return upPeers(tr)[k.ID()] })
	return h
}

// echoNonce marks the pings of a hostileMember that carry the node's
// digest.
const echoNonce = 2

func (h *hostileMember) write(b []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.ctrl.Write(b)
	return err
}

// gossip sends entries as members frames.
func (h *hostileMember) gossip(t *testing.T, es []memberEntry) {
	t.Helper()
	if err := h.write(appendMembers(nil, es)); err != nil {
		t.Fatal(err)
	}
}

// A member of a federation gossips 1,100 fake members, all at an address
// it names (a UDP socket of the test's): the node holds at most
// UnverifiedPerPeer of them, lists none, sends that address at most a few
// handshakes' worth of packets, and a legitimate new member joins at once.
func TestGossipFloodBounded(t *testing.T) {
	t.Parallel() // waits on timers (certificate validity, ExpireAfter) more than it works
	fed := newFederation(t)
	sink := newUDPSink(t)
	hc := fed.config(time.Now().Add(time.Hour))
	hc.DownAfter = 3 * time.Second // the hand-made attacker stays up on a loaded machine
	hub := listen(t, hc)
	ka := mustKey(t)
	bad := attacker(t, hub, ka, fed.cert(ka, time.Now().Add(time.Hour)))

	const fakes = 1100
	start := time.Now()
	bad.gossip(t, fakeEntries(t, fakes, sink.addr()))
	eventually(t, 10*time.Second, "gossip processed", func() bool {
		st := hub.Stats()
		return uint64(st.Unverified)+st.GossipIgnored >= fakes
	})
	st := hub.Stats()
	if st.Unverified > hc.UnverifiedPerPeer && hc.UnverifiedPerPeer > 0 || st.Unverified > 32 {
		t.Fatalf("%d unverified entries held from one member, want at most 32", st.Unverified)
	}
	if st.Known != 1 || len(hub.Peers()) != 1 {
		t.Fatalf("hub lists %d peers (%v), want only the attacker", st.Known, hub.Peers())
	}

	// A legitimate member joins while the fakes are held.
	lc := fed.config(time.Now().Add(time.Hour))
	lc.Bootstrap = []Addr{hub.Self()}
	legit := listen(t, lc)
	joinStart := time.Now()
	eventually(t, 10*time.Second, "legitimate member up at the hub", func() bool {
		return fullyConnected([]*Transport{hub, legit})
	})
	t.Logf("legitimate member up %v after it started", time.Since(joinStart).Round(time.Millisecond))

	// Every fake is dropped (unreachable or expired) within ExpireAfter
	// and the handshakes in flight.
	eventually(t, hc.ExpireAfter+2*hc.HandshakeTimeout+time.Second, "fakes dropped", func() bool {
		return hub.Stats().Unverified == 0
	})
	time.Sleep(hc.HandshakeTimeout) // let the last handshake attempts run out
	elapsed := time.Since(start)
	st = hub.Stats()
	// The address budget: UnverifiedDials at once, then one per
	// ExpireAfter. A dial that gets no answer sends a few Initial packets
	// (measured: 10 packets, 12.8 KB over a 5 s handshake time-out; fewer
	// over this test's 2 s).
	maxDials := 3 + int(elapsed/hc.ExpireAfter) + 1
	t.Logf("%v: %d fakes gossiped, %d ignored, %d dropped; %d packets, %d bytes to the named address (budget %d dials)",
		elapsed.Round(time.Millisecond), fakes, st.GossipIgnored, st.GossipDropped, sink.packets.Load(), sink.bytes.Load(), maxDials)
	if p := sink.packets.Load(); p > int64(maxDials*10) || p == 0 {
		t.Errorf("%d packets sent to the named address, want 1..%d", p, maxDials*10)
	}
	if b := sink.bytes.Load(); b > int64(maxDials*10*1300) {
		t.Errorf("%d bytes sent to the named address, want at most %d", b, maxDials*10*1300)
	}
	if !upPeers(hub)[ka.ID()] {
		t.Error("the attacker (a member) was disconnected")
	}
}

// With a small table full of unverified entries, a peer that proves its
// identity takes one of their slots; verified peers are never displaced.
func TestVerifiedPeerTakesUnverifiedSlot(t *testing.T) {
	fed := newFederation(t)
	sink := newUDPSink(t)
	hc := fed.config(time.Now().Add(time.Hour))
	hc.DownAfter = 3 * time.Second // the hand-made attacker stays up on a loaded machine
	hc.MaxPeers = 8
	hc.ExpireAfter = time.Minute // the fakes stay for the whole test
	hub := listen(t, hc)
	ka := mustKey(t)
	bad := attacker(t, hub, ka, fed.cert(ka, time.Now().Add(time.Hour)))
	bad.gossip(t, fakeEntries(t, 100, sink.addr()))
	eventually(t, 10*time.Second, "table full", func() bool { return hub.Stats().Unverified == hc.MaxPeers-1 })

	var legit []*Transport
	for range 3 {
		lc := fed.config(time.Now().Add(time.Hour))
		lc.Bootstrap = []Addr{hub.Self()}
		lc.DownAfter = 3 * time.Second
		l := listen(t, lc)
		legit = append(legit, l)
		eventually(t, 10*time.Second, "legitimate member up at the hub", func() bool { return upPeers(hub)[l.LocalID()] })
	}
	eventually(t, 10*time.Second, "legitimate members connected to each other", func() bool {
		return fullyConnected(append([]*Transport{hub}, legit...))
	})
	st := hub.Stats()
	if st.Known != 4 || st.Unverified != hc.MaxPeers-4 {
		t.Fatalf("hub: %d known, %d unverified; want 4, %d", st.Known, st.Unverified, hc.MaxPeers-4)
	}
	if st.Rejected[RejectTooMany] != 0 {
		t.Fatalf("%d peers refused for a full table", st.Rejected[RejectTooMany])
	}
	// The fakes' slots taken, a further peer takes another one; with
	// only verified peers left, one more is refused and nobody is
	// displaced.
	for i := range hc.MaxPeers - 4 + 1 {
		lc := fed.config(time.Now().Add(time.Hour))
		lc.Bootstrap = []Addr{hub.Self()}
		lc.DownAfter = 3 * time.Second
		l := listen(t, lc)
		if i == hc.MaxPeers-4 {
			deadline := time.Now().Add(10 * time.Second)
			for hub.Stats().Rejected[RejectTooMany] == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("peer not refused for a full table: hub %+v, new peer %+v", hub.Stats(), l.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}
			break
		}
		legit = append(legit, l)
		eventually(t, 10*time.Second, "legitimate member up at the hub", func() bool { return upPeers(hub)[l.LocalID()] })
	}
	st = hub.Stats()
	if st.Known != hc.MaxPeers || st.Unverified != 0 || !upPeers(hub)[ka.ID()] {
		t.Fatalf("hub: %d known, %d unverified, attacker up %v; want %d, 0, true", st.Known, st.Unverified, upPeers(hub)[ka.ID()], hc.MaxPeers)
	}
}

// A member claims that a known peer, now down, moved to an address of its
// choice: the node tries that address at most UnverifiedDials times, then
// goes back to the verified address, where it finds the peer again.
func TestGossipedMoveBounded(t *testing.T) {
	t.Parallel() // waits on timers (certificate validity, ExpireAfter) more than it works
	fed := newFederation(t)
	sink := newUDPSink(t)
	hc := fed.config(time.Now().Add(time.Hour))
	hc.DownAfter = 3 * time.Second // the hand-made attacker stays up on a loaded machine
	hc.ExpireAfter = time.Minute   // the hub keeps b while it is down
	hub := listen(t, hc)
	bc := fed.config(time.Now().Add(time.Hour))
	bc.Bootstrap = []Addr{hub.Self()}
	b := listen(t, bc)
	bAddr := b.Addr().String()
	eventually(t, 10*time.Second, "b up at the hub", func() bool { return upPeers(hub)[b.LocalID()] })
	ka := mustKey(t)
	bad := attacker(t, hub, ka, fed.cert(ka, time.Now().Add(time.Hour)))
	b.Close()
	eventually(t, 10*time.Second, "b down at the hub", func() bool { return !upPeers(hub)[b.LocalID()] })

	var key [ed25519.PublicKeySize]byte
	copy(key[:], bc.Key.Public())
	// The attacker repeats its claim for 3 s.
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		bad.gossip(t, []memberEntry{{Key: key, HostPort: sink.addr()}})
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, 3*(hc.HandshakeTimeout+hc.MaxBackoff)+time.Second, "claim dropped", func() bool {
		return hub.Stats().GossipDropped > 0
	})
	time.Sleep(hc.HandshakeTimeout) // let the last attempts run out
	st := hub.Stats()
	t.Logf("%v: %d packets, %d bytes to the claimed address; %d claims dropped",
		time.Since(start).Round(time.Millisecond), sink.packets.Load(), sink.bytes.Load(), st.GossipDropped)
	// The address's budget: UnverifiedDials (3) at once, then one per
	// ExpireAfter (1 min here).
	if p := sink.packets.Load(); p > 3*10 || p == 0 {
		t.Errorf("%d packets sent to the claimed address, want 1..%d", p, 3*10)
	}
	// b comes back at its address, without a bootstrap peer: the hub
	// finds it there.
	bc.Listen, bc.Bootstrap = bAddr, nil
	b2 := listen(t, bc)
	eventually(t, 10*time.Second, "b found again at its verified address", func() bool { return upPeers(hub)[b2.LocalID()] })
}

// A tight bound on claims per member does not keep a federation from
// forming: what one member's list leaves out comes in the others' lists,
// in the peers' own dials, and in the full lists resent to a peer whose
// view stays behind.
func TestClaimBoundStillConverges(t *testing.T) {
	ts := startNet(t, 6, func(_ int, c *Config) {
		c.UnverifiedPerPeer = 1
		// Timers a loaded machine keeps up with.
		c.PingInterval, c.DownAfter, c.HandshakeTimeout = 200*time.Millisecond, 3*time.Second, 5*time.Second
	})
	eventually(t, 30*time.Second, "6 transports fully connected", func() bool { return fullyConnected(ts) })
	ignored := uint64(0)
	for _, tr := range ts {
		ignored += tr.Stats().GossipIgnored
	}
	t.Logf("fully connected; %d gossiped entries ignored over the bound", ignored)
}

// A peer whose view stays behind the node's (its digest does not change
// and differs) is sent the full member list again, after GossipInterval,
// then after twice as long, and so on; once its view agrees, it is sent
// nothing more.
func TestStuckViewGetsFullList(t *testing.T) {
	ts := startNet(t, 4, func(_ int, c *Config) {
		c.GossipInterval = 200 * time.Millisecond
		c.DownAfter = 3 * time.Second
	})
	hub := ts[0]
	eventually(t, 10*time.Second, "4 transports fully connected", func() bool { return fullyConnected(ts) })
	x := attacker(t, hub, mustKey(t), nil)
	// Its pings carry a digest that never changes (0): the hub sends the
	// list at once, then again after 200 ms, 400 ms, 800 ms, ...
	eventually(t, 10*time.Second, "three full lists", func() bool { return x.lists.Load() >= 3 })
	if e, l := x.entries.Load(), x.lists.Load(); e != 3*l {
		t.Fatalf("%d entries in %d lists, want 3 (the hub's other peers) in each", e, l)
	}
	start, before := time.Now(), x.lists.Load()
	time.Sleep(time.Second)
	// Within a second of the third list, at most two more (1.6 s, 3.2 s
	// intervals follow the 0.8 s one).
	if n := x.lists.Load() - before; n > 2 {
		t.Fatalf("%d lists in %v: the interval does not grow", n, time.Since(start))
	}
	// With the hub's own digest, the view agrees: no more lists.
	// The node handles a ping's digest after its pong, and its control
	// frames in order: the second pong to a ping with the new digest comes
	// after the first such ping was handled (waited for as an event: a
	// loaded machine may take longer than a few ping intervals).
	x.echo.Store(true)
	eventually(t, 30*time.Second, "two pongs to pings with the node's digest", func() bool { return x.echoPongs.Load() >= 2 })
	before = x.lists.Load()
	time.Sleep(2 * time.Second)
	if n := x.lists.Load() - before; n != 0 {
		t.Fatalf("%d lists to a peer whose view agrees", n)
	}
}
