package dfaas

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// TestHailRules: a node hails (sends its announcement to) each member the
// transport reports up that it has not heard from, once while it stays
// up; again after it was down or gone; never itself, a member with no ID,
// one down, one heard from, nor anyone once closed.
func TestHailRules(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, reg, _ := newRulesNode(t, net, nil, nil)
	trs := map[peer.ID]*peer.MemTransport{}
	for _, id := range []peer.ID{"b", "c", "d", "e"} {
		tr, err := net.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		trs[id] = tr
	}
	ctx := context.Background()
	n.handle(ctx, peer.Message{From: "d", Data: stateData(t, 1, 1, "")}, time.Unix(100, 0), false) // d: heard from
	drainMsgs(trs["d"])
	up := func(ids ...peer.ID) []peer.Info {
		infos := []peer.Info{{ID: "a", Up: true}, {ID: "", Up: true}, {ID: "c", Up: false}}
		for _, id := range ids {
			infos = append(infos, peer.Info{ID: id, Up: true})
		}
		return infos
	}
	rounds := []struct {
		infos  []peer.Info
		hailed []peer.ID
	}{
		{up("b", "d"), []peer.ID{"b"}},
		{up("b", "d"), nil},                             // b hailed already
		{up("b", "d", "e"), []peer.ID{"e"}},             // e comes up
		{up("d", "e"), nil},                             // b gone
		{append(up("d", "e"), peer.Info{ID: "b"}), nil}, // b listed down
		{up("b", "d", "e"), []peer.ID{"b"}},             // b up again
	}
	sent := 0
	for i, r := range rounds {
		n.hail(ctx, r.infos)
		for id, tr := range trs {
			msgs := drainMsgs(tr)
			want := 0
			for _, h := range r.hailed {
				if h == id {
					want = 1
				}
			}
			if len(msgs) != want {
				t.Fatalf("round %d: %s got %d messages, want %d", i, id, len(msgs), want)
			}
			for _, data := range msgs {
				m, err := DecodeMessage(data, 0)
				if err != nil || m.Token != "" || m.Proxy != "http://a.example:1" {
					t.Fatalf("round %d: hail to %s: %+v, %v; want a's announcement without credential", i, id, m, err)
				}
			}
			sent += want
		}
	}
	if got := series(t, reg, "dfaas_agent_peer_messages_sent_total"); got != fmt.Sprintf("dfaas_agent_peer_messages_sent_total{} %d", sent) {
		t.Errorf("sent: %s, want %d", got, sent)
	}
	n.Close()
	n.hail(ctx, []peer.Info{{ID: "f", Up: true}, {ID: "b", Up: true}})
	for id, tr := range trs {
		if msgs := drainMsgs(tr); len(msgs) != 0 {
			t.Errorf("a closed node hailed %s", id)
		}
	}
}

// notDirectory hides the transport's directory.
type notDirectory struct{ peer.Transport }

// TestHailWithinAPeriod: a running node hails a member that comes up
// between two cycles well before the next cycle (its directory is polled
// ten times a period); with a transport that has no directory it runs
// without hailing.
func TestHailWithinAPeriod(t *testing.T) {
	const period = 3 * time.Second
	for _, dir := range []bool{true, false} {
		net := peer.NewMemNetwork(peer.MemNetworkOptions{})
		n, _, _ := newRulesNode(t, net, func(tr *peer.MemTransport) peer.Transport {
			if dir {
				return tr
			}
			return notDirectory{tr}
		}, func(c *Config) { c.Period = period })
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := n.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		deadline := time.Now().Add(period / 2)
		for n.Status(time.Now()).Cycles < 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		start := time.Now()
		b, err := net.Join("b")
		if err != nil {
			t.Fatal(err)
		}
		// The property is an order of events: the hail comes before a's
		// second cycle. Wait for whichever comes first (bounded), not for
		// a fixed half period a loaded machine may overrun.
		var got bool
		cycles := n.Status(time.Now()).Cycles
		for wait := time.Now().Add(30 * time.Second); dir && !got && cycles < 2 && time.Now().Before(wait); {
			select {
			case <-b.Recv():
				got = true
			case <-time.After(10 * time.Millisecond):
			}
			cycles = n.Status(time.Now()).Cycles
		}
		if !dir {
			cycles = n.Status(time.Now()).Cycles
		}
		cancel()
		wg.Wait()
		net.Close()
		if dir && (!got || cycles != 1) {
			t.Fatalf("b hailed %v within %v of coming up (a ran %d cycles); want hailed before a's second cycle", got, time.Since(start), cycles)
		}
		if !dir && cycles < 1 {
			t.Fatalf("without a directory, a ran %d cycles", cycles)
		}
	}
	// Without a directory, over several cycles (its hail loop would poll
	// ten times each), the node runs and hails no one.
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, _, _ := newRulesNode(t, net, func(tr *peer.MemTransport) peer.Transport { return notDirectory{tr} },
		func(c *Config) { c.Period = 20 * time.Millisecond })
	b, err := net.Join("b")
	if err != nil {
		t.Fatal(err)
	}
	runNode(t, n)
	if !within(10*time.Second, func() bool { return n.Status(time.Now()).Cycles >= 4 }) {
		t.Fatalf("without a directory, a ran %d cycles", n.Status(time.Now()).Cycles)
	}
	if msgs := drainMsgs(b); len(msgs) != 0 {
		t.Fatalf("b, unknown to a without a directory, got %d messages", len(msgs))
	}
}
