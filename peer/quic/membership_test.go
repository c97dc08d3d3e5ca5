package quic

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/freeport"
)

func TestOneSeedFullMembership(t *testing.T) {
	ts := startNet(t, 5, nil)
	eventually(t, 10*time.Second, "5 transports fully connected", func() bool { return fullyConnected(ts) })
	// Every pair can talk, including pairs that only met through gossip.
	ctx := context.Background()
	if err := ts[3].Send(ctx, ts[4].LocalID(), []byte("via gossip")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ts[4].Recv():
		if m.From != ts[3].LocalID() {
			t.Fatalf("from %s", m.From)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	// One connection per pair: once every transport has its 4 peers up,
	// the federation stays so for a second (checked throughout) with no
	// connection being replaced over and over.
	allUp := func() bool {
		for _, tr := range ts {
			if tr.Stats().Up != 4 {
				return false
			}
		}
		return true
	}
	eventually(t, 5*time.Second, "every transport has 4 peers up", allUp)
	dialCount := func() (n uint64) {
		for _, tr := range ts {
			n += tr.Stats().Dials
		}
		return n
	}
	dials := dialCount()
	holds(t, time.Second, "a settled federation: every transport keeps 4 peers up, and none dials", func() bool {
		return allUp() && dialCount() == dials
	})
}

// freeUDPAddr returns a loopback UDP address nobody listens on, from
// below the ephemeral range, where no listener on port 0 of this test
// can take it.
func freeUDPAddr(t *testing.T) string {
	addr, err := freeport.UDP("127.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestUnreachableBootstrapDoesNotBlock(t *testing.T) {
	ghost := Addr{HostPort: freeUDPAddr(t), ID: mustKey(t).ID()}
	blackhole := Addr{HostPort: "192.0.2.1:4242", ID: mustKey(t).ID()} // TEST-NET-1: no answer
	good := startNet(t, 1, nil)[0]
	c := fastConfig(t, mustKey(t))
	c.HandshakeTimeout = 5 * time.Second
	c.Bootstrap = []Addr{ghost, blackhole, good.Self()}
	start := time.Now()
	tr := listen(t, c)
	if d := time.Since(start); d > c.HandshakeTimeout/2 {
		t.Fatalf("Listen took %v with unreachable bootstrap peers", d)
	}
	eventually(t, 5*time.Second, "reachable bootstrap peer up", func() bool { return upPeers(tr)[good.LocalID()] })
	up := upPeers(tr)
	if up[ghost.ID] || up[blackhole.ID] {
		t.Fatalf("unreachable peers listed as up: %v", up)
	}
	if n := len(tr.Peers()); n != 3 {
		t.Fatalf("%d peers known, want 3 (bootstrap peers stay known)", n)
	}
}

// relay forwards UDP datagrams between one client and a target; Cut
// drops everything in both directions, as a pulled cable would.
type relay struct {
	pc, up *net.UDPConn
	cut    atomic.Bool
	client atomic.Pointer[net.UDPAddr]
	wg     sync.WaitGroup
}

func newRelay(t *testing.T, target net.Addr) *relay {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp", nil, target.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{pc: pc, up: up}
	r.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.client.Store(from)
			if !r.cut.Load() {
				up.Write(buf[:n])
			}
		}
	})
	r.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if c := r.client.Load(); c != nil && !r.cut.Load() {
				pc.WriteToUDP(buf[:n], c)
			}
		}
	})
	t.Cleanup(func() { pc.Close(); up.Close(); r.wg.Wait() })
	return r
}

func (r *relay) addr() string { return r.pc.LocalAddr().String() }

