package control_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// TestGrantsBounded: grants above the grantor's announced capacity are
// clamped to it, grants for a function it does not run are dropped, and so
// is an announced spare rate above the capacity; each is an anomaly.
func TestGrantsBounded(t *testing.T) {
	c := newCore(t, control.Config{})
	a := strategy.Announcement{
		Functions: []strategy.FunctionState{
			{Name: "f", Deployed: true, Capacity: 50, Spare: 1e9},
			{Name: "g", Deployed: false, Offered: 3},
			{Name: "h", Deployed: true}, // capacity unknown: not bounded
		},
		Grants: []strategy.Grant{{To: "a", Function: "f", Rate: 1e9}, {To: "a", Function: "g", Rate: 5}, {To: "a", Function: "h", Rate: 7}, {To: "a", Function: "x", Rate: 1}},
	}
	if _, err := c.Receive("liar", control.Message{Incarnation: 1, Seq: 1, Accepts: true, Announcement: a}, t0); err != nil {
		t.Fatal(err)
	}
	nb, _ := c.Neighbour("liar")
	got := fmt.Sprint(nb.Announcement.Grants)
	if want := "[{a f 50} {a h 7}]"; got != want {
		t.Fatalf("grants kept %s, want %s", got, want)
	}
	if f, _ := nb.Announcement.Function("f"); f.Spare != 50 {
		t.Fatalf("spare %v, want clamped to 50", f.Spare)
	}
	an := c.Anomalies()
	if an.GrantsBounded != 4 || an.ByNeighbour["liar"] != 4 {
		t.Fatalf("anomalies %+v, want 4 (clamped grant, 2 dropped, clamped spare)", an)
	}
}

