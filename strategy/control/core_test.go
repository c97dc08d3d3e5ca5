package control_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

var t0 = time.Unix(1000, 0)

func newCore(t *testing.T, cfg control.Config) *control.Core {
	t.Helper()
	if cfg.Self == "" {
		cfg.Self = "a"
	}
	if cfg.Period == 0 {
		cfg.Period = time.Second
	}
	c, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runs announces that the sender runs fns.
func runs(fns ...string) strategy.Announcement {
	var a strategy.Announcement
	for _, f := range fns {
		a.Functions = append(a.Functions, strategy.FunctionState{Name: f, Deployed: true, Capacity: 10, Spare: 10})
	}
	return a
}

func ids(nbs []strategy.Neighbour) string {
	var s []string
	for _, nb := range nbs {
		s = append(s, string(nb.ID))
	}
	return strings.Join(s, ",")
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		cfg   control.Config
		field string
	}{
		{control.Config{Period: time.Second}, "Self"},
		{control.Config{Self: "a"}, "Period"},
		{control.Config{Self: "a", Period: time.Second, Expiry: -1}, "Expiry"},
		{control.Config{Self: "a", Period: time.Second, Nearest: -1}, "Nearest"},
		{control.Config{Self: "a", Period: time.Second, MaxRTT: -1}, "MaxRTT"},
	} {
		if _, err := control.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%+v: error %v does not name %s", tt.cfg, err, tt.field)
		}
	}
}

// TestReceive: stale, self and invalid messages are dropped and change
// nothing; the grants kept are those addressed to this node.
func TestReceive(t *testing.T) {
	c := newCore(t, control.Config{})
	a := runs("figlet")
	a.Grants = []strategy.Grant{{To: "a", Function: "figlet", Rate: 5}, {To: "c", Function: "figlet", Rate: 7}}
	if _, err := c.Receive("b", control.Message{Seq: 5, Accepts: true, Announcement: a}, t0); err != nil {
		t.Fatal(err)
	}
	nb, ok := c.Neighbour("b")
	if !ok || len(nb.Announcement.Grants) != 1 || nb.Announcement.Grants[0].To != "a" || !nb.Received.Equal(t0) {
		t.Fatalf("kept %+v", nb)
	}
	for _, tt := range []struct {
		from string
		m    control.Message
		want error
	}{
		{"b", control.Message{Seq: 5}, control.ErrStale},
		{"b", control.Message{Seq: 4}, control.ErrStale},
		{"a", control.Message{Seq: 9}, control.ErrSelf},
		{"", control.Message{Seq: 9}, control.ErrSelf},
		{"b", control.Message{Seq: 9, Announcement: strategy.Announcement{Functions: []strategy.FunctionState{{Name: "bad name"}}}}, control.ErrInvalid},
	} {
		if _, err := c.Receive(strategy.NodeID(tt.from), tt.m, t0.Add(time.Second)); !errors.Is(err, tt.want) {
			t.Errorf("from %q seq %d: %v, want %v", tt.from, tt.m.Seq, err, tt.want)
		}
	}
	if nb, _ := c.Neighbour("b"); nb.Seq != 5 || !nb.Received.Equal(t0) {
		t.Fatalf("a dropped message changed the neighbour: %+v", nb)
	}
}

// TestDataNetwork: the snapshot's neighbours are those that accept this
// node, are up, within MaxRTT, the Nearest by RTT with unknown RTTs last.
func TestDataNetwork(t *testing.T) {
	peers := []control.Peer{
		{ID: "b", RTT: 30 * time.Millisecond, Up: true},
		{ID: "c", RTT: 0, Up: true}, // unknown
		{ID: "d", RTT: 10 * time.Millisecond, Up: true},
		{ID: "e", RTT: 5 * time.Millisecond, Up: false},
		{ID: "f", RTT: 500 * time.Millisecond, Up: true},
		// g is not listed: up, RTT unknown.
	}
	tests := []struct {
		name string
		cfg  control.Config
		want string
	}{
		{"all accepting and up", control.Config{}, "b,c,d,f,g"},
		{"within MaxRTT", control.Config{MaxRTT: 100 * time.Millisecond}, "b,c,d,g"},
		{"nearest two", control.Config{Nearest: 2}, "b,d"},
		{"nearest four: unknown RTTs last", control.Config{Nearest: 4}, "b,c,d,f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCore(t, tt.cfg)
			for _, id := range []strategy.NodeID{"b", "c", "d", "e", "f", "g", "h"} {
				m := control.Message{Seq: 1, Accepts: id != "h", Announcement: runs("figlet")}
				if _, err := c.Receive(id, m, t0); err != nil {
					t.Fatal(err)
				}
			}
			s, err := c.Observe(control.Observation{Now: t0.Add(time.Second), Peers: peers})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(s.Neighbours); got != tt.want {
				t.Fatalf("data network %s, want %s", got, tt.want)
			}
			if s.Neighbours[0].Age != time.Second {
				t.Fatalf("age %v", s.Neighbours[0].Age)
			}
		})
	}
}