// A peer that goes silent is declared down after DownAfter; the side
// that knows it only from its connection forgets it after ExpireAfter;
// when the link comes back, the side with it as bootstrap peer
// reconnects.
func TestSilentPeerDownExpiredAndReconnected(t *testing.T) {
	b := listen(t, fastConfig(t, mustKey(t)))
	r := newRelay(t, b.Addr())
	ca := fastConfig(t, mustKey(t))
	ca.Bootstrap = []Addr{{HostPort: r.addr(), ID: b.LocalID()}}
	a := listen(t, ca)
	pair := []*Transport{a, b}
	eventually(t, 5*time.Second, "connected through the relay", func() bool { return fullyConnected(pair) })

	r.cut.Store(true)
	cut := time.Now()
	eventually(t, 5*time.Second, "both sides declare the other down", func() bool {
		return !upPeers(a)[b.LocalID()] && !upPeers(b)[a.LocalID()]
	})
	if d := time.Since(cut); d < ca.DownAfter {
		t.Fatalf("declared down after %v, before DownAfter %v", d, ca.DownAfter)
	}
	if err := a.Send(context.Background(), b.LocalID(), []byte("x")); err == nil {
		t.Fatal("Send to a down peer succeeded")
	}
	eventually(t, 3*ca.ExpireAfter, "b forgets a", func() bool { return len(b.Peers()) == 0 })
	if len(a.Peers()) != 1 {
		t.Fatalf("a forgot its bootstrap peer: %v", a.Peers())
	}

	r.cut.Store(false)
	eventually(t, 5*time.Second, "reconnected after the cut is healed", func() bool { return fullyConnected(pair) })
	if err := a.Send(context.Background(), b.LocalID(), []byte("back")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, b, "back", 5*time.Second)
}

// A peer restarted with the same key and address is reconnected.
func TestReconnectAfterRestart(t *testing.T) {
	kb := mustKey(t)
	b := listen(t, fastConfig(t, kb))
	addr := b.Addr().String()
	ca := fastConfig(t, mustKey(t))
	ca.Bootstrap = []Addr{b.Self()}
	a := listen(t, ca)
	eventually(t, 5*time.Second, "connected", func() bool { return upPeers(a)[kb.ID()] })
	b.Close()
	eventually(t, 5*time.Second, "down after the peer closed", func() bool { return !upPeers(a)[kb.ID()] })
	cb := fastConfig(t, kb)
	cb.Listen = addr
	b2 := listen(t, cb)
	eventually(t, 5*time.Second, "reconnected to the restarted peer", func() bool {
		return fullyConnected([]*Transport{a, b2})
	})
}

// Two transports given each other as bootstrap peers dial at the same
// time; both keep the same single connection.
func TestSimultaneousDial(t *testing.T) {
	for range 5 {
		ka, kb := mustKey(t), mustKey(t)
		pa, pb := freeUDPAddr(t), freeUDPAddr(t)
		ca, cb := fastConfig(t, ka), fastConfig(t, kb)
		ca.Listen, cb.Listen = pa, pb
		ca.Bootstrap = []Addr{{HostPort: pb, ID: kb.ID()}}
		cb.Bootstrap = []Addr{{HostPort: pa, ID: ka.ID()}}
		a, b := listen(t, ca), listen(t, cb)
		pair := []*Transport{a, b}
		eventually(t, 5*time.Second, "connected", func() bool { return fullyConnected(pair) })
		holds(t, 300*time.Millisecond, "connected after a simultaneous dial", func() bool { return fullyConnected(pair) })
		ctx := context.Background()
		for _, d := range [][2]*Transport{{a, b}, {b, a}} {
			if err := d[0].Send(ctx, d[1].LocalID(), []byte("x")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-d[1].Recv():
			case <-time.After(5 * time.Second):
				t.Fatal("no message")
			}
		}
		a.Close()
		b.Close()
	}
}

func TestMaxPeers(t *testing.T) {
	c := fastConfig(t, mustKey(t))
	c.MaxPeers = 2
	hub := listen(t, c)
	ts := startNet(t, 3, func(i int, c *Config) {
		c.Bootstrap = []Addr{hub.Self()}
		c.MaxPeers = 100
	})
	eventually(t, 5*time.Second, "third peer refused", func() bool { return hub.Stats().Rejected[RejectTooMany] > 0 })
	if st := hub.Stats(); st.Known != 2 || st.Up != 2 {
		t.Fatalf("hub knows %d peers, %d up; want 2 and 2", st.Known, st.Up)
	}
	// The two admitted ones still find each other through the hub.
	var admitted []*Transport
	for _, tr := range ts {
		if upPeers(hub)[tr.LocalID()] {
			admitted = append(admitted, tr)
		}
	}
	eventually(t, 5*time.Second, "the admitted peers connected", func() bool { return fullyConnected(admitted) })
}
