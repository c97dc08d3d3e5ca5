package strategy

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
)

// linearPredictor predicts CPU = 0.5 + Σ cost·rate.
type linearPredictor map[string]float64

func (lp linearPredictor) PredictResources(_ context.Context, rates map[string]float64) (forecast.Prediction, error) {
	cpu := 0.5
	for fn, r := range rates {
		c, ok := lp[fn]
		if !ok {
			return forecast.Prediction{}, errors.New("unknown function")
		}
		cpu += c * r
	}
	u := forecast.Usage{CPU: cpu}
	return forecast.Prediction{Mean: u, Upper: u}, nil
}

func nodeMarginSnapshot() Snapshot {
	return Snapshot{
		Self: "a", Now: time.Unix(0, 0), Period: 5 * time.Second,
		Functions: []Function{
			{Name: "f", Deployed: true, Capacity: 1000, Offered: 150, Forecast: 150, Local: 150},
			{Name: "g", Deployed: true, Capacity: 1000, Offered: 10, Forecast: 10, Local: 10},
		},
		Neighbours: []Neighbour{{ID: "b", Announcement: Announcement{
			Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 1000}},
			Data:      json.RawMessage(`{"v": 1, "margin": 30, "cost": {"f": 0.5}}`),
		}}},
	}
}

func TestResourceAdvisorAndNodeMargin(t *testing.T) {
	s := nodeMarginSnapshot()
	adv, err := ResourceAdvisor{Predictor: linearPredictor{"f": 0.01, "g": 0.02}}.Advise(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var ra ResourceAdvice
	if err := json.Unmarshal(adv, &ra); err != nil {
		t.Fatal(err)
	}
	// 0.5 + 150·0.01 + 10·0.02 = 2.2 cores; marginal costs 0.01 and 0.02.
	if math.Abs(ra.Usage.CPU-2.2) > 1e-9 || math.Abs(ra.Costs["f"].CPU-0.01) > 1e-9 || math.Abs(ra.Costs["g"].CPU-0.02) > 1e-9 {
		t.Fatalf("advice %+v", ra)
	}
	// With a 2-core limit the node is over (110%): it moves f to b until
	// it is under, or b's margin (30 points at 0.5 per req/s: 60 req/s)
	// runs out.
	s.Advice = adv
	nm := &NodeMargin{Limits: forecast.Usage{CPU: 2}}
	d, err := nm.Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(s); err != nil {
		t.Fatal(err)
	}
	r, _ := d.Route("f")
	moved := r.ForwardShare("b") * 150
	// 0.2 cores too many at 0.01 per req/s: about 20 req/s, moved in 1%
	// quanta.
	if moved < 19 || moved > 22 {
		t.Fatalf("moved %v req/s of f to b, want about 20 (route %+v)", moved, r)
	}
	var data nodeMarginData
	json.Unmarshal(d.Announce.Data, &data)
	if data.Margin != 0 || math.Abs(data.Cost["f"]-0.5) > 1e-9 {
		t.Fatalf("announced %+v: an overloaded node offers no margin; f costs 0.01/2 = 0.5%% per req/s", data)
	}
	// Without advice nor measurements, the capacities are the model: 160
	// req/s of 1000 is far from overload.
	s.Advice = nil
	d, _ = (&NodeMargin{}).Decide(s)
	if r, _ := d.Route("f"); r.Local != 1 {
		t.Fatalf("route %+v, want all local", r)
	}
	if _, err := (ResourceAdvisor{}).Advise(context.Background(), s); err == nil {
		t.Fatal("advisor without predictor accepted")
	}
}

func TestNodeMarginValidate(t *testing.T) {
	for _, nm := range []NodeMargin{{Quantum: 1}, {Quantum: -0.1}, {Utilization: 2}, {Limits: forecast.Usage{CPU: math.NaN()}}} {
		if err := nm.Validate(); err == nil {
			t.Errorf("%+v accepted", nm)
		}
	}
	if err := (&NodeMargin{}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestNodeMarginMeasuredUsage: functions a and b always ran at the same
// rate, so the node's usage cannot tell their costs apart and the resource
// model splits them (about 0.055 cores per req/s each, where a costs 0.1
// and b 0.01). When b's load jumps, the inferred cost says the node will
// be overloaded and NodeMargin forwards b to its neighbour; with the usage
// measured per function (cAdvisor) it knows b is cheap and keeps it all.
func TestNodeMarginMeasuredUsage(t *testing.T) {
	snap := func(ra, rb, fb, cpuA, cpuB float64) Snapshot {
		return Snapshot{
			Self: "x", Now: time.Unix(0, 0), Period: 5 * time.Second,
			Functions: []Function{
				{Name: "a", Deployed: true, Capacity: 1000, Offered: ra, Forecast: ra, Local: ra, CPU: cpuA},
				{Name: "b", Deployed: true, Capacity: 1000, Offered: rb, Forecast: fb, Local: rb, CPU: cpuB},
			},
			Neighbours: []Neighbour{{ID: "n", Announcement: Announcement{
				Functions: []FunctionState{{Name: "a", Deployed: true, Capacity: 1000}, {Name: "b", Deployed: true, Capacity: 1000}},
				Data:      json.RawMessage(`{"v": 1, "margin": 50, "cost": {"a": 1, "b": 1}}`),
			}}},
			// 4 cores: the default limit is 3.6.
			Resources: Resources{CPU: 0.2 + cpuA + cpuB, CPUCores: 4},
		}
	}
	run := func(measured bool) (Route, nodeMarginData) {
		nm := &NodeMargin{}
		for i := range 200 {
			r := 5 + float64(i%21)
			s := snap(r, r, r, 0.01+0.1*r, 0.01+0.01*r)
			if !measured {
				s.Resources.CPU = 0.2 + 0.02 + 0.11*r
				s.Functions[0].CPU, s.Functions[1].CPU = 0, 0
			}
			if _, err := nm.Decide(s); err != nil {
				t.Fatal(err)
			}
		}
		// b's users will send 100 req/s instead of 20.
		s := snap(20, 20, 100, 2.01, 0.21)
		if !measured {
			s.Functions[0].CPU, s.Functions[1].CPU = 0, 0
		}
		d, err := nm.Decide(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Validate(s); err != nil {
			t.Fatal(err)
		}
		r, _ := d.Route("b")
		var data nodeMarginData
		if err := json.Unmarshal(d.Announce.Data, &data); err != nil {
			t.Fatal(err)
		}
		return r, data
	}
	inferred, di := run(false)
	measured, dm := run(true)
	// Inferred: 2.42 + 80·0.055 = 6.8 cores against 3.6. The node moves
	// 1% quanta of a and b in turn to n until n's margin (50 points, at
	// the 1 point per req/s n announces) is used up: 5/6 of it b's.
	if fwd := inferred.ForwardShare("n") * 100; fwd < 38 || fwd > 45 {
		t.Errorf("with inferred costs %.1f req/s of b forwarded, want about 42 (route %+v, announced %+v)", fwd, inferred, di)
	}
	// Measured: 2.42 + 80·0.01 = 3.2 cores, under the limit.
	if measured.Local != 1 {
		t.Errorf("with measured costs b's route is %+v, want all local (announced %+v)", measured, dm)
	}
	if c := dm.Cost["b"]; math.Abs(c-100*0.01/3.6) > 0.02 {
		t.Errorf("announced cost of b %v points per req/s, want %v", c, 100*0.01/3.6)
	}
	if c := dm.Cost["a"]; math.Abs(c-100*0.1/3.6) > 0.1 {
		t.Errorf("announced cost of a %v points per req/s, want %v", c, 100*0.1/3.6)
	}
	if c := di.Cost["b"]; math.Abs(c-100*0.055/3.6) > 0.2 {
		t.Errorf("inferred cost of b %v points per req/s, want about %v", c, 100*0.055/3.6)
	}
}

// TestNodeMarginFunctionUsageOnly: without the node's usage, the sum of the
// usage measured per function is the base NodeMargin compares with its
// limits (the capacity model would see 40 req/s of 2000 and no overload).
func TestNodeMarginFunctionUsageOnly(t *testing.T) {
	nm := &NodeMargin{Limits: forecast.Usage{CPU: 2}}
	var d Decision
	for i := range 50 {
		r := 10 + float64(i%11)
		s := Snapshot{
			Self: "x", Now: time.Unix(0, 0), Period: 5 * time.Second,
			Functions: []Function{{Name: "a", Deployed: true, Capacity: 2000, Offered: r, Forecast: 2 * r, Local: r, CPU: 0.1 * r}},
			Neighbours: []Neighbour{{ID: "n", Announcement: Announcement{
				Functions: []FunctionState{{Name: "a", Deployed: true, Capacity: 1000}},
				Data:      json.RawMessage(`{"v": 1, "margin": 50, "cost": {"a": 1}}`),
			}}},
		}
		var err error
		if d, err = nm.Decide(s); err != nil {
			t.Fatal(err)
		}
	}
	// Last period: 15 req/s used 1.5 cores; the 30 forecast need 3, one
	// more than the limit: a third of a goes to n.
	r, _ := d.Route("a")
	if sh := r.ForwardShare("n"); sh < 0.3 || sh > 0.37 {
		t.Errorf("route %+v, want a third of a forwarded", r)
	}
}
