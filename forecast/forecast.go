package forecast

import (
	"fmt"
	"math"
	"strings"
)

// Forecaster predicts the next value of an evenly spaced series (for the
// agent: a function's offered rate, one value per control period, so the
// horizon is one period) from the values observed so far.
//
// A Forecaster is online (it sees only the past), keeps bounded memory and
// is deterministic. It is not safe for concurrent use.
type Forecaster interface {
	// Observe adds the next value of the series. NaN, infinite values
	// and values beyond ±MaxValue are ignored.
	Observe(v float64)
	// Forecast returns the prediction of the next value; 0 before any
	// observation.
	Forecast() float64
}

// Factory makes a new Forecaster for a series.
type Factory func() Forecaster

// Last predicts the last observed value.
type Last struct{ v float64 }

// Observe implements Forecaster.
func (l *Last) Observe(v float64) {
	if usable(v) {
		l.v = v
	}
}

// Forecast implements Forecaster.
func (l *Last) Forecast() float64 { return l.v }

// EWMA predicts an exponentially weighted moving average of the series.
type EWMA struct {
	// Alpha is the weight of the newest value, in (0, 1]. If zero, 0.5.
	Alpha float64

	level float64
	seen  bool
}

// Observe implements Forecaster.
func (e *EWMA) Observe(v float64) {
	if !usable(v) {
		return
	}
	a := e.Alpha
	if a <= 0 || a > 1 {
		a = 0.5
	}
	if !e.seen {
		e.level, e.seen = v, true
		return
	}
	e.level += a * (v - e.level)
}

// Forecast implements Forecaster.
func (e *EWMA) Forecast() float64 { return e.level }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// MaxValue bounds the values forecasters take: larger magnitudes (no rate
// is that large) are ignored like NaN, so that no arithmetic overflows.
const MaxValue = 1e15

func usable(v float64) bool { return finite(v) && math.Abs(v) <= MaxValue }

// Methods returns the names of the built-in forecasters, sorted.
func Methods() []string { return []string{"auto", "ewma", "holt", "holtwinters", "last"} }

// ByName returns the factory of a built-in forecaster:
//
//   - "last": Last, the last value;
//   - "ewma": EWMA with Alpha 0.5;
//   - "holt": Holt with Alpha 0.1, Beta 0.01 and Reset 5;
//   - "holtwinters": HoltWinters with its defaults and Reset 5;
//   - "auto": Auto with its defaults, combining the four above.
func ByName(name string) (Factory, error) {
	switch name {
	case "last":
		return func() Forecaster { return &Last{} }, nil
	case "ewma":
		return func() Forecaster { return &EWMA{Alpha: 0.5} }, nil
	case "holt":
		return func() Forecaster { return &Holt{Alpha: 0.1, Beta: 0.01, Reset: 5} }, nil
	case "holtwinters":
		return func() Forecaster { return &HoltWinters{Reset: 5} }, nil
	case "auto":
		return func() Forecaster { return &Auto{} }, nil
	}
	return nil, fmt.Errorf("forecast: unknown method %q (known: %s)", name, strings.Join(Methods(), ", "))
}

// Interface guards.
var (
	_ Forecaster = (*Last)(nil)
	_ Forecaster = (*EWMA)(nil)
)
