package report

import (
	"math"

	"github.com/dfaas-go/dfaas/strategy/sim/stats"
)

// This file is the statistics of repeated runs: the mean and the 95%
// confidence interval of a sample, computed by strategy/sim/stats.

// Interval is a closed interval [low, high]; in JSON, a two-number array.
type Interval [2]float64

// Contains reports whether v is in the interval.
func (iv Interval) Contains(v float64) bool { return iv[0] <= v && v <= iv[1] }

// MeanCI95 returns the mean of xs and the 95% confidence interval of the
// mean from Student's t distribution (strategy/sim/stats, which dfaas sim
// --repeat uses too). ok is false, and the interval empty, with fewer than
// two values; the mean of no values is NaN.
func MeanCI95(xs []float64) (mean float64, ci Interval, ok bool) {
	if len(xs) == 0 {
		return math.NaN(), Interval{}, false
	}
	c, ok := stats.CI95(xs)
	if !ok {
		return stats.Mean(xs), Interval{}, false
	}
	return stats.Mean(xs), Interval(c), true
}

// Clip returns the interval cut to [lo, hi], the values the quantity can
// take: a t interval of a mean of few runs can reach past them (a success
// rate above 1, a negative latency), which says nothing more.
func (iv Interval) Clip(lo, hi float64) Interval {
	return Interval{min(max(iv[0], lo), hi), min(max(iv[1], lo), hi)}
}
