package strategy

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func rulesSnapshot() Snapshot {
	return Snapshot{Self: "a", Period: time.Second,
		Functions:  []Function{{Name: "f", Deployed: true}, {Name: "g"}},
		Neighbours: []Neighbour{{ID: "b"}, {ID: "c"}}}
}

// TestDecisionRules: each rule of Decision.Validate rejects what it names,
// alone (every other rule holds), with its own message.
func TestDecisionRules(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		want  string // "" when valid
	}{
		{"valid", Route{Function: "f", Local: 0.5, Forward: []Share{{"b", 0.25}, {"c", 0.25}}, Admit: []Limit{{"b", 1}, {"c", 2}}}, ""},
		{"forward unsorted", Route{Function: "f", Local: 0.5, Forward: []Share{{"c", 0.25}, {"b", 0.25}}}, "forward shares not sorted or duplicated"},
		{"forward duplicated", Route{Function: "f", Local: 0.5, Forward: []Share{{"b", 0.25}, {"b", 0.25}}}, "forward shares not sorted or duplicated"},
		{"forward share above 1", Route{Function: "f", Forward: []Share{{"b", 1.5}, {"c", -0.5}}}, "forward share 1.5 to \"b\" not in [0, 1]"},
		{"forward share NaN", Route{Function: "f", Local: 1, Forward: []Share{{"b", math.NaN()}}}, "not in [0, 1]"},
		{"sum short by twice the tolerance", Route{Function: "f", Local: 0.5, Reject: 0.5 - 2*ShareTolerance}, "shares sum to"},
		{"sum short within the tolerance", Route{Function: "f", Local: 0.5, Reject: 0.5 - ShareTolerance/2}, ""},
		{"admission unsorted", Route{Function: "f", Local: 1, Admit: []Limit{{"c", 1}, {"b", 1}}}, "admission limits not sorted or duplicated"},
		{"admission duplicated", Route{Function: "f", Local: 1, Admit: []Limit{{"b", 1}, {"b", 2}}}, "admission limits not sorted or duplicated"},
		{"admission for a stranger", Route{Function: "f", Local: 1, Admit: []Limit{{"z", 1}}}, "not a neighbour"},
		{"admission negative", Route{Function: "f", Local: 1, Admit: []Limit{{"b", -1}}}, "not a finite non-negative number"},
		{"local for a function not deployed", Route{Function: "g", Local: 1}, "not deployed here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decision{Routes: []Route{tt.route}}.Validate(rulesSnapshot())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidDecision) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidDecision with %q", err, tt.want)
			}
		})
	}
}

// TestRouteEqualEachField: two routes that differ in one field are not
// equal, whichever the field; decisions that differ only in their
// announcement are not equal.
func TestRouteEqualEachField(t *testing.T) {
	base := Route{Function: "f", Local: 0.5, Reject: 0.25, LocalLimit: 3, Forward: []Share{{"b", 0.25}}, Admit: []Limit{{"b", 1}}}
	if !base.Equal(base) {
		t.Fatal("a route differs from itself")
	}
	for name, change := range map[string]func(r *Route){
		"Function":   func(r *Route) { r.Function = "g" },
		"Local":      func(r *Route) { r.Local = 0.4 },
		"Reject":     func(r *Route) { r.Reject = 0.35 },
		"LocalLimit": func(r *Route) { r.LocalLimit = 4 },
		"Forward":    func(r *Route) { r.Forward = []Share{{"c", 0.25}} },
		"Admit":      func(r *Route) { r.Admit = []Limit{{"b", 2}} },
	} {
		o := base
		change(&o)
		if base.Equal(o) || o.Equal(base) {
			t.Errorf("routes differing in %s are equal", name)
		}
	}
	d := Decision{Routes: []Route{base}}
	o := Decision{Routes: []Route{base}, Announce: Announcement{Grants: []Grant{{To: "b", Function: "f", Rate: 1}}}}
	if d.Equal(o) {
		t.Error("decisions differing in their announcement are equal")
	}
}

// TestForwarded: the forwarded share is the sum of the forward shares.
func TestForwarded(t *testing.T) {
	r := Route{Forward: []Share{{"b", 0.25}, {"c", 0.5}}}
	if got := r.Forwarded(); got != 0.75 {
		t.Errorf("Forwarded() = %v, want 0.75", got)
	}
}

// TestNewRouteBadForwardWeight: a negative, NaN or infinite forward weight
// makes the route reject everything, wherever it sits among the weights.
func TestNewRouteBadForwardWeight(t *testing.T) {
	for _, fw := range []map[NodeID]float64{
		{"b": -1},
		{"b": math.NaN(), "c": 1},
		{"b": 1, "c": math.Inf(1)},
		{"b": 1, "c": -0.5},
	} {
		r := NewRoute("f", 1, 0, fw)
		if r.Reject != 1 || r.Local != 0 || len(r.Forward) != 0 {
			t.Errorf("NewRoute(f, 1, 0, %v) = %+v, want a rejection", fw, r)
		}
	}
}

// TestSortRoutesSortsShares: SortRoutes sorts every route's Forward and
// Admit by node.
func TestSortRoutesSortsShares(t *testing.T) {
	routes := []Route{
		{Function: "g", Forward: []Share{{"c", 0.5}, {"b", 0.5}}, Admit: []Limit{{"d", 1}, {"b", 2}}},
		{Function: "f"},
	}
	SortRoutes(routes)
	r := routes[1]
	if routes[0].Function != "f" || r.Forward[0].Node != "b" || r.Admit[0].Node != "b" || r.Admit[1].Node != "d" {
		t.Errorf("sorted %+v", routes)
	}
}
