package control_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// FuzzCore feeds the core announcements and observations of every shape:
// it must never panic, and whatever it accepted, the snapshot it builds is
// valid (Observe fails only on invalid node resources, which it passes
// through) and so are the messages it yields.
func FuzzCore(f *testing.F) {
	f.Add([]byte(`{"functions":[{"name":"figlet","deployed":true,"capacity":10}],"grants":[{"to":"a","function":"figlet","rate":1}]}`),
		"b", uint64(1), int64(time.Millisecond), 10.0, 5.0, "figlet")
	f.Add([]byte(`{"functions":[{"name":"x","deployed":true,"capacity":-1}]}`), "a", uint64(0), int64(-1), math.NaN(), math.Inf(1), "bad name")
	f.Add([]byte(`{"grants":[{"to":"z","function":"f","rate":1},{"to":"a","function":"f","rate":2}],"data":{"k":[1,2]}}`), "", uint64(7), int64(0), -3.0, 1e308, "f")
	f.Fuzz(func(t *testing.T, data []byte, from string, seq uint64, rtt int64, offered, capacity float64, name string) {
		c, err := control.New(control.Config{Self: "a", Period: time.Second, Nearest: 1})
		if err != nil {
			t.Fatal(err)
		}
		var a strategy.Announcement
		if json.Unmarshal(data, &a) != nil {
			return
		}
		now := time.Unix(100, 0)
		heard, rerr := c.Receive(strategy.NodeID(from), control.Message{Incarnation: seq >> 32, Seq: seq, Accepts: true, Announcement: a}, now)
		accepted := rerr == nil
		o := control.Observation{
			Now:             now.Add(time.Duration(rtt)),
			Deployed:        []strategy.Function{{Name: name, Capacity: capacity, Concurrency: int(seq % 7), Replicas: -1}},
			Rates:           []strategy.Function{{Name: name, Offered: offered, Latency: time.Duration(rtt)}, {Name: "figlet", Local: capacity}},
			Measured:        true,
			Peers:           []control.Peer{{ID: strategy.NodeID(from), RTT: time.Duration(rtt), Up: rtt%2 == 0}},
			Other:           strategy.Function{Offered: offered},
			Answers:         []control.Answer{{ID: strategy.NodeID(from), Function: name, Succeeded: offered, Failed: capacity, Latency: time.Duration(rtt)}},
			AnswersMeasured: seq%3 == 0,
			Directory:       seq%5 == 0,
		}
		s, err := c.Observe(o)
		if err != nil {
			t.Fatalf("invalid snapshot from valid resources (accepted %v): %v", accepted, err)
		}
		d, err := control.Decide(&strategy.Static{LocalShare: 0.5}, s)
		if err != nil {
			t.Fatalf("static strategy on a valid snapshot: %v", err)
		}
		c.Bound(&d, s)
		if err := d.Validate(s); err != nil {
			t.Fatalf("Bound made the decision invalid: %v", err)
		}
		c.Commit(d, []strategy.NodeID{strategy.NodeID(from)})
		if heard.Greets() {
			if g, ok := c.Greet(strategy.NodeID(from)); ok && (!g.Accepted || g.To != strategy.NodeID(from)) {
				t.Fatalf("greeting %+v", g)
			}
		}
		for _, m := range c.Outbox([]strategy.NodeID{strategy.NodeID(from), "a", ""}) {
			if m.To == "a" || m.To == "" {
				t.Fatalf("message to %q", m.To)
			}
			if err := m.Announcement.Validate(); err != nil {
				t.Fatalf("invalid announcement to %s: %v", m.To, err)
			}
			for _, g := range m.Announcement.Grants {
				if g.To != m.To {
					t.Fatalf("grant to %s sent to %s", g.To, m.To)
				}
			}
		}
	})
}