// TestExpiry: a neighbour not heard from within the expiry leaves the
// snapshot and the core.
func TestExpiry(t *testing.T) {
	c := newCore(t, control.Config{Expiry: 3 * time.Second})
	c.Receive("b", control.Message{Seq: 1, Accepts: true, Announcement: runs("figlet")}, t0)
	s, _ := c.Observe(control.Observation{Now: t0.Add(3 * time.Second)})
	if ids(s.Neighbours) != "b" {
		t.Fatalf("expired too early: %s", ids(s.Neighbours))
	}
	s, _ = c.Observe(control.Observation{Now: t0.Add(3*time.Second + 1)})
	if _, ok := c.Neighbour("b"); ok || len(s.Neighbours) != 0 || len(s.Functions) != 0 {
		t.Fatalf("not expired: %+v", s)
	}
	// Expired, its sequence numbers are forgotten: a restarted peer is
	// heard again.
	if _, err := c.Receive("b", control.Message{Seq: 1, Accepts: true}, t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestFunctions: deployed functions, observed rates (sanitized) and the
// functions the data network runs are merged; the rates of names neither
// deployed nor run by a neighbour kept go to the Unknown aggregate;
// forecasters are fed only measured rates and dropped with their function.
func TestFunctions(t *testing.T) {
	c := newCore(t, control.Config{Forecaster: func() forecast.Forecaster { return &forecast.EWMA{Alpha: 0.5} }})
	c.Receive("b", control.Message{Seq: 1, Accepts: true, Announcement: runs("remote")}, t0)
	c.Receive("c", control.Message{Seq: 1, Accepts: false, Announcement: runs("hidden")}, t0)
	o := control.Observation{
		Now:      t0,
		Deployed: []strategy.Function{{Name: "figlet", Capacity: 50, Concurrency: 4, Replicas: 2}, {Name: "bad name"}},
		Rates: []strategy.Function{{Name: "figlet", Offered: 10, Local: -1}, {Name: "hidden", Offered: 2},
			{Name: "other", Offered: 5, Failed: math.Inf(1)}, {Name: "bad name", Offered: 1}},
	}
	s, err := c.Observe(o)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range s.Functions {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "figlet,hidden,remote" {
		t.Fatalf("functions %v (hidden: run by a neighbour kept, outside the data network)", names)
	}
	if u := c.Unknown(); u != (control.Unknown{Names: 2, Offered: 6}) {
		t.Fatalf("unknown %+v", u)
	}
	f, _ := s.Function("figlet")
	if !f.Deployed || f.Capacity != 50 || f.Concurrency != 4 || f.Replicas != 2 || f.Offered != 10 || f.Local != 0 || f.Forecast != 0 {
		t.Fatalf("figlet %+v (no measured rate yet: the forecaster has seen nothing)", f)
	}
	o.Measured = true
	s, _ = c.Observe(o)
	if f, _ := s.Function("figlet"); f.Forecast != 10 {
		t.Fatalf("forecast %v after one measured 10", f.Forecast)
	}
	o.Rates = o.Rates[:1]
	o.Rates[0].Offered = 20
	s, _ = c.Observe(o)
	if f, _ := s.Function("figlet"); f.Forecast != 15 {
		t.Fatalf("forecast %v after 10, 20 with alpha 0.5", f.Forecast)
	}
	if _, ok := s.Function("hidden"); ok {
		t.Fatal("a function no longer observed is still there")
	}
	if s.Seed == 0 || s.Period != time.Second || s.Self != "a" {
		t.Fatalf("snapshot header %+v", s)
	}
}

// TestFailStatic: a cycle that fails commits nothing: the snapshot's Prev
// and the announcement stay those of the decision in force; before any,
// the node announces its functions.
func TestFailStatic(t *testing.T) {
	c := newCore(t, control.Config{})
	s, _ := c.Observe(control.Observation{Now: t0, Deployed: []strategy.Function{{Name: "figlet", Capacity: 10}}})
	if a := c.Announcement(); len(a.Functions) != 1 || a.Functions[0].Name != "figlet" {
		t.Fatalf("before any decision: %+v", a)
	}
	d, err := control.Decide(strategy.AllLocal{}, s)
	if err != nil {
		t.Fatal(err)
	}
	d.Announce.Data = []byte(`{"v":1}`)
	c.Commit(d, nil)
	bad := strategy.Func(func(strategy.Snapshot) (strategy.Decision, error) {
		return strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 2}}}, nil
	})
	s2, _ := c.Observe(control.Observation{Now: t0.Add(time.Second), Deployed: []strategy.Function{{Name: "figlet", Capacity: 10}}})
	if _, err := control.Decide(bad, s2); !errors.Is(err, strategy.ErrInvalidDecision) {
		t.Fatalf("invalid decision accepted: %v", err)
	}
	if !s2.Prev.Equal(d) || !c.Decision().Equal(d) || string(c.Announcement().Data) != `{"v":1}` {
		t.Fatal("the decision in force or its announcement changed without a commit")
	}
	panicking := strategy.Func(func(strategy.Snapshot) (strategy.Decision, error) { panic("boom") })
	if _, err := control.Decide(panicking, s2); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic: %v", err)
	}
}

