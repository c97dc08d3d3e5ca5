package strategy

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// testSnapshot is a small valid snapshot: node a runs f, neighbours b and c
// (c also runs f, b only g).
func testSnapshot() Snapshot {
	return Snapshot{
		Self: "a", Now: time.Unix(100, 0), Period: 5 * time.Second, Seed: 1,
		Functions: []Function{
			{Name: "f", Deployed: true, Capacity: 100, Offered: 150, Forecast: 150},
			{Name: "g", Offered: 10, Forecast: 10},
		},
		Neighbours: []Neighbour{
			{ID: "b", Age: time.Second, Announcement: Announcement{Functions: []FunctionState{{Name: "g", Deployed: true, Capacity: 50, Spare: 40}}}},
			{ID: "c", Age: time.Second, Announcement: Announcement{
				Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Spare: 80}},
				Grants:    []Grant{{To: "a", Function: "f", Rate: 40}},
			}},
		},
	}
}

func TestDecisionValidate(t *testing.T) {
	s := testSnapshot()
	ok := Decision{Routes: []Route{
		{Function: "f", Local: 0.6, Forward: []Share{{Node: "c", Share: 0.3}}, Reject: 0.1, LocalLimit: 95,
			Admit: []Limit{{Node: "b", Rate: 0}, {Node: "c", Rate: 10}}},
		{Function: "g", Forward: []Share{{Node: "b", Share: 1}}},
	}, Announce: Announcement{Grants: []Grant{{To: "c", Function: "f", Rate: 1}}}}
	if err := ok.Validate(s); err != nil {
		t.Fatalf("valid decision rejected: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(d *Decision)
		want   string
	}{
		{"unknown function", func(d *Decision) { d.Routes[1].Function = "h" }, `unknown function "h"`},
		{"unsorted routes", func(d *Decision) { d.Routes[0], d.Routes[1] = d.Routes[1], d.Routes[0] }, "not sorted"},
		{"duplicate route", func(d *Decision) { d.Routes[1] = d.Routes[0] }, "not sorted or duplicated"},
		{"sum below one", func(d *Decision) { d.Routes[0].Reject = 0 }, "shares sum to 0.899"},
		{"NaN share", func(d *Decision) { d.Routes[0].Local = math.NaN() }, "not in [0, 1]"},
		{"negative share", func(d *Decision) { d.Routes[0].Forward[0].Share = -0.3; d.Routes[0].Local = 1.2 }, "not in [0, 1]"},
		{"local share not deployed", func(d *Decision) { d.Routes[1].Local = 0.5; d.Routes[1].Forward[0].Share = 0.5 }, "not deployed here"},
		{"forward to stranger", func(d *Decision) { d.Routes[0].Forward[0].Node = "z" }, `"z", which is not a neighbour`},
		{"forward to self", func(d *Decision) { d.Routes[0].Forward[0].Node = "a" }, "not a neighbour"},
		{"infinite limit", func(d *Decision) { d.Routes[0].LocalLimit = math.Inf(1) }, "local limit"},
		{"negative admit", func(d *Decision) { d.Routes[0].Admit[1].Rate = -1 }, "admission limit -1"},
		{"admit stranger", func(d *Decision) { d.Routes[0].Admit[1].Node = "z" }, "admission limit for \"z\""},
		{"grant to stranger", func(d *Decision) { d.Announce.Grants[0].To = "z" }, "grant to \"z\""},
		{"bad grant rate", func(d *Decision) { d.Announce.Grants[0].Rate = math.NaN() }, "grant 0"},
		{"bad data", func(d *Decision) { d.Announce.Data = []byte("{") }, "not valid JSON"},
		// Each case below breaks exactly one rule (the shares still sum
		// to 1), so that dropping that rule alone lets it through.
		{"NaN reject", func(d *Decision) { d.Routes[0].Reject = math.NaN() }, "not in [0, 1]"},
		{"NaN forward share", func(d *Decision) { d.Routes[0].Forward[0].Share = math.NaN() }, "forward share NaN"},
		{"forward share above one", func(d *Decision) {
			d.Routes[0].Local, d.Routes[0].Reject = 0, 0
			d.Routes[0].Forward = []Share{{Node: "b", Share: -0.25}, {Node: "c", Share: 1.25}}
		}, "forward share -0.25"},
		{"forward share above one, others in range", func(d *Decision) {
			d.Routes[0].Local, d.Routes[0].Reject = 0, 0
			d.Routes[0].Forward = []Share{{Node: "b", Share: 1.25}, {Node: "c", Share: -0.25}}
		}, "forward share 1.25"},
		{"unsorted forward shares", func(d *Decision) {
			d.Routes[0].Forward = []Share{{Node: "c", Share: 0.15}, {Node: "b", Share: 0.15}}
		}, `forward shares not sorted or duplicated at "b"`},
		{"duplicate forward shares", func(d *Decision) {
			d.Routes[0].Forward = []Share{{Node: "c", Share: 0.15}, {Node: "c", Share: 0.15}}
		}, `forward shares not sorted or duplicated at "c"`},
		{"NaN local limit", func(d *Decision) { d.Routes[0].LocalLimit = math.NaN() }, "local limit NaN"},
		{"negative local limit", func(d *Decision) { d.Routes[0].LocalLimit = -1 }, "local limit -1"},
		{"unsorted admission limits", func(d *Decision) {
			a := d.Routes[0].Admit
			a[0], a[1] = a[1], a[0]
		}, `admission limits not sorted or duplicated at "b"`},
		{"duplicate admission limits", func(d *Decision) { d.Routes[0].Admit[0] = d.Routes[0].Admit[1] }, `admission limits not sorted or duplicated at "c"`},
		{"NaN admission limit", func(d *Decision) { d.Routes[0].Admit[0].Rate = math.NaN() }, "admission limit NaN"},
		{"infinite admission limit", func(d *Decision) { d.Routes[0].Admit[0].Rate = math.Inf(1) }, "admission limit +Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ok.Clone()
			tt.mutate(&d)
			err := d.Validate(s)
			if err == nil {
				t.Fatal("invalid decision accepted")
			}
			if !errors.Is(err, ErrInvalidDecision) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want ErrInvalidDecision mentioning %q", err, tt.want)
			}
		})
	}
}

