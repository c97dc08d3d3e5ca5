package strategy

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"
)

func TestGrantWithin(t *testing.T) {
	for _, budget := range []float64{0, 0.5, 1, 1.5, 3, 10, 100, 1e4} {
		g := grantWithin(budget)
		if g < 0 {
			t.Fatalf("grantWithin(%v) = %v", budget, g)
		}
		if budget > 1 && math.Abs(g+poissonAllowance(g)-budget) > 1e-9*budget {
			t.Fatalf("grantWithin(%v) = %v, whose limit is %v", budget, g, g+poissonAllowance(g))
		}
	}
}

func TestFlowValidate(t *testing.T) {
	for _, fl := range []Flow{{Utilization: 1.5}, {ShedUtilization: -1}, {Balance: 2}, {Damping: 3}, {Slack: 0.5}, {RTTCost: math.Inf(1)}} {
		if err := fl.Validate(); err == nil {
			t.Errorf("%+v accepted", fl)
		}
	}
	if err := (&Flow{}).Validate(); err != nil {
		t.Error(err)
	}
	p := (&Flow{Utilization: 0.8, ShedUtilization: 0.9, Balance: 0.95, RTTCost: -1}).params()
	if p.uShed != 0.8 || p.bal != 0.8 || p.rttCost != 0 {
		t.Errorf("params %+v: shed utilization and balance are capped by utilization; a negative RTT cost is none", p)
	}
}

// TestFlowDamp checks the hysteresis of the asks.
func TestFlowDamp(t *testing.T) {
	got := flowDamp(map[NodeID]float64{"b": 30, "c": 10}, map[NodeID]float64{"b": 0, "c": 40}, 0.5)
	// Total 40; split halfway from (0, 1) to (0.75, 0.25).
	if math.Abs(got["b"]-15) > 1e-9 || math.Abs(got["c"]-25) > 1e-9 {
		t.Fatalf("damped asks %v", got)
	}
	if got := flowDamp(map[NodeID]float64{"b": 30}, nil, 0.5); got["b"] != 30 {
		t.Fatalf("first asks damped: %v", got)
	}
}

// TestFlowNoSwap checks that a node does not ask a neighbour that asks it,
// and asks the others.
func TestFlowNoSwap(t *testing.T) {
	s := Snapshot{
		Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
		Functions: []Function{{Name: "f", Deployed: true, Capacity: 100, Offered: 150, Forecast: 150}},
		Neighbours: []Neighbour{
			{ID: "b", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 200, Offered: 50}},
				Data: json.RawMessage(`{"v": 1, "fns": {"f": {"load": 50, "asks": {"a": 20}}}}`)}},
			{ID: "c", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 200}},
				Data: json.RawMessage(`{"v": 1}`)}},
		},
	}
	d, err := (&Flow{}).Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	data, ok := decodeFlowData(d.Announce.Data)
	if !ok {
		t.Fatalf("data %s", d.Announce.Data)
	}
	asks := data.Fns["f"].Asks
	if asks["b"] != 0 || asks["c"] <= 0 {
		t.Fatalf("asks %v: want c asked and b, which asks a, not", asks)
	}
}

// TestFlowPlansForObserved checks that a forecast below the rate just
// observed does not lower the plan: the decision is the one for a
// forecast equal to the observed rate.
func TestFlowPlansForObserved(t *testing.T) {
	snap := func(forecast float64) Snapshot {
		return Snapshot{
			Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
			Functions: []Function{{Name: "f", Deployed: true, Capacity: 200, Offered: 250, Forecast: forecast}},
			Neighbours: []Neighbour{
				{ID: "b", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 450}}}},
			},
		}
	}
	low, err := (&Flow{}).Decide(snap(100))
	if err != nil {
		t.Fatal(err)
	}
	same, err := (&Flow{}).Decide(snap(250))
	if err != nil {
		t.Fatal(err)
	}
	// The routes and the asks are the same (the generic announcement
	// reports the forecast as it is).
	if !slices.EqualFunc(low.Routes, same.Routes, Route.Equal) || !bytes.Equal(low.Announce.Data, same.Announce.Data) {
		t.Fatalf("forecast 100 for 250 observed: %+v %s\nforecast 250: %+v %s", low.Routes, low.Announce.Data, same.Routes, same.Announce.Data)
	}
	if r, _ := low.Route("f"); r.Forwarded() == 0 {
		t.Fatalf("250 req/s for a capacity of 200 and a free neighbour: nothing forwarded (%+v)", r)
	}
	higher, err := (&Flow{}).Decide(snap(400))
	if err != nil {
		t.Fatal(err)
	}
	if slices.EqualFunc(higher.Routes, same.Routes, Route.Equal) {
		t.Fatal("a forecast above the observed rate is ignored")
	}
}

