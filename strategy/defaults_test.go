package strategy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAdviceSizeLimit: advice of exactly MaxAdviceLen bytes is parsed, one
// byte more is refused before decoding.
func TestAdviceSizeLimit(t *testing.T) {
	pad := func(n int) []byte {
		head, tail := `{"routes":{`, `}}`
		return []byte(head + strings.Repeat(" ", n-len(head)-len(tail)) + tail)
	}
	if _, err := ParseAdvice(pad(MaxAdviceLen)); err != nil {
		t.Errorf("advice of MaxAdviceLen bytes: %v", err)
	}
	if _, err := ParseAdvice(pad(MaxAdviceLen + 1)); !errors.Is(err, ErrInvalidAdvice) || !strings.Contains(err.Error(), "more than") {
		t.Errorf("advice over MaxAdviceLen: %v", err)
	}
}

// TestZeroRegistry: a zero Registry takes registrations, and lists its
// names sorted.
func TestZeroRegistry(t *testing.T) {
	var r Registry
	f := func(json.RawMessage) (Strategy, error) { return AllLocal{}, nil }
	for _, name := range []string{"delta", "alpha", "charlie", "bravo"} {
		if err := r.Register(name, "doc", f); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(r.Names(), ","); got != "alpha,bravo,charlie,delta" {
		t.Errorf("names %s, want sorted", got)
	}
}

// TestRecalcUtilization: 0 means the default utilization, and the bounds
// 0 and 1 are valid while values outside are not.
func TestRecalcUtilization(t *testing.T) {
	for _, u := range []float64{0, 0.5, 1} {
		if err := (&Recalc{Utilization: u}).Validate(); err != nil {
			t.Errorf("utilization %v: %v", u, err)
		}
	}
	for _, u := range []float64{-0.01, 1.01} {
		if err := (&Recalc{Utilization: u}).Validate(); err == nil {
			t.Errorf("utilization %v accepted", u)
		}
	}
	s := Snapshot{Self: "a", Period: time.Second,
		Functions:  []Function{{Name: "f", Deployed: true, Capacity: 100, Offered: 97, Forecast: 97}},
		Neighbours: []Neighbour{{ID: "b", Announcement: Announcement{Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 100, Spare: 100}}}}}}
	zero, err := (&Recalc{}).Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	def, err := (&Recalc{Utilization: DefaultUtilization}).Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	if !zero.Equal(def) {
		t.Errorf("utilization 0 decides\n%+v\nthe default decides\n%+v", zero, def)
	}
}

// TestStaticAloneServesLocally: with no neighbour running the function,
// Static serves all of it locally whatever its local share.
func TestStaticAloneServesLocally(t *testing.T) {
	s := Snapshot{Self: "a", Period: time.Second, Functions: []Function{{Name: "f", Deployed: true, Capacity: 10, Offered: 5}}}
	d, err := (&Static{LocalShare: 0.25}).Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := d.Route("f"); !ok || r.Local != 1 {
		t.Errorf("route %+v, want all local", r)
	}
}

// TestAdviceUnknownFunctionIgnoredWhole: advice that names a function the
// node does not know is ignored as a whole, its valid routes too: the route
// in force stays.
func TestAdviceUnknownFunctionIgnoredWhole(t *testing.T) {
	s := Snapshot{Self: "a", Period: time.Second,
		Functions: []Function{{Name: "f", Deployed: true, Capacity: 10}},
		Prev:      Decision{Routes: []Route{{Function: "f", Local: 1}}},
		Advice:    json.RawMessage(`{"routes":{"f":{"local":0,"reject":1},"zzz":{"local":0,"reject":1}}}`)}
	d, err := External{}.Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := d.Route("f"); !ok || r.Local != 1 || r.Reject != 0 {
		t.Errorf("route %+v, want the route in force (all local)", r)
	}
	s.Advice = json.RawMessage(`{"routes":{"f":{"local":0,"reject":1}}}`)
	d, err = External{}.Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := d.Route("f"); r.Reject != 1 {
		t.Errorf("valid advice not applied: %+v", r)
	}
}
