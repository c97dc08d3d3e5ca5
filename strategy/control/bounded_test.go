package control_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// TestUnknownNamesKeepNoState: rates observed for 10,000 names that exist
// nowhere leave no per-function state, no snapshot function and no
// announced entry: they are one aggregate.
func TestUnknownNamesKeepNoState(t *testing.T) {
	fc, _ := forecast.ByName("auto")
	c := newCore(t, control.Config{Forecaster: fc})
	c.Receive("b", control.Message{Incarnation: 1, Seq: 1, Accepts: true, Announcement: runs("remote")}, t0)
	o := control.Observation{Now: t0, Measured: true, Deployed: []strategy.Function{{Name: "figlet", Capacity: 10}}}
	o.Rates = append(o.Rates, strategy.Function{Name: "figlet", Offered: 3}, strategy.Function{Name: "remote", Offered: 1})
	for i := range 10000 {
		o.Rates = append(o.Rates, strategy.Function{Name: fmt.Sprintf("made-up-%d", i), Offered: 0.2, Rejected: 0.2})
	}
	s, err := c.Observe(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Functions) != 2 || c.States() != 2 {
		t.Fatalf("%d functions in the snapshot, %d with state; want 2 (figlet, remote)", len(s.Functions), c.States())
	}
	u := c.Unknown()
	if u.Names != 10000 || u.Offered < 1999 || u.Offered > 2001 || u.Rejected < 1999 {
		t.Fatalf("unknown aggregate %+v", u)
	}
	// What the data plane aggregated itself adds to it.
	o.Other = strategy.Function{Offered: 7, Rejected: 7}
	if _, err := c.Observe(o); err != nil {
		t.Fatal(err)
	}
	if u := c.Unknown(); u.Names != 10000 || u.Offered < 2006 || u.Offered > 2008 {
		t.Fatalf("unknown aggregate with the data plane's %+v", c.Unknown())
	}
	o.Other = strategy.Function{}
	d, err := control.Decide(strategy.AllLocal{}, s)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Announce.Functions); n != 2 {
		t.Fatalf("announces %d functions, want 2", n)
	}
	// The neighbour goes: remote becomes unknown, its state goes at once.
	o.Now = t0.Add(time.Hour)
	if _, err := c.Observe(o); err != nil {
		t.Fatal(err)
	}
	if c.States() != 1 || c.Unknown().Names != 10001 {
		t.Fatalf("after the neighbour expired: %d states, unknown %+v", c.States(), c.Unknown())
	}
}

// TestIdleForecastIsZero: with every built-in forecaster, a function whose
// offered rate has been 0 for IdlePeriods measured periods is forecast
// exactly 0 (and a function it does not deploy leaves the announcement),
// and the forecast follows the load again when it returns.
func TestIdleForecastIsZero(t *testing.T) {
	for _, method := range append(forecast.Methods(), "none") {
		t.Run(method, func(t *testing.T) {
			var fc forecast.Factory
			if method != "none" {
				fc, _ = forecast.ByName(method)
			}
			c := newCore(t, control.Config{Forecaster: fc, IdlePeriods: 4})
			now := t0
			observe := func(offered float64) strategy.Snapshot {
				t.Helper()
				c.Receive("b", control.Message{Incarnation: 1, Seq: uint64(now.Unix()), Accepts: true, Announcement: runs("remote")}, now)
				s, err := c.Observe(control.Observation{Now: now, Measured: true, Rates: []strategy.Function{{Name: "remote", Offered: offered}}})
				if err != nil {
					t.Fatal(err)
				}
				now = now.Add(time.Second)
				return s
			}
			for k := range 40 {
				observe(50 + float64(k%5))
			}
			var s strategy.Snapshot
			for k := range 4 {
				s = observe(0)
				// EWMA decays and never reaches 0 on its own: the rule
				// waits for the 4th idle period.
				if f, _ := s.Function("remote"); k < 3 && method == "ewma" && f.Forecast == 0 {
					t.Fatalf("forecast 0 after %d idle periods (the rule waits for 4)", k+1)
				}
			}
			if f, _ := s.Function("remote"); f.Forecast != 0 {
				t.Fatalf("forecast %g after 4 idle periods, want exactly 0", f.Forecast)
			}
			if a := strategy.BaseAnnouncement(s); len(a.Functions) != 0 {
				t.Fatalf("an idle function it does not run is still announced: %+v", a.Functions)
			}
			for range 1000 {
				s = observe(0)
			}
			if f, _ := s.Function("remote"); f.Forecast != 0 {
				t.Fatalf("forecast %g after 1000 idle periods", f.Forecast)
			}
			s = observe(30)
			if f, _ := s.Function("remote"); f.Forecast <= 0 {
				t.Fatalf("forecast %g once the load returns", f.Forecast)
			}
		})
	}
}