// TestFlowRejectsOnlyUnderPressure checks that load the plan cannot place
// is rejected in advance only under pressure: a node above its plan by
// 16% or 45% of its capacity (below the pressure threshold, 60%) tries
// everything locally, where LocalLimit overflows what there is no room for
// (an average forecast of a load that moves within the period would
// otherwise reject requests that the queue could have served), while a
// node at twice its capacity that can forward rejects at the edge. One
// with nowhere to forward tries everything locally too, and its
// LocalLimit holds to the plan (ShedUtilization of the capacity): a rate
// limit sheds only the arrivals above the plan.
func TestFlowRejectsOnlyUnderPressure(t *testing.T) {
	full := Neighbour{ID: "b", Announcement: Announcement{
		Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Offered: 200}},
		Grants:    []Grant{{To: "a", Function: "f", Rate: 5}},
		Data:      json.RawMessage(`{"v": 1, "fns": {"f": {"load": 99}}}`),
	}}
	decide := func(offered float64, nbs ...Neighbour) Route {
		t.Helper()
		s := Snapshot{
			Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
			Functions:  []Function{{Name: "f", Deployed: true, Capacity: 100, Concurrency: 4, Offered: offered, Forecast: offered}},
			Neighbours: nbs,
		}
		d, err := (&Flow{}).Decide(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Validate(s); err != nil {
			t.Fatal(err)
		}
		r, _ := d.Route("f")
		return r
	}
	for _, offered := range []float64{115, 144} {
		if r := decide(offered); r.Reject != 0 || r.Local != 1 || r.LocalLimit < 99 {
			t.Errorf("offered %v for a capacity of 100, no pressure: route %+v, want everything tried locally, limited to the plan", offered, r)
		}
	}
	if r := decide(200, full); r.Reject < 0.4 || r.Forwarded() == 0 {
		t.Errorf("twice the capacity, full pressure, a full neighbour that granted a little: route %+v, want some forwarded and about half rejected at the edge", r)
	}
	if r, plan := decide(200), 100*DefaultShedUtilization; r.Reject != 0 || r.Local != 1 || r.LocalLimit < plan-5 || r.LocalLimit > plan+1 {
		t.Errorf("twice the capacity, full pressure, nowhere to forward: route %+v, want everything tried locally, limited to the plan (%v)", r, plan)
	}
}

// TestFlowOwnSurgeTakesAdvanceGrants checks that what a node grants in
// advance (to a neighbour without the function, which may need it) is not
// held back from its own users: their LocalLimit is the whole planned
// capacity not granted on request, so a surge of its own users is served
// until the next decision instead of rejected (the queue cap bounds what
// it costs), while the advance grant is still announced.
func TestFlowOwnSurgeTakesAdvanceGrants(t *testing.T) {
	s := Snapshot{
		Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
		Functions: []Function{{Name: "f", Deployed: true, Capacity: 100, Concurrency: 4, Offered: 20, Forecast: 20}},
		Neighbours: []Neighbour{{ID: "b", Announcement: Announcement{
			Functions: []FunctionState{{Name: "f", Offered: 10}},
		}}},
	}
	d, err := (&Flow{}).Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := d.Route("f")
	if g := d.Announce.GrantTo("b", "f"); g <= 0 {
		t.Fatalf("no advance grant to a neighbour without the function (announce %+v)", d.Announce)
	}
	if want := 100 * DefaultFlowUtilization; r.LocalLimit < want-1e-9 {
		t.Errorf("LocalLimit %v with 20 req/s of own load: want the whole plan, %v (the advance grant held back from own users)", r.LocalLimit, want)
	}
}

