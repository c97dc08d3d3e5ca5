package forecast

import "math"

// Auto combines several forecasters online: it runs them all and predicts
// a weighted mean of their forecasts, member i weighted (best/mae_i)^Power
// where mae_i is its recent mean absolute one-step error and best the
// smallest of those. With the default Power a member 10 % worse than the
// best weighs 5 %, so Auto in effect follows whichever member fits the
// series best at the moment, switching smoothly. It is the recommended
// default for the agent (dfaas agent --forecast auto).
type Auto struct {
	// Members are the forecasters combined. If empty, DefaultMembers.
	Members []Forecaster
	// Memory is the smoothing weight of the newest error in each
	// member's recent error, in (0, 1]. If zero, 0.003 (a memory of about
	// 300 observations: long enough that a member which is better only
	// between the rare moments that matter, such as the edges of a
	// seasonal pattern, is not dropped in between).
	Memory float64
	// Power is the exponent of the weighting. If zero, 32.
	Power float64

	mae []float64
	n   int
}

// DefaultMembers returns new forecasters of the kinds Auto combines by
// default: those ByName returns for "last", "ewma", "holt" and
// "holtwinters".
func DefaultMembers() []Forecaster {
	return []Forecaster{
		&Last{},
		&EWMA{Alpha: 0.5},
		&Holt{Alpha: 0.1, Beta: 0.01, Reset: 5},
		&HoltWinters{Reset: 5},
	}
}

func (a *Auto) init() {
	if len(a.Members) == 0 {
		a.Members = DefaultMembers()
	}
	if len(a.mae) != len(a.Members) {
		a.mae = make([]float64, len(a.Members))
	}
}

// Observe implements Forecaster.
func (a *Auto) Observe(v float64) {
	if !usable(v) {
		return
	}
	a.init()
	w := param(a.Memory, 0.003)
	if a.n > 0 {
		w = max(w, 1/float64(a.n)) // the mean error, while it is short
	}
	for i, m := range a.Members {
		e := math.Abs(v - m.Forecast())
		if a.n > 0 {
			a.mae[i] += w * (e - a.mae[i])
		}
		m.Observe(v)
	}
	a.n++
}

// Forecast implements Forecaster.
func (a *Auto) Forecast() float64 {
	a.init()
	if a.n < 2 {
		return a.Members[0].Forecast()
	}
	p := a.Power
	if p <= 0 {
		p = 32
	}
	best := a.mae[0]
	for _, e := range a.mae {
		best = min(best, e)
	}
	var sw, sf float64
	for i, m := range a.Members {
		var wt float64
		switch {
		case a.mae[i] == best:
			wt = 1
		case best > 0:
			wt = math.Pow(best/a.mae[i], p)
		}
		sw += wt
		sf += wt * m.Forecast()
	}
	return sf / sw
}

var _ Forecaster = (*Auto)(nil)
