package forecast

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Trace is a request-rate series: Rates[i] is the rate measured over the
// sample ending Times[i] seconds from the start.
type Trace struct {
	Times []float64 // seconds, strictly increasing
	Rates []float64 // req/s, finite and >= 0
}

// MaxTraceSamples bounds the samples ReadTrace accepts.
const MaxTraceSamples = 1 << 22

// ReadTrace decodes a trace in CSV: a header naming the columns "time"
// and "rate" (in either order; other columns are ignored), then one row a
// sample with times in seconds, strictly increasing, and finite
// non-negative rates.
func ReadTrace(r io.Reader) (Trace, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Trace{}, errors.New("forecast: trace: empty, want a header \"time,rate\"")
	}
	if err != nil {
		return Trace{}, fmt.Errorf("forecast: trace: %w", err)
	}
	ti, ri := -1, -1
	for i, h := range head {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) {
		case "time":
			ti = i
		case "rate":
			ri = i
		}
	}
	if ti < 0 || ri < 0 {
		return Trace{}, fmt.Errorf("forecast: trace: header %q lacks a \"time\" or \"rate\" column", strings.Join(head, ","))
	}
	var tr Trace
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Trace{}, fmt.Errorf("forecast: trace: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) <= max(ti, ri) {
			return Trace{}, fmt.Errorf("forecast: trace: line %d: %d fields, want at least %d", line, len(rec), max(ti, ri)+1)
		}
		t, err := strconv.ParseFloat(strings.TrimSpace(rec[ti]), 64)
		if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
			return Trace{}, fmt.Errorf("forecast: trace: line %d: bad time %q", line, rec[ti])
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[ri]), 64)
		if err != nil || !finite(v) || v < 0 {
			return Trace{}, fmt.Errorf("forecast: trace: line %d: bad rate %q (want a finite number >= 0)", line, rec[ri])
		}
		if n := len(tr.Times); n > 0 && t <= tr.Times[n-1] {
			return Trace{}, fmt.Errorf("forecast: trace: line %d: time %v not after %v", line, t, tr.Times[n-1])
		}
		if len(tr.Times) == MaxTraceSamples {
			return Trace{}, fmt.Errorf("forecast: trace: more than %d samples", MaxTraceSamples)
		}
		tr.Times = append(tr.Times, t)
		tr.Rates = append(tr.Rates, v)
	}
	if len(tr.Times) == 0 {
		return Trace{}, errors.New("forecast: trace: no samples")
	}
	return tr, nil
}

// WAPE scores a forecaster one step ahead on a series: every value is
// first predicted by f (which has seen only the values before it) and then
// observed. Values before index skip are observed but not scored. WAPE is
// Σ|actual − forecast| / Σ actual over the scored values; NaN if that sum
// of actuals is 0.
func WAPE(f Forecaster, values []float64, skip int) float64 {
	var errSum, actSum float64
	for i, v := range values {
		if i >= skip {
			errSum += math.Abs(v - f.Forecast())
			actSum += math.Abs(v)
		}
		f.Observe(v)
	}
	if actSum == 0 {
		return math.NaN()
	}
	return errSum / actSum
}

// Score is the accuracy of one forecasting method on one trace.
type Score struct {
	Trace  string  `json:"trace"`  // the trace's file, as given
	Method string  `json:"method"` // a name ByName knows
	WAPE   float64 `json:"wape"`   // Σ|actual − forecast| / Σ actual
}

// ErrNothingToScore is the error of Trace.Evaluate (wrapped) when the
// skipped part covers the whole trace.
var ErrNothingToScore = errors.New("forecast: no sample to score")

// checkSpacing refuses a trace whose samples are not evenly spaced: a
// forecaster predicts one sample ahead, whatever the time between
// samples, so an uneven trace would be scored as if it were even.
func (tr Trace) checkSpacing() error {
	if len(tr.Times) < 3 {
		return nil
	}
	step := tr.Times[1] - tr.Times[0]
	for i := 2; i < len(tr.Times); i++ {
		if d := tr.Times[i] - tr.Times[i-1]; math.Abs(d-step) > 1e-6*max(1, step) {
			return fmt.Errorf("forecast: trace: samples %d and %d are %v s apart, the first two %v s: want even spacing (each rate is forecast one sample ahead)", i, i+1, d, step)
		}
	}
	return nil
}

// Evaluate scores the forecaster f makes one step ahead on tr, skipping
// (observing but not scoring) the samples less than skip seconds after the
// first. It fails if the samples are not evenly spaced, if no sample is
// scored (ErrNothingToScore) or if the scored rates are all 0.
func (tr Trace) Evaluate(f Factory, skip float64) (float64, error) {
	if len(tr.Rates) == 0 || len(tr.Times) != len(tr.Rates) {
		return 0, fmt.Errorf("forecast: trace has %d times and %d rates", len(tr.Times), len(tr.Rates))
	}
	if !finite(skip) || skip < 0 {
		return 0, fmt.Errorf("forecast: skip %v not a finite number >= 0", skip)
	}
	if err := tr.checkSpacing(); err != nil {
		return 0, err
	}
	first := 0
	for first < len(tr.Times) && tr.Times[first]-tr.Times[0] < skip {
		first++
	}
	if first == len(tr.Times) {
		return 0, fmt.Errorf("%w: the trace spans %vs, no sample after the first %vs", ErrNothingToScore, tr.Times[len(tr.Times)-1]-tr.Times[0], skip)
	}
	w := WAPE(f(), tr.Rates, first)
	if math.IsNaN(w) {
		return 0, errors.New("forecast: every scored rate is 0, WAPE undefined")
	}
	return w, nil
}

// WriteScores writes scores as an aligned text table.
func WriteScores(w io.Writer, scores []Score) error {
	tw := 5
	mw := 6
	for _, s := range scores {
		tw = max(tw, len(s.Trace))
		mw = max(mw, len(s.Method))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %-*s  %s\n", tw, "TRACE", mw, "METHOD", "WAPE")
	for _, s := range scores {
		fmt.Fprintf(&b, "%-*s  %-*s  %.4f\n", tw, s.Trace, mw, s.Method, s.WAPE)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