// flowDecide returns the decision of a default Flow for s, validated.
func flowDecide(t *testing.T, s Snapshot) Decision {
	t.Helper()
	d, err := (&Flow{}).Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(s); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFlowOutAsks checks the swap rule between two nodes that see each
// other's demand: a node asked by a neighbour that has room by its own
// demand, while its own demand exceeds its plan (here because a third node
// asked it for more than it has), asks that neighbour instead and grants
// it nothing; the neighbour, seeing that, yields and grants. A node whose
// demand fits its plan keeps granting the ask, and a neighbour that
// announces no demand is never out-asked.
func TestFlowOutAsks(t *testing.T) {
	n3 := func(asked string) Neighbour {
		return Neighbour{ID: "n3", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 150, Offered: 170}},
			Data: json.RawMessage(`{"v": 1, "fns": {"f": {"load": 148, "demand": 250, "asks": {"n4": ` + asked + `}}}}`)}}
	}
	n5 := func(data string) Neighbour {
		return Neighbour{ID: "n5", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Offered: 50}},
			Data: json.RawMessage(data)}}
	}
	const n5Data = `{"v": 1, "fns": {"f": {"load": 76, "demand": 78, "asks": {"n4": 20}}}}`
	n4 := func(nbs ...Neighbour) Snapshot {
		return Snapshot{Self: "n4", Now: time.Unix(0, 0), Period: 5 * time.Second,
			Functions:  []Function{{Name: "f", Deployed: true, Capacity: 60, Offered: 20, Forecast: 20}},
			Neighbours: nbs}
	}
	d := flowDecide(t, n4(n3("100"), n5(n5Data)))
	data, _ := decodeFlowData(d.Announce.Data)
	if asks := data.Fns["f"].Asks; asks["n5"] <= 0 || asks["n3"] != 0 {
		t.Errorf("asked 100 by n3 with 40 free: asks %v, want n5 (which asks for balance only) asked and n3 not", asks)
	}
	if g := d.Announce.GrantTo("n5", "f"); g != 0 {
		t.Errorf("granted n5 %v while asking it", g)
	}
	// n4 plans 59.4 req/s and passes its own 20 on to n5: nearly all of
	// it goes to n3 (n5's declined ask no longer shares it).
	if g := d.Announce.GrantTo("n3", "f"); g < 50 {
		t.Errorf("granted n3 %v, want nearly all the capacity its own users do not need", g)
	}
	// The demand announced counts n5's ask, declined or not, so that n5
	// does not find n4 below its plan by subtracting that ask twice.
	if dm := data.Fns["f"].Demand; dm != 140 {
		t.Errorf("announced demand %v, want 140 (own 20, n3's 100, n5's 20)", dm)
	}

	// n5's next decision: it yields to n4 and grants it.
	next := Snapshot{Self: "n5", Now: time.Unix(5, 0), Period: 5 * time.Second,
		Functions: []Function{{Name: "f", Deployed: true, Capacity: 100, Offered: 50, Forecast: 50}},
		Neighbours: []Neighbour{
			{ID: "n0", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Offered: 28}},
				Data: json.RawMessage(`{"v": 1, "fns": {"f": {"demand": 28, "asks": {"n5": 28}}}}`)}},
			{ID: "n4", Announcement: d.Announce},
		},
		Prev: Decision{Announce: Announcement{Data: json.RawMessage(n5Data)}},
	}
	d5 := flowDecide(t, next)
	data5, _ := decodeFlowData(d5.Announce.Data)
	if asks := data5.Fns["f"].Asks; asks["n4"] != 0 {
		t.Errorf("n5, out-asked by n4: asks %v, want n4 no longer asked", asks)
	}
	if g := d5.Announce.GrantTo("n4", "f"); g <= 0 {
		t.Errorf("n5 grants n4 nothing (%+v)", d5.Announce.Grants)
	}

	// n5's announced demand counts what n4 asked of it last period: n4
	// takes that part out before comparing, and still out-asks.
	again := n4(n3("100"), n5(`{"v": 1, "fns": {"f": {"load": 90, "demand": 108, "asks": {"n4": 20}}}}`))
	again.Prev.Announce.Data = json.RawMessage(`{"v": 1, "fns": {"f": {"asks": {"n5": 30}}}}`)
	d = flowDecide(t, again)
	data, _ = decodeFlowData(d.Announce.Data)
	if asks := data.Fns["f"].Asks; asks["n5"] <= 0 {
		t.Errorf("n5's demand 108 of which 30 asked by n4: asks %v, want n5 still asked", asks)
	}
	if g := d.Announce.GrantTo("n5", "f"); g != 0 {
		t.Errorf("n5's demand 108 of which 30 asked by n4: granted n5 %v, want its ask declined", g)
	}

	for name, s := range map[string]Snapshot{
		"demand within the plan":     n4(n3("10"), n5(n5Data)),
		"a neighbour with no demand": n4(n3("100"), n5(`{"v": 1, "fns": {"f": {"load": 76, "asks": {"n4": 20}}}}`)),
	} {
		d := flowDecide(t, s)
		data, _ := decodeFlowData(d.Announce.Data)
		if asks := data.Fns["f"].Asks; asks["n5"] != 0 {
			t.Errorf("%s: asks %v, want n5, which asks n4, not asked", name, asks)
		}
		if g := d.Announce.GrantTo("n5", "f"); g <= 0 {
			t.Errorf("%s: n5's ask not granted (%+v)", name, d.Announce.Grants)
		}
	}
}

