package dfaas

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// hsMsg is one message of peer b to node a in a handshake scenario, and
// what a must do on it.
type hsMsg struct {
	step     bool   // a runs a cycle before the message
	inc, seq uint64 // b's incarnation and sequence number
	token    string // the credential b hands a ("" none)
	inStep   bool   // handled as within a cycle (Step holds the lock)
	applies  int    // proxy states a applies at once
	greets   bool   // a sends b a message at once, handing it its credential
	kick     bool   // a replan is due (b joins the data network)
}

// TestHandshakeRules: how a node reacts at once, between its cycles, to a
// peer's messages: a new peer or a new incarnation is greeted (apply, then
// a message handing it its credential), a peer that hands it another
// credential makes it apply again (no message), a peer that starts
// accepting it while outside the data network makes it replan; at most
// maxOutOfCycle of these reactions per peer and cycle, none before the
// first cycle, and none when the apply fails.
func TestHandshakeRules(t *testing.T) {
	tok := func(i int) string { return strings.Repeat(fmt.Sprintf("%02d", i), 32) }
	cases := []struct {
		name     string
		applyErr bool
		msgs     []hsMsg
		counts   string // out-of-cycle applies and restarts, as series
	}{
		{"new peer, then credentials that change, up to the budget", false, []hsMsg{
			{step: true, inc: 1, seq: 1, token: tok(1), applies: 1, greets: true, kick: true},
			{inc: 1, seq: 2, token: tok(1)},             // nothing new
			{inc: 1, seq: 3, token: tok(2), applies: 1}, // another credential
			{inc: 1, seq: 4, token: tok(3), applies: 1}, // the fourth reaction: budget spent
			{inc: 1, seq: 5, token: tok(4)},             // deferred
			{inc: 1, seq: 6, token: ""},                 // deferred
			{inc: 1, seq: 7, token: tok(5)},             // would join, but the budget is spent
			{step: true, inc: 1, seq: 8, token: tok(6), applies: 1},
		}, "greet 1, reapply 3, deferred 3, restarts 0"},
		{"a neighbour in the data network", false, []hsMsg{
			{step: true, inc: 1, seq: 1, token: tok(1), applies: 1, greets: true, kick: true},
			{step: true, inc: 1, seq: 2, token: "", applies: 1}, // stops accepting a
			{inc: 1, seq: 3, token: tok(2), applies: 1},         // accepts again: in the data network of the last cycle
		}, "greet 1, reapply 2, deferred 0, restarts 0"},
		{"a peer that does not accept, then does", false, []hsMsg{
			{step: true, inc: 1, seq: 1, token: "", applies: 1, greets: true},
			{inc: 1, seq: 2, token: tok(1), applies: 1, kick: true},
		}, "greet 1, reapply 1, deferred 0, restarts 0"},
		{"restart with a credential", false, []hsMsg{
			{step: true, inc: 1, seq: 1, token: tok(1), applies: 1, greets: true, kick: true},
			{inc: 2, seq: 1, token: tok(2), applies: 1, greets: true, kick: true},
			{inc: 2, seq: 2, token: tok(2)},
		}, "greet 2, reapply 0, deferred 0, restarts 1"},
		{"before the first cycle", false, []hsMsg{
			{inc: 1, seq: 1, token: tok(1), kick: true},
		}, "greet 0, reapply 0, deferred 1, restarts 0"},
		{"within a cycle", false, []hsMsg{
			{step: true, inc: 1, seq: 1, token: tok(1), inStep: true, applies: 1, greets: true},
		}, "greet 1, reapply 0, deferred 0, restarts 0"},
		{"apply fails", true, []hsMsg{
			{step: true, inc: 1, seq: 1, token: tok(1), kick: true},
			{inc: 1, seq: 2, token: tok(2)},
		}, "greet 0, reapply 0, deferred 0, restarts 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net := peer.NewMemNetwork(peer.MemNetworkOptions{})
			defer net.Close()
			n, reg, rec := newRulesNode(t, net, nil, nil)
			trB, err := net.Join("b")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			t0 := time.Unix(1000, 0)
			var greetings []string
			for i, m := range c.msgs {
				now := t0.Add(time.Duration(i) * time.Second)
				if m.step {
					if _, err := n.Step(ctx, now); err != nil {
						t.Fatal(err)
					}
					if c.applyErr {
						rec.SetErr(errors.New("proxy down"))
					}
					drainMsgs(trB)
				}
				before := len(rec.History())
				n.handle(ctx, peer.Message{From: "b", Data: stateData(t, m.inc, m.seq, m.token)}, now.Add(time.Millisecond), m.inStep)
				if got := len(rec.History()) - before; got != m.applies {
					t.Errorf("message %d: %d applies, want %d", i, got, m.applies)
				}
				sent := drainMsgs(trB)
				if (len(sent) == 1) != m.greets || len(sent) > 1 {
					t.Fatalf("message %d: a sent b %d messages, want greeting %v", i, len(sent), m.greets)
				}
				if m.greets {
					got, err := DecodeMessage(sent[0], 0)
					if err != nil {
						t.Fatal(err)
					}
					st, _ := rec.Last()
					nb, _ := st.Neighbour("b")
					if got.Token == "" || got.Token != nb.TokenIn {
						t.Fatalf("message %d: a greets b with %q, its proxy accepts %q", i, got.Token, nb.TokenIn)
					}
					greetings = append(greetings, got.Token)
				}
				if m.applies > 0 {
					st, _ := rec.Last()
					if nb, _ := st.Neighbour("b"); nb.TokenOut != m.token {
						t.Errorf("message %d: a presents %q to b, which handed it %q", i, nb.TokenOut, m.token)
					}
				}
				select {
				case <-n.kick:
					if !m.kick {
						t.Errorf("message %d: replan due", i)
					}
				default:
					if m.kick {
						t.Errorf("message %d: no replan due", i)
					}
				}
			}
			if len(greetings) == 2 && greetings[0] == greetings[1] {
				t.Errorf("the restarted b was handed its old credential again")
			}
			got := series(t, reg, "dfaas_agent_out_of_cycle_applies_total", "dfaas_agent_neighbour_restarts_total")
			if want := countSeries(c.counts); got != want {
				t.Errorf("counters:\n%s\nwant:\n%s", got, want)
			}
			if h := n.Status(t0).Health[ComponentProxy]; c.applyErr != strings.Contains(h, "out-of-cycle apply for peer b: proxy down") {
				t.Errorf("proxy health %q (apply fails: %v)", h, c.applyErr)
			}
		})
	}
}