// TestComplete: routes for the functions a strategy left out, and the
// generic announcement.
func TestComplete(t *testing.T) {
	c := newCore(t, control.Config{})
	c.Receive("b", control.Message{Seq: 1, Accepts: true, Announcement: runs("remote")}, t0)
	c.Receive("c", control.Message{Seq: 1, Accepts: true, Announcement: runs("remote")}, t0)
	s, _ := c.Observe(control.Observation{Now: t0, Deployed: []strategy.Function{{Name: "figlet", Capacity: 10}},
		Rates: []strategy.Function{{Name: "nowhere", Offered: 3}}})
	var d strategy.Decision
	control.Complete(&d, s)
	if err := d.Validate(s); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(d.Routes)
	want := "[{figlet 1 [] 0 0 []} {remote 0 [{b 0.5} {c 0.5}] 0 0 []}]"
	if got != want {
		t.Fatalf("routes %s, want %s (nowhere: no route, the proxy answers 404)", got, want)
	}
	if len(d.Announce.Functions) != 1 {
		t.Fatalf("announcement %+v (nowhere, unknown, is not announced)", d.Announce)
	}
}

// TestOutbox: one message per known peer (members, neighbours heard from,
// bootstrap; never self), in ID order, with increasing sequence numbers,
// only the recipient's grants, and Accepted for the nodes the data plane
// in force accepts.
func TestOutbox(t *testing.T) {
	c := newCore(t, control.Config{Bootstrap: []strategy.NodeID{"z", "a"}})
	c.Receive("c", control.Message{Seq: 1, Accepts: true, Announcement: runs("figlet")}, t0)
	s, _ := c.Observe(control.Observation{Now: t0, Deployed: []strategy.Function{{Name: "figlet", Capacity: 10}}})
	d, err := control.Decide(strategy.AllLocal{}, s)
	if err != nil {
		t.Fatal(err)
	}
	d.Announce.Grants = []strategy.Grant{{To: "c", Function: "figlet", Rate: 3}}
	c.Commit(d, []strategy.NodeID{"c"})
	out := c.Outbox([]strategy.NodeID{"b", "c", "a"})
	var got []string
	for _, m := range out {
		got = append(got, fmt.Sprintf("%s#%d accepted=%v grants=%d", m.To, m.Seq, m.Accepted, len(m.Announcement.Grants)))
	}
	want := []string{"b#1 accepted=false grants=0", "c#2 accepted=true grants=1", "z#3 accepted=false grants=0"}
	if !slices.Equal(got, want) {
		t.Fatalf("outbox %v, want %v", got, want)
	}
	out[1].Announcement.Grants[0].Rate = 99 // the outbox owns its copies
	if c.Announcement().Grants[0].Rate != 3 {
		t.Fatal("the outbox shares the announcement in force")
	}
}

// ExampleCore runs two cores against each other for three cycles, as the
// agent and the simulator do around a strategy.
func ExampleCore() {
	now := time.Unix(0, 0)
	cores := map[strategy.NodeID]*control.Core{}
	for _, id := range []strategy.NodeID{"a", "b"} {
		cores[id], _ = control.New(control.Config{Self: id, Period: time.Second})
	}
	deployed := map[strategy.NodeID][]strategy.Function{"a": {{Name: "figlet", Capacity: 10}}}
	for cycle := range 3 {
		var mail []control.Outgoing
		var from []strategy.NodeID
		for _, id := range []strategy.NodeID{"a", "b"} {
			c := cores[id]
			s, err := c.Observe(control.Observation{Now: now, Deployed: deployed[id]})
			if err != nil {
				panic(err)
			}
			if d, err := control.Decide(&strategy.Static{LocalShare: 1}, s); err == nil {
				c.Commit(d, []strategy.NodeID{"a", "b"}) // the data plane took it
			}
			fmt.Printf("cycle %d: %s sees %d neighbours, routes %d functions\n", cycle, id, len(s.Neighbours), len(c.Decision().Routes))
			for _, m := range c.Outbox([]strategy.NodeID{"a", "b"}) {
				mail, from = append(mail, m), append(from, id)
			}
		}
		for i, m := range mail {
			cores[m.To].Receive(from[i], control.Message{Seq: m.Seq, Accepts: m.Accepted, Announcement: m.Announcement}, now)
		}
		now = now.Add(time.Second)
	}
	// Output:
	// cycle 0: a sees 0 neighbours, routes 1 functions
	// cycle 0: b sees 0 neighbours, routes 0 functions
	// cycle 1: a sees 1 neighbours, routes 1 functions
	// cycle 1: b sees 1 neighbours, routes 1 functions
	// cycle 2: a sees 1 neighbours, routes 1 functions
	// cycle 2: b sees 1 neighbours, routes 1 functions
}