// boundCase builds a core with neighbours b and c, observes user load on f
// (deployed here with capacity 100) and the answers given, and returns the
// core and its snapshot.
func boundCase(t *testing.T, trust control.Trust, offered float64, answers []control.Answer, measured bool) (*control.Core, strategy.Snapshot) {
	t.Helper()
	c := newCore(t, control.Config{Trust: trust})
	for _, id := range []strategy.NodeID{"b", "c"} {
		c.Receive(id, control.Message{Incarnation: 1, Seq: 1, Accepts: true, Announcement: runs("f")}, t0)
	}
	s, err := c.Observe(control.Observation{
		Now: t0, Measured: true, Deployed: []strategy.Function{{Name: "f", Capacity: 100}},
		Rates: []strategy.Function{{Name: "f", Offered: offered}}, Answers: answers, AnswersMeasured: measured,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func route(local, reject, limit float64, shares ...any) strategy.Decision {
	r := strategy.Route{Function: "f", Local: local, Reject: reject, LocalLimit: limit}
	for i := 0; i < len(shares); i += 2 {
		r.Forward = append(r.Forward, strategy.Share{Node: strategy.NodeID(shares[i].(string)), Share: shares[i+1].(float64)})
	}
	return strategy.Decision{Routes: []strategy.Route{r}}
}

// TestBound: the rate a decision sends each neighbour is capped at
// max(FloorShare × R, Growth × its successes), latency-weighted; the share
// removed is served locally within the node's spare capacity, else
// rejected (TestBoundServesLocally); the decision stays valid.
func TestBound(t *testing.T) {
	rule := control.Trust{FloorShare: 0.25, Growth: 2} // the rule's arithmetic, whatever the defaults
	with := func(f func(*control.Trust)) control.Trust {
		r := rule
		f(&r)
		return r
	}
	tests := []struct {
		name     string
		trust    control.Trust
		offered  float64
		answers  []control.Answer
		measured bool
		d        strategy.Decision
		want     map[strategy.NodeID]float64 // rate sent after Bound
		capped   string
	}{
		{"liar with no successes gets the floor", rule, 400, nil, true,
			route(0.2, 0, 0, "b", 0.8), map[strategy.NodeID]float64{"b": 100}, "b"},
		{"serving neighbour may double", rule, 400, []control.Answer{{ID: "b", Succeeded: 120, Latency: 10 * time.Millisecond}}, true,
			route(0.2, 0, 0, "b", 0.8), map[strategy.NodeID]float64{"b": 240}, "b"},
		{"within the allowance: unchanged", rule, 400, []control.Answer{{ID: "b", Succeeded: 200}}, true,
			route(0.2, 0, 0, "b", 0.8), map[strategy.NodeID]float64{"b": 320}, ""},
		{"slow answers count in proportion", with(func(r *control.Trust) { r.Latency = time.Second }), 400, []control.Answer{{ID: "b", Succeeded: 200, Latency: 4 * time.Second}}, true,
			route(0.2, 0, 0, "b", 0.8), map[strategy.NodeID]float64{"b": 100}, "b"},
		{"failures earn nothing", rule, 400, []control.Answer{{ID: "b", Succeeded: 10, Failed: 300}}, true,
			route(0.2, 0, 0, "b", 0.8), map[strategy.NodeID]float64{"b": 100}, "b"},
		{"two neighbours each under the floor", rule, 400, nil, true,
			route(0.5, 0, 0, "b", 0.25, "c", 0.25), map[strategy.NodeID]float64{"b": 100, "c": 100}, ""},
		{"not measured: no cap", rule, 400, nil, false,
			route(0.2, 0, 0, "b", 0.8), map[strategy.NodeID]float64{"b": 320}, ""},
		{"off: no cap", with(func(r *control.Trust) { r.Off = true }), 400, nil, true,
			route(0.2, 0, 0, "b", 0.8), map[strategy.NodeID]float64{"b": 320}, ""},
		// Local 0.9 of 400 = 360 over a limit of 100: 260 overflow to b.
		{"local limit overflow counts", rule, 400, nil, true,
			route(0.9, 0, 100, "b", 0.1), map[strategy.NodeID]float64{"b": 0}, "b"},
		{"overflow shared with a trusted neighbour", rule, 400, []control.Answer{{ID: "c", Succeeded: 500}}, true,
			route(0.6, 0, 100, "b", 0.2, "c", 0.2), nil, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := boundCase(t, tt.trust, tt.offered, tt.answers, tt.measured)
			d := tt.d
			control.Complete(&d, s)
			if err := d.Validate(s); err != nil {
				t.Fatalf("test decision invalid: %v", err)
			}
			caps := c.Bound(&d, s)
			if err := d.Validate(s); err != nil {
				t.Fatalf("bounded decision invalid: %v", err)
			}
			var capped string
			for _, cp := range caps {
				if cp.Capped {
					capped += string(cp.ID)
				}
				if got := sent(d, cp.ID, tt.offered); got > cp.Allowance*(1+1e-6) {
					t.Errorf("%s receives %g, over its allowance %g", cp.ID, got, cp.Allowance)
				}
			}
			if capped != tt.capped {
				t.Errorf("capped %q, want %q (caps %+v)", capped, tt.capped, caps)
			}
			for id, want := range tt.want {
				if got := sent(d, id, tt.offered); math.Abs(got-want) > 1e-6*max(1, want) {
					t.Errorf("%s receives %g, want %g (route %+v)", id, got, want, d.Routes[0])
				}
			}
			if an := c.Anomalies(); an.SharesCapped != uint64(len(tt.capped)) {
				t.Errorf("anomalies %+v", an)
			}
		})
	}
}

// TestBoundServesLocally: the share Bound removes from a neighbour is
// served locally as far as this node's spare capacity for the function
// allows (its capacity, less what neighbours send it, within the route's
// LocalLimit), and only the rest is rejected; without room (not deployed,
// capacity unknown) all of it is rejected.
func TestBoundServesLocally(t *testing.T) {
	rule := control.Trust{FloorShare: 0.25, Growth: 2}
	tests := []struct {
		name                  string
		deployed              []strategy.Function
		offered, fromNbs      float64
		d                     strategy.Decision
		wantLocal, wantReject float64
	}{
		{"room for all of it", []strategy.Function{{Name: "f", Capacity: 100}}, 100, 0,
			route(0.5, 0, 0, "b", 0.5), 0.75, 0},
		{"room for part of it", []strategy.Function{{Name: "f", Capacity: 100}}, 400, 0,
			route(0.2, 0, 0, "b", 0.8), 0.25, 0.5},
		{"neighbours' requests take room", []strategy.Function{{Name: "f", Capacity: 100}}, 100, 40,
			route(0.5, 0, 0, "b", 0.5), 0.6, 0.15},
		{"within the local limit", []strategy.Function{{Name: "f", Capacity: 100}}, 100, 0,
			route(0.5, 0, 60, "b", 0.5), 0.6, 0.15},
		{"capacity unknown", []strategy.Function{{Name: "f"}}, 100, 0,
			route(0.5, 0, 0, "b", 0.5), 0.5, 0.25},
		{"not deployed here", nil, 100, 0,
			route(0, 0, 0, "b", 1.0), 0, 0.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCore(t, control.Config{Trust: rule})
			c.Receive("b", control.Message{Incarnation: 1, Seq: 1, Accepts: true, Announcement: runs("f")}, t0)
			s, err := c.Observe(control.Observation{
				Now: t0, Measured: true, Deployed: tt.deployed, AnswersMeasured: true,
				Rates: []strategy.Function{{Name: "f", Offered: tt.offered, FromNeighbours: tt.fromNbs, Local: tt.fromNbs}},
			})
			if err != nil {
				t.Fatal(err)
			}
			d := tt.d
			control.Complete(&d, s)
			caps := c.Bound(&d, s)
			if err := d.Validate(s); err != nil {
				t.Fatalf("bounded decision invalid: %v", err)
			}
			if len(caps) != 1 || !caps[0].Capped {
				t.Fatalf("caps %+v, want b capped", caps)
			}
			r, _ := d.Route("f")
			if math.Abs(r.Local-tt.wantLocal) > 1e-6 || math.Abs(r.Reject-tt.wantReject) > 1e-6 {
				t.Errorf("local %g, reject %g; want %g, %g (route %+v)", r.Local, r.Reject, tt.wantLocal, tt.wantReject, r)
			}
			if got, want := sent(d, "b", tt.offered), 0.25*tt.offered; math.Abs(got-want) > 1e-6 {
				t.Errorf("b receives %g, want its allowance %g", got, want)
			}
		})
	}
}

// sent returns the rate route f of d sends neighbour id at offered rate,
// with the LocalLimit overflow in proportion to the forwarding shares.
func sent(d strategy.Decision, id strategy.NodeID, offered float64) float64 {
	r, _ := d.Route("f")
	share := r.ForwardShare(id)
	if share == 0 {
		return 0
	}
	over := 0.0
	if r.LocalLimit > 0 {
		over = max(0, r.Local*offered-r.LocalLimit)
	}
	return share*offered + over*share/r.Forwarded()
}

// TestBoundRemembers: a neighbour's best of its last TrustMemory periods
// with answers counts: periods in which it answered nothing (down,
// restarting, expired) leave its record as it was; periods in which it
// answered only failures push it down to the floor.
func TestBoundRemembers(t *testing.T) {
	c := newCore(t, control.Config{Expiry: 2 * time.Second, Trust: control.Trust{FloorShare: 0.25, Growth: 2}})
	k := 0
	observe := func(heard bool, succeeded, failed float64) float64 {
		t.Helper()
		now := t0.Add(time.Duration(k) * time.Second)
		k++
		if heard {
			c.Receive("b", control.Message{Incarnation: uint64(k), Seq: 1, Accepts: true, Announcement: runs("f")}, now)
		}
		o := control.Observation{
			Now: now, Measured: true, Deployed: []strategy.Function{{Name: "f", Capacity: 100}},
			Rates: []strategy.Function{{Name: "f", Offered: 400}}, AnswersMeasured: true,
		}
		if succeeded+failed > 0 {
			o.Answers = []control.Answer{{ID: "b", Function: "f", Succeeded: succeeded, Failed: failed}}
		}
		s, err := c.Observe(o)
		if err != nil {
			t.Fatal(err)
		}
		d := route(0.2, 0, 0, "b", 0.8)
		control.Complete(&d, s)
		caps := c.Bound(&d, s)
		if len(caps) == 0 {
			return 0 // b is not in the data network
		}
		return caps[0].Allowance
	}
	if a := observe(true, 150, 0); a != 300 {
		t.Fatalf("allowance %v after serving 150, want 300", a)
	}
	for range 2 { // b is down: it answers nothing
		if a := observe(true, 0, 0); a != 300 {
			t.Fatalf("allowance %v while b answers nothing, want 300 (its record stays)", a)
		}
	}
	for range 3 { // b is silent: it expires, then restarts (a new incarnation)
		observe(false, 0, 0)
	}
	if _, ok := c.Neighbour("b"); ok {
		t.Fatal("b did not expire")
	}
	if a := observe(true, 0, 0); a != 300 {
		t.Fatalf("allowance %v once b is back, want 300 (its record survives a restart)", a)
	}
	for i := 1; i < control.TrustMemory; i++ {
		if a := observe(true, 0, 80); a != 300 {
			t.Fatalf("allowance %v after %d periods of failures, want 300", a, i)
		}
	}
	if a := observe(true, 0, 80); a != 100 {
		t.Fatalf("allowance %v after %d periods of failures, want the floor 100", a, control.TrustMemory)
	}
}

// TestForwardCap: what the data plane may forward to a neighbour, per
// request: the floor share, or Growth times what its answers earned; no
// cap when answers are not measured or trust is off.
func TestForwardCap(t *testing.T) {
	rule := control.Trust{FloorShare: 0.25, Growth: 2}
	tests := []struct {
		name      string
		trust     control.Trust
		answers   []control.Answer
		measured  bool
		ok        bool
		rate      float64
		wantShare float64
	}{
		{"a liar: the share only", rule, []control.Answer{{ID: "b", Failed: 300}}, true, true, 0, 0.25},
		{"a serving neighbour: twice its successes", rule, []control.Answer{{ID: "b", Succeeded: 120, Latency: 10 * time.Millisecond}}, true, true, 240, 0.25},
		{"not measured: none", rule, nil, false, false, 0, 0},
		{"off: none", control.Trust{Off: true}, nil, true, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := boundCase(t, tt.trust, 400, tt.answers, tt.measured)
			share, rate, growth, ok := c.ForwardCap("b")
			if ok != tt.ok || (ok && (share != tt.wantShare || math.Abs(rate-tt.rate) > 1e-9 || growth != 2)) {
				t.Fatalf("ForwardCap = %v, %v, %v, %v; want %v, %v, 2, %v", share, rate, growth, ok, tt.wantShare, tt.rate, tt.ok)
			}
		})
	}
}