// TestIncarnations: a larger incarnation is a restart, taken at once and
// no longer accepted; an older incarnation's messages are stale, unless
// what the core kept has expired.
func TestIncarnations(t *testing.T) {
	c := newCore(t, control.Config{Expiry: 3 * time.Second})
	msg := func(inc, seq uint64) control.Message {
		return control.Message{Incarnation: inc, Seq: seq, Accepts: true, Announcement: runs("figlet")}
	}
	steps := []struct {
		inc, seq uint64
		at       time.Duration
		heard    control.Heard
		err      error
	}{
		{5, 10, 0, control.HeardFirst, nil},
		{5, 11, 0, control.HeardAgain, nil},
		{5, 11, 0, 0, control.ErrStale},
		{6, 1, time.Second, control.HeardRestart, nil}, // restarted: sequence numbers start again
		{5, 12, time.Second, 0, control.ErrStale},      // a late message of the old incarnation
		{6, 2, time.Second, control.HeardAgain, nil},
		{4, 1, 5 * time.Second, control.HeardFirst, nil}, // expired: its clock went back, heard again
	}
	for i, st := range steps {
		heard, err := c.Receive("b", msg(st.inc, st.seq), t0.Add(st.at))
		if !errors.Is(err, st.err) || (err == nil && heard != st.heard) {
			t.Fatalf("step %d (%d/%d): heard %v err %v, want %v %v", i, st.inc, st.seq, heard, err, st.heard, st.err)
		}
		if i == 2 {
			// Commit a decision accepting b: the restart must undo it.
			s, _ := c.Observe(control.Observation{Now: t0})
			d, _ := control.Decide(strategy.AllLocal{}, s)
			c.Commit(d, []strategy.NodeID{"b"})
		}
		if i == 3 {
			if out := c.Outbox(nil); len(out) != 1 || out[0].Accepted {
				t.Fatalf("a restarted neighbour is still accepted: %+v", out)
			}
		}
	}
	if nb, _ := c.Neighbour("b"); nb.Incarnation != 4 || nb.Seq != 1 {
		t.Fatalf("kept %+v", nb)
	}
}

// TestGreet: a node greets a peer it first hears from (or that restarted)
// at once, once it has a decision in force; the greeting accepts it.
func TestGreet(t *testing.T) {
	c := newCore(t, control.Config{Incarnation: 77})
	heard, _ := c.Receive("b", control.Message{Incarnation: 1, Seq: 1}, t0)
	if !heard.Greets() {
		t.Fatal("a first message does not call for a greeting")
	}
	if _, ok := c.Greet("b"); ok {
		t.Fatal("greeted before any decision was committed")
	}
	s, _ := c.Observe(control.Observation{Now: t0, Deployed: []strategy.Function{{Name: "figlet", Capacity: 10}}})
	d, _ := control.Decide(strategy.AllLocal{}, s)
	c.Commit(d, nil)
	if _, ok := c.Greet("z"); ok {
		t.Fatal("greeted a peer never heard from")
	}
	m, ok := c.Greet("b")
	if !ok || !m.Accepted || m.To != "b" || m.Incarnation != 77 || m.Seq != 1 || len(m.Announcement.Functions) != 1 {
		t.Fatalf("greeting %+v %v", m, ok)
	}
	if out := c.Outbox(nil); !out[0].Accepted || out[0].Seq != 2 {
		t.Fatalf("after the greeting: %+v", out)
	}
	if h := c.Hail("c"); h.Accepted || h.Seq != 3 || h.To != "c" {
		t.Fatalf("hail %+v", h)
	}
	if heard, _ := c.Receive("b", control.Message{Incarnation: 1, Seq: 2}, t0); heard.Greets() {
		t.Fatal("a newer message of a known neighbour calls for a greeting")
	}
}

// TestDirectoryForgets: with a directory, a neighbour it no longer lists
// has left: it is forgotten at once, not after the expiry.
func TestDirectoryForgets(t *testing.T) {
	c := newCore(t, control.Config{})
	c.Receive("b", control.Message{Incarnation: 1, Seq: 1, Accepts: true, Announcement: runs("figlet")}, t0)
	c.Receive("c", control.Message{Incarnation: 1, Seq: 1, Accepts: true, Announcement: runs("figlet")}, t0)
	s, _ := c.Observe(control.Observation{Now: t0, Peers: []control.Peer{{ID: "c", Up: true}}})
	if ids(s.Neighbours) != "b,c" {
		t.Fatalf("without a directory, an unlisted neighbour stays: %s", ids(s.Neighbours))
	}
	s, _ = c.Observe(control.Observation{Now: t0, Directory: true, Peers: []control.Peer{{ID: "c", Up: true}}})
	if _, ok := c.Neighbour("b"); ok || ids(s.Neighbours) != "c" {
		t.Fatalf("a neighbour that left is kept: %s", ids(s.Neighbours))
	}
}
