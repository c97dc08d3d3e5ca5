package control_test

import (
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// boundForecaster forecasts a value per series it is bound to.
type boundForecaster struct {
	values   map[string]float64
	self     strategy.NodeID
	function string
	binds    int
}

func (b *boundForecaster) Observe(float64) {}
func (b *boundForecaster) Forecast() float64 {
	return b.values[string(b.self)+"/"+b.function]
}
func (b *boundForecaster) BindSeries(self strategy.NodeID, function string) {
	b.self, b.function = self, function
	b.binds++
}

// TestSeriesBinder: a forecaster that implements SeriesBinder is told its
// node and function once, when the core makes it, and each function's
// forecast is its own series'.
func TestSeriesBinder(t *testing.T) {
	values := map[string]float64{"a/f": 7, "a/g": 3}
	var made []*boundForecaster
	c := newCore(t, control.Config{Forecaster: func() forecast.Forecaster {
		b := &boundForecaster{values: values}
		made = append(made, b)
		return b
	}})
	for i := range 3 {
		s, err := c.Observe(control.Observation{
			Now:      t0.Add(time.Duration(i) * time.Second),
			Deployed: []strategy.Function{{Name: "f", Capacity: 10}, {Name: "g", Capacity: 10}},
			Rates:    []strategy.Function{{Name: "f", Offered: 1}, {Name: "g", Offered: 1}},
			Measured: i > 0,
		})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := s.Function("f")
		g, _ := s.Function("g")
		if f.Forecast != 7 || g.Forecast != 3 {
			t.Fatalf("cycle %d: forecasts f %v, g %v; want 7 and 3", i, f.Forecast, g.Forecast)
		}
	}
	if len(made) != 2 {
		t.Fatalf("%d forecasters made, want 2", len(made))
	}
	for _, b := range made {
		if b.binds != 1 || b.self != "a" {
			t.Errorf("forecaster of %q bound %d times to %q", b.function, b.binds, b.self)
		}
	}
}