// countSeries turns "greet G, reapply R, deferred D, restarts N" into the
// series the registry lists (every kind has a series from the start).
func countSeries(s string) string {
	var g, r, d, rs int
	fmt.Sscanf(s, "greet %d, reapply %d, deferred %d, restarts %d", &g, &r, &d, &rs)
	var lines []string
	lines = append(lines, fmt.Sprintf("dfaas_agent_neighbour_restarts_total{} %d", rs))
	for _, kv := range []struct {
		k string
		v int
	}{{"deferred", d}, {"greet", g}, {"reapply", r}} {
		lines = append(lines, fmt.Sprintf("dfaas_agent_out_of_cycle_applies_total{kind=%s} %d", kv.k, kv.v))
	}
	return strings.Join(lines, "\n")
}

// drainMsgs returns the messages waiting on tr, without blocking.
func drainMsgs(tr *peer.MemTransport) [][]byte {
	var out [][]byte
	for {
		select {
		case m := <-tr.Recv():
			out = append(out, m.Data)
		default:
			return out
		}
	}
}

// TestDrainOfAClosedTransport: a cycle that finds the transport closed
// marks the peers component failing.
func TestDrainOfAClosedTransport(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	var tr *peer.MemTransport
	n, _, _ := newRulesNode(t, net, func(m *peer.MemTransport) peer.Transport { tr = m; return m }, nil)
	n.drain(context.Background(), time.Unix(1, 0))
	if h := n.Status(time.Unix(1, 0)).Health[ComponentPeers]; h != "ok" && h != "" {
		t.Fatalf("peers health %q on an open transport", h)
	}
	tr.Close()
	n.drain(context.Background(), time.Unix(1, 0))
	if ok, failing := n.Healthy(); ok || failing[ComponentPeers] != "transport closed" {
		t.Fatalf("healthy %v, failing %v: want peers failing, transport closed", ok, failing)
	}
}