// TestFlowAdmitsUnusedCapacity checks that, short of full pressure, a node
// admits every neighbour up to the planned capacity its own users do not
// take, whatever it granted: grants are what a neighbour may count on, not
// what it may send, and a neighbour that starts forwarding on its own
// (before its ask arrives, or while this node's grants to others idle) is
// not refused. Under full pressure the limits hold to the grants.
func TestFlowAdmitsUnusedCapacity(t *testing.T) {
	nb := func(id NodeID, offered float64, data string) Neighbour {
		n := Neighbour{ID: id, Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Offered: offered}}}}
		if data != "" {
			n.Announcement.Data = json.RawMessage(data)
		}
		return n
	}
	// 99 planned, 20 for its own users: 79 unused.
	const unused = 100*DefaultFlowUtilization - 20
	// b and c, full, ask a for 300 each: a is under full pressure.
	asking := `{"v": 1, "fns": {"f": {"load": 99, "asks": {"a": 300}, "demand": 400}}}`
	tests := []struct {
		name    string
		offered float64 // this node's users
		nbs     []Neighbour
		want    map[NodeID]float64 // admission limits; -1: at least the advance grant; -2: the grant's
	}{
		{"nothing granted", 20, []Neighbour{nb("b", 30, ""), nb("c", 10, "")}, map[NodeID]float64{"b": unused, "c": unused}},
		{"b granted half in advance, c nothing", 20, []Neighbour{nb("b", 60, ""), nb("c", 10, "")}, map[NodeID]float64{"b": -1, "c": unused}},
		{"full pressure: the grants only", 20, []Neighbour{nb("b", 400, asking), nb("c", 400, asking), nb("d", 10, "")},
			map[NodeID]float64{"b": -2, "c": -2, "d": 0}},
	}
	for _, tt := range tests {
		s := Snapshot{
			Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
			Functions:  []Function{{Name: "f", Deployed: true, Capacity: 100, Offered: tt.offered, Forecast: tt.offered}},
			Neighbours: tt.nbs,
		}
		d := flowDecide(t, s)
		r, _ := d.Route("f")
		got := map[NodeID]float64{}
		for _, l := range r.Admit {
			got[l.Node] = l.Rate
		}
		if len(got) != len(tt.nbs) {
			t.Errorf("%s: admission limits %+v, want one per neighbour", tt.name, r.Admit)
		}
		for id, want := range tt.want {
			if want == -2 {
				g := d.Announce.GrantTo(id, "f")
				want = g + poissonAllowance(g)
			}
			switch {
			case want < 0 && got[id] < unused*flowPreGrant:
				t.Errorf("%s: admits %s up to %v, below its advance grant %v", tt.name, id, got[id], unused*flowPreGrant)
			case want >= 0 && math.Abs(got[id]-want) > 1e-9:
				t.Errorf("%s: admits %s up to %v, want %v", tt.name, id, got[id], want)
			}
		}
	}
}

