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
