package strategy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseAdvice(t *testing.T) {
	tests := []struct {
		in, err string
	}{
		{`{"routes": {"f": {"local": 0.5, "reject": 0.5}}}`, ""},
		{`{"routes": {"f": {"local": 0.2, "reject": 0, "forward": {"b": 0.8}}, "g": {"local": 0, "reject": 1}}}`, ""},
		{`{"routes": {}}`, ""},
		{`{"routes": {"f": {"local": 0.5, "reject": 0.4999}}}`, ""}, // within tolerance
		{`{}`, "routes: required"},
		{`{"routes": {"f": {"local": 0.5, "reject": 0.4}}}`, "sum to"},
		{`{"routes": {"f": {"local": 1.5, "reject": -0.5}}}`, "not in [0, 1]"},
		{`{"routes": {"f": {"local": 0, "reject": 0, "forward": {"b": 2}}}}`, "routes.f.forward.b"},
		{`{"routes": {"f": {"local": 0, "reject": 0, "forward": {"": 1}}}}`, "empty node ID"},
		{`{"routes": {"bad name!": {"local": 1, "reject": 0}}}`, "not allowed"},
		{`{"routes": {"f": {"local": 1, "reject": 0, "limit": 3}}}`, "unknown field"},
		{`{"routes": {"f": {"local": 1, "reject": 0}}} {}`, "trailing data"},
		{`{"routes": {"f": {"local": "1", "reject": 0}}}`, "cannot unmarshal"},
		{`[1, 2]`, "cannot unmarshal"},
		{``, "EOF"},
	}
	for _, tt := range tests {
		_, err := ParseAdvice([]byte(tt.in))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseAdvice(%s): %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseAdvice(%s) = %v, want an error containing %q", tt.in, err, tt.err)
		case err != nil && !errors.Is(err, ErrInvalidAdvice):
			t.Errorf("ParseAdvice(%s): %v does not wrap ErrInvalidAdvice", tt.in, err)
		}
	}
}

// FuzzParseAdvice checks that ParseAdvice never panics and that advice it
// accepts has valid shares and survives a round trip.
func FuzzParseAdvice(f *testing.F) {
	for _, s := range []string{
		`{"routes": {"f": {"local": 0.5, "reject": 0.5}}}`,
		`{"routes": {"f": {"local": 0.2, "reject": 0, "forward": {"b": 0.8}}}}`,
		`{"routes": {}}`, `{}`, `null`, `{"routes": {"f": {"local": 1e308, "reject": -1e308}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAdvice(data)
		if err != nil {
			return
		}
		for fn, r := range a.Routes {
			sum := r.Local + r.Reject
			for _, v := range r.Forward {
				sum += v
			}
			if ValidName(fn) != nil || !inUnit(r.Local) || !inUnit(r.Reject) || sum < 1-AdviceTolerance || sum > 1+AdviceTolerance {
				t.Fatalf("accepted bad advice %s", data)
			}
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseAdvice(b); err != nil {
			t.Fatalf("re-encoded advice %s rejected: %v", b, err)
		}
	})
}

func externalSnapshot(advice string) Snapshot {
	s := Snapshot{
		Self: "a", Now: time.Unix(0, 0), Period: time.Second,
		Functions: []Function{{Name: "f", Deployed: true, Capacity: 100, Offered: 120, Forecast: 120}, {Name: "g", Offered: 10, Forecast: 10}},
		Neighbours: []Neighbour{{ID: "b", Announcement: Announcement{Functions: []FunctionState{
			{Name: "f", Deployed: true, Capacity: 100}, {Name: "g", Deployed: true, Capacity: 50}}}}},
		Prev: Decision{Routes: []Route{
			{Function: "f", Local: 0.7, Forward: []Share{{Node: "b", Share: 0.2}, {Node: "gone", Share: 0.1}}, LocalLimit: 90},
		}},
	}
	if advice != "" {
		s.Advice = json.RawMessage(advice)
	}
	return s
}

func TestExternal(t *testing.T) {
	tests := []struct {
		name, advice string
		want         []Route
	}{
		{"applies the advice", `{"routes": {"f": {"local": 0.5, "reject": 0.1, "forward": {"b": 0.4}}, "g": {"local": 0, "reject": 0, "forward": {"b": 1}}}}`,
			[]Route{{Function: "f", Local: 0.5, Reject: 0.1, Forward: []Share{{Node: "b", Share: 0.4}}}, {Function: "g", Forward: []Share{{Node: "b", Share: 1}}}}},
		{"no advice keeps the decision in force, minus gone neighbours", "",
			[]Route{{Function: "f", Local: 0.7 / 0.9, Forward: []Share{{Node: "b", Share: 0.2 / 0.9}}, LocalLimit: 90}}},
		{"malformed advice is ignored", `{"routes": 3}`,
			[]Route{{Function: "f", Local: 0.7 / 0.9, Forward: []Share{{Node: "b", Share: 0.2 / 0.9}}, LocalLimit: 90}}},
		{"advice to an unknown neighbour is ignored as a whole", `{"routes": {"f": {"local": 0.5, "reject": 0, "forward": {"z": 0.5}}, "g": {"local": 0, "reject": 1}}}`,
			[]Route{{Function: "f", Local: 0.7 / 0.9, Forward: []Share{{Node: "b", Share: 0.2 / 0.9}}, LocalLimit: 90}}},
		{"a local share for an undeployed function is invalid", `{"routes": {"g": {"local": 1, "reject": 0}}}`,
			[]Route{{Function: "f", Local: 0.7 / 0.9, Forward: []Share{{Node: "b", Share: 0.2 / 0.9}}, LocalLimit: 90}}},
		{"functions left out keep their route", `{"routes": {"g": {"local": 0, "reject": 1}}}`,
			[]Route{{Function: "f", Local: 0.7 / 0.9, Forward: []Share{{Node: "b", Share: 0.2 / 0.9}}, LocalLimit: 90}, {Function: "g", Reject: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := externalSnapshot(tt.advice)
			d, err := External{}.Decide(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Validate(s); err != nil {
				t.Fatal(err)
			}
			if len(d.Routes) != len(tt.want) {
				t.Fatalf("routes %+v, want %+v", d.Routes, tt.want)
			}
			for i, r := range d.Routes {
				w := tt.want[i]
				if r.Function != w.Function || !near(r.Local, w.Local) || !near(r.Reject, w.Reject) || r.LocalLimit != w.LocalLimit || len(r.Forward) != len(w.Forward) {
					t.Fatalf("route %+v, want %+v", r, w)
				}
				for j, sh := range r.Forward {
					if sh.Node != w.Forward[j].Node || !near(sh.Share, w.Forward[j].Share) {
						t.Fatalf("route %+v, want %+v", r, w)
					}
				}
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
