package report

import "math"

// This file is the statistics of repeated runs: the mean and the 95%
// confidence interval of a sample, from Student's t distribution. dfaas
// sim --repeat needs the same; the two should live in one place.

// Interval is a closed interval [low, high]; in JSON, a two-number array.
type Interval [2]float64

// Contains reports whether v is in the interval.
func (iv Interval) Contains(v float64) bool { return iv[0] <= v && v <= iv[1] }

// t975 are the 0.975 quantiles of Student's t distribution for 1 to 30
// degrees of freedom (the two-sided 95% critical values).
var t975 = [...]float64{
	12.7062047, 4.30265273, 3.18244631, 2.77644511, 2.57058184, 2.44691185, 2.36462425, 2.30600414, 2.26215716, 2.22813885,
	2.20098516, 2.17881283, 2.16036866, 2.14478669, 2.13144955, 2.11990530, 2.10981558, 2.10092204, 2.09302405, 2.08596345,
	2.07961384, 2.07387307, 2.06865761, 2.06389856, 2.05953855, 2.05552944, 2.05183052, 2.04840714, 2.04522964, 2.04227246,
}

// TQuantile975 returns the 0.975 quantile of Student's t distribution with
// df degrees of freedom: the factor of the standard error in a two-sided
// 95% confidence interval of a mean of df+1 values. It is exact to the
// digits of a table up to 30 degrees of freedom and a Cornish-Fisher
// expansion beyond (error below 1e-6); NaN for df < 1.
func TQuantile975(df int) float64 {
	if df < 1 {
		return math.NaN()
	}
	if df <= len(t975) {
		return t975[df-1]
	}
	// Cornish-Fisher expansion of the t quantile around the normal one
	// (Abramowitz and Stegun 26.7.5).
	const z = 1.959963984540054
	n := float64(df)
	z3, z5, z7 := z*z*z, math.Pow(z, 5), math.Pow(z, 7)
	return z + (z3+z)/(4*n) + (5*z5+16*z3+3*z)/(96*n*n) + (3*z7+19*z5+17*z3-15*z)/(384*n*n*n)
}

// MeanCI95 returns the mean of xs and the 95% confidence interval of the
// mean, mean ± t(0.975, n−1)·s/√n with s the sample standard deviation.
// ok is false, and the interval empty, with fewer than two values.
func MeanCI95(xs []float64) (mean float64, ci Interval, ok bool) {
	n := len(xs)
	if n == 0 {
		return math.NaN(), Interval{}, false
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	if n < 2 {
		return mean, Interval{}, false
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	half := TQuantile975(n-1) * math.Sqrt(ss/float64(n-1)) / math.Sqrt(float64(n))
	return mean, Interval{mean - half, mean + half}, true
}

// Clip returns the interval cut to [lo, hi], the values the quantity can
// take: a t interval of a mean of few runs can reach past them (a success
// rate above 1, a negative latency), which says nothing more.
func (iv Interval) Clip(lo, hi float64) Interval {
	return Interval{min(max(iv[0], lo), hi), min(max(iv[1], lo), hi)}
}