func TestNewRoute(t *testing.T) {
	tests := []struct {
		name               string
		local, reject      float64
		fwd                map[NodeID]float64
		wantLocal, wantRej float64
		wantFwd            []Share
	}{
		{"normalised", 2, 1, map[NodeID]float64{"c": 1, "b": 0}, 0.5, 0.25, []Share{{"c", 0.25}}},
		{"sorted", 0, 0, map[NodeID]float64{"z": 1, "b": 3}, 0, 0, []Share{{"b", 0.75}, {"z", 0.25}}},
		{"all zero rejects", 0, 0, nil, 0, 1, nil},
		{"NaN rejects", math.NaN(), 1, nil, 0, 1, nil},
		{"negative rejects", 1, 0, map[NodeID]float64{"b": -1}, 0, 1, nil},
		{"infinite rejects", math.Inf(1), 0, nil, 0, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRoute("f", tt.local, tt.reject, tt.fwd)
			want := Route{Function: "f", Local: tt.wantLocal, Reject: tt.wantRej, Forward: tt.wantFwd}
			if !r.Equal(want) {
				t.Fatalf("got %+v, want %+v", r, want)
			}
		})
	}
}

func TestFunctionNewRoute(t *testing.T) {
	deployed := Function{Name: "f", Deployed: true}
	absent := Function{Name: "f"}
	zeros := map[NodeID]float64{"c": 0, "b": 0}
	tests := []struct {
		name          string
		f             Function
		local, reject float64
		fwd           map[NodeID]float64
		want          Route
	}{
		{"no load, deployed: local", deployed, 0, 0, zeros, Route{Function: "f", Local: 1}},
		{"no load, deployed, no neighbour: local", deployed, 0, 0, nil, Route{Function: "f", Local: 1}},
		{"no load, elsewhere: even over the candidates", absent, 0, 0, zeros, Route{Function: "f", Forward: []Share{{"b", 0.5}, {"c", 0.5}}}},
		{"no load, nowhere: reject", absent, 0, 0, nil, Route{Function: "f", Reject: 1}},
		{"weights: as NewRoute", deployed, 2, 1, map[NodeID]float64{"c": 1, "b": 0}, NewRoute("f", 2, 1, map[NodeID]float64{"c": 1})},
		{"only reject: rejects", deployed, 0, 3, zeros, Route{Function: "f", Reject: 1}},
		{"NaN rejects", deployed, math.NaN(), 0, nil, Route{Function: "f", Reject: 1}},
		{"negative rejects", deployed, 0, 0, map[NodeID]float64{"b": -1}, Route{Function: "f", Reject: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.f.NewRoute(tt.local, tt.reject, tt.fwd)
			if !r.Equal(tt.want) {
				t.Fatalf("got %+v, want %+v", r, tt.want)
			}
		})
	}
}

