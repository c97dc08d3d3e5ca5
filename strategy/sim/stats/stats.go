package stats

import (
	"math"
	"slices"
)

// Mean returns the arithmetic mean of xs, or 0 when xs is empty.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// StdDev returns the sample standard deviation of xs (divisor n-1), or 0
// for fewer than two values.
func StdDev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := Mean(xs)
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

// CI returns the two-sided confidence interval at level (0.95 for 95%) of
// the mean of xs, taken as a sample of independent draws from a normal
// distribution: mean ± t·s/√n with t the (1+level)/2 quantile of Student's
// t distribution with n-1 degrees of freedom. ok is false for fewer than
// two values or a level outside (0, 1).
func CI(xs []float64, level float64) (lo, hi float64, ok bool) {
	n := len(xs)
	if n < 2 || !(level > 0 && level < 1) {
		return 0, 0, false
	}
	m := Mean(xs)
	half := TQuantile((1+level)/2, float64(n-1)) * StdDev(xs) / math.Sqrt(float64(n))
	return m - half, m + half, true
}

// CI95 returns the 95% confidence interval of the mean of xs as [low,
// high] (see CI), or [mean, mean] with ok false for fewer than two values.
func CI95(xs []float64) (ci [2]float64, ok bool) {
	lo, hi, ok := CI(xs, 0.95)
	if !ok {
		m := Mean(xs)
		return [2]float64{m, m}, false
	}
	return [2]float64{lo, hi}, true
}

// Quantile returns the p-quantile (0 ≤ p ≤ 1) of xs by linear
// interpolation between the order statistics (the "type 7" definition of
// R and NumPy's default): the minimum at 0, the median at 0.5, the
// maximum at 1. It returns 0 for an empty xs and does not modify xs.
func Quantile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return sortedQuantile(s, p)
}

func sortedQuantile(s []float64, p float64) float64 {
	p = min(max(p, 0), 1)
	if math.IsNaN(p) {
		p = 0.5
	}
	h := p * float64(len(s)-1)
	i := int(h)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[i] + (h-float64(i))*(s[i+1]-s[i])
}

// Summary describes a sample.
type Summary struct {
	// N is the number of values; every other field is 0 when it is 0.
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	// Std is the sample standard deviation (0 for one value).
	Std float64 `json:"std"`
	// CI95 is the 95% Student-t confidence interval of the mean ([mean,
	// mean] for one value).
	CI95 [2]float64 `json:"ci95"`
	Min  float64    `json:"min"`
	// P10, Median and P90 are quantiles (see Quantile).
	P10    float64 `json:"p10"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Max    float64 `json:"max"`
}

// Summarize returns the summary of xs (which it does not modify).
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	ci, _ := CI95(s)
	return Summary{
		N: len(s), Mean: Mean(s), Std: StdDev(s), CI95: ci,
		Min: s[0], P10: sortedQuantile(s, 0.1), Median: sortedQuantile(s, 0.5), P90: sortedQuantile(s, 0.9), Max: s[len(s)-1],
	}
}