// TestFlowNowhereToOverflow checks a node that granted a neighbour
// capacity and has nowhere to forward (no neighbour granted it anything or
// has room, as it last heard): its own users may also take the capacity
// it granted (its LocalLimit is its whole plan), and what exceeds that
// takes a path of negligible weight to the neighbours running the
// function, whose admission limits decide, instead of being rejected
// here. With a neighbour with room, it keeps its LocalLimit to its own
// plan and the capacity not granted, and overflows there.
func TestFlowNowhereToOverflow(t *testing.T) {
	// b is full and asks a for 60.
	b := Neighbour{ID: "b", RTT: 10 * time.Millisecond, Announcement: Announcement{
		Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Offered: 160}},
		Data:      json.RawMessage(`{"v": 1, "fns": {"f": {"load": 99, "asks": {"a": 60}, "demand": 160}}}`)}}
	c := Neighbour{ID: "c", RTT: 10 * time.Millisecond, Announcement: Announcement{
		Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Offered: 10}}}}
	s := Snapshot{
		Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
		Functions:  []Function{{Name: "f", Deployed: true, Capacity: 100, Offered: 20, Forecast: 20}},
		Neighbours: []Neighbour{b},
	}
	d := flowDecide(t, s)
	r, _ := d.Route("f")
	if g := d.Announce.GrantTo("b", "f"); g < 59 {
		t.Fatalf("grants b %v, want its ask of 60", g)
	}
	if planned := 100 * DefaultFlowUtilization; math.Abs(r.LocalLimit-planned) > 1e-9 {
		t.Errorf("nowhere to overflow: LocalLimit %v, want the whole plan %v", r.LocalLimit, planned)
	}
	if len(r.Forward) != 1 || r.Forward[0].Node != "b" || r.Forward[0].Share > 1e-5 {
		t.Errorf("nowhere to overflow: forwarding %+v, want a path of negligible weight to b", r.Forward)
	}
	// Somewhere to forward (c): no overflow path to b, and b's grant
	// stays out of a's LocalLimit.
	toCOnly := func(why string) {
		t.Helper()
		s.Neighbours = []Neighbour{b, c}
		r, _ := flowDecide(t, s).Route("f")
		if r.LocalLimit > 100*DefaultFlowUtilization-59 {
			t.Errorf("%s: LocalLimit %v, want at most the plan less b's grant", why, r.LocalLimit)
		}
		for _, sh := range r.Forward {
			if sh.Node != "c" {
				t.Errorf("%s: forwarding %+v, want c only", why, r.Forward)
			}
		}
	}
	toCOnly("c has room")
	// A node that does not run f keeps no overflow path: it forwards
	// within grants only, and with none (b and c full) it rejects at the
	// edge rather than send every request to be refused.
	full := Neighbour{ID: "d", RTT: 10 * time.Millisecond, Announcement: Announcement{
		Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Offered: 150}},
		Data:      json.RawMessage(`{"v": 1, "fns": {"f": {"load": 100, "demand": 150}}}`)}}
	remote := s
	remote.Functions = []Function{{Name: "f", Offered: 20, Forecast: 20}}
	remote.Neighbours = []Neighbour{full}
	if r, _ := flowDecide(t, remote).Route("f"); len(r.Forward) != 0 || r.Reject != 1 {
		t.Errorf("f not deployed, its runner full: route %+v, want every request rejected here", r)
	}
	// c is full but grants a 10: still somewhere to forward.
	c.Announcement.Functions[0].Offered = 100
	c.Announcement.Data = json.RawMessage(`{"v": 1, "fns": {"f": {"load": 99}}}`)
	c.Announcement.Grants = []Grant{{To: "a", Function: "f", Rate: 10}}
	toCOnly("c granted 10")
}

// TestFlowKeepsOverflowPath checks that a node whose own load fits its
// plan still forwards a trickle to the neighbours with room: requests
// above its LocalLimit overflow to the forwarding shares, so without one
// a surge within the period would be rejected while a neighbour idles.
func TestFlowKeepsOverflowPath(t *testing.T) {
	s := Snapshot{
		Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
		Functions: []Function{{Name: "f", Deployed: true, Capacity: 100, Offered: 20, Forecast: 20}},
		Neighbours: []Neighbour{
			{ID: "b", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Offered: 10}}}},
			{ID: "c", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Offered: 100}},
				Data: json.RawMessage(`{"v": 1, "fns": {"f": {"load": 99}}}`)}},
		},
	}
	r, _ := flowDecide(t, s).Route("f")
	shares := map[NodeID]float64{}
	for _, sh := range r.Forward {
		shares[sh.Node] = sh.Share
	}
	if shares["b"] <= 0 || shares["b"] > 2*flowTrickle {
		t.Errorf("forwarding shares %v: want a trickle (at most %v) to b, which has room", shares, 2*flowTrickle)
	}
	if shares["c"] != 0 {
		t.Errorf("forwarding shares %v: c is full", shares)
	}
	if r.Local < 1-2*flowTrickle {
		t.Errorf("local share %v: want all but the trickle", r.Local)
	}
	// Once c grants capacity, the trickle goes there only.
	s.Neighbours[1].Announcement.Grants = []Grant{{To: "a", Function: "f", Rate: 10}}
	r, _ = flowDecide(t, s).Route("f")
	clear(shares)
	for _, sh := range r.Forward {
		shares[sh.Node] = sh.Share
	}
	if shares["c"] <= 0 || shares["b"] != 0 {
		t.Errorf("c granted 10: forwarding shares %v, want a trickle to c only", shares)
	}
}