func TestSnapshotValidate(t *testing.T) {
	if err := testSnapshot().Validate(); err != nil {
		t.Fatalf("valid snapshot rejected: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(s *Snapshot)
	}{
		{"no self", func(s *Snapshot) { s.Self = "" }},
		{"no period", func(s *Snapshot) { s.Period = 0 }},
		{"bad name", func(s *Snapshot) { s.Functions[0].Name = "a/b" }},
		{"unsorted functions", func(s *Snapshot) { s.Functions[0], s.Functions[1] = s.Functions[1], s.Functions[0] }},
		{"NaN rate", func(s *Snapshot) { s.Functions[0].Offered = math.NaN() }},
		{"negative capacity", func(s *Snapshot) { s.Functions[0].Capacity = -1 }},
		{"negative CPU", func(s *Snapshot) { s.Functions[0].CPU = -0.1 }},
		{"NaN memory", func(s *Snapshot) { s.Functions[1].Memory = math.NaN() }},
		{"announced infinite CPU", func(s *Snapshot) { s.Neighbours[1].Announcement.Functions[0].CPU = math.Inf(1) }},
		{"announced negative memory", func(s *Snapshot) { s.Neighbours[1].Announcement.Functions[0].Memory = -1 }},
		{"self as neighbour", func(s *Snapshot) { s.Neighbours[0].ID = "a" }},
		{"unsorted neighbours", func(s *Snapshot) { s.Neighbours[0], s.Neighbours[1] = s.Neighbours[1], s.Neighbours[0] }},
		{"negative age", func(s *Snapshot) { s.Neighbours[0].Age = -1 }},
		{"bad announcement", func(s *Snapshot) { s.Neighbours[1].Announcement.Functions[0].Spare = math.Inf(1) }},
		{"unsorted grants", func(s *Snapshot) {
			s.Neighbours[1].Announcement.Grants = []Grant{{To: "b", Function: "f"}, {To: "a", Function: "f"}}
		}},
		{"huge data", func(s *Snapshot) { s.Neighbours[0].Announcement.Data = make([]byte, MaxAnnouncementData+1) }},
		{"bad resources", func(s *Snapshot) { s.Resources.CPU = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSnapshot()
			tt.mutate(&s)
			if err := s.Validate(); !errors.Is(err, ErrInvalidSnapshot) {
				t.Fatalf("got %v, want ErrInvalidSnapshot", err)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"figlet", "a", "f.v2", "my_func-1", strings.Repeat("x", MaxNameLen)} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "-a", ".a", "a b", "a/b", "é", strings.Repeat("x", MaxNameLen+1), "a\n"} {
		if err := ValidName(name); err == nil {
			t.Errorf("ValidName(%q) accepted", name)
		}
	}
}

func TestSnapshotHelpers(t *testing.T) {
	s := testSnapshot()
	if f, ok := s.Function("f"); !ok || f.Capacity != 100 {
		t.Errorf("Function(f) = %+v, %v", f, ok)
	}
	if _, ok := s.Function("zz"); ok {
		t.Error("Function(zz) found")
	}
	if r := s.Running("f"); len(r) != 1 || r[0].ID != "c" {
		t.Errorf("Running(f) = %v, want [c]", r)
	}
	c, _ := s.Neighbour("c")
	if g := c.Announcement.GrantTo("a", "f"); g != 40 {
		t.Errorf("GrantTo = %v, want 40", g)
	}
	clone := s.Clone()
	clone.Neighbours[1].Announcement.Grants[0].Rate = 1
	clone.Functions[0].Offered = 1
	if !s.Equal(testSnapshot()) {
		t.Error("mutating a clone changed the original")
	}
	if s.Equal(clone) {
		t.Error("Equal ignores differences")
	}
}

func TestBaseAnnouncement(t *testing.T) {
	s := testSnapshot()
	s.Functions[0].CPU, s.Functions[0].Memory = 1.25, 3e8
	a := BaseAnnouncement(s)
	want := []FunctionState{
		{Name: "f", Deployed: true, Capacity: 100, Offered: 150, Spare: 0, Excess: 50, CPU: 1.25, Memory: 3e8},
		{Name: "g", Offered: 10, Excess: 10},
	}
	if len(a.Functions) != len(want) {
		t.Fatalf("got %+v, want %+v", a.Functions, want)
	}
	for i := range want {
		if a.Functions[i] != want[i] {
			t.Errorf("function %d: got %+v, want %+v", i, a.Functions[i], want[i])
		}
	}
}

func TestSafeDecide(t *testing.T) {
	s := testSnapshot()
	_, err := SafeDecide(Func(func(Snapshot) (Decision, error) { panic("boom") }), s)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic not turned into an error: %v", err)
	}
	// A strategy that scribbles on its input must not corrupt the caller's.
	_, _ = SafeDecide(Func(func(in Snapshot) (Decision, error) {
		in.Functions[0].Offered = -5
		in.Neighbours[0].Announcement.Functions[0].Spare = -5
		return Decision{}, nil
	}), s)
	if !s.Equal(testSnapshot()) {
		t.Fatal("SafeDecide let the strategy mutate the snapshot")
	}
}
