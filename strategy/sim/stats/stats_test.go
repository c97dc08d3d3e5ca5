package stats

import (
	"encoding/json"
	"math"
	"testing"
)

// TestTQuantile checks the quantiles against published tables (two-sided
// 95% and 99% critical values) and the normal limit.
func TestTQuantile(t *testing.T) {
	for _, c := range []struct{ p, df, want float64 }{
		{0.975, 1, 12.706204736},
		{0.975, 2, 4.302652730},
		{0.975, 4, 2.776445105},
		{0.975, 9, 2.262157163},
		{0.975, 29, 2.045229642},
		{0.975, 99, 1.984216952},
		{0.975, 1e9, 1.959963985},
		{0.995, 5, 4.032142984},
		{0.95, 10, 1.812461123},
		{0.025, 4, -2.776445105},
		{0.5, 3, 0},
		{0.975, 2.5, 3.574654842}, // checked by integrating the density
	} {
		if got := TQuantile(c.p, c.df); math.Abs(got-c.want) > 1e-6*math.Max(1, math.Abs(c.want)) {
			t.Errorf("TQuantile(%v, %v) = %.9f, want %.9f", c.p, c.df, got, c.want)
		}
	}
	for _, c := range [][2]float64{{0, 3}, {1, 3}, {0.5, 0}, {0.9, -1}, {math.NaN(), 3}, {0.9, math.NaN()}} {
		if got := TQuantile(c[0], c[1]); !math.IsNaN(got) {
			t.Errorf("TQuantile(%v, %v) = %v, want NaN", c[0], c[1], got)
		}
	}
}

// TestTCDF: the distribution function is symmetric, monotone and at the
// tabled points.
func TestTCDF(t *testing.T) {
	if got := TCDF(0, 7); got != 0.5 {
		t.Errorf("TCDF(0, 7) = %v", got)
	}
	if got := TCDF(2.228138852, 10); math.Abs(got-0.975) > 1e-9 {
		t.Errorf("TCDF(2.228, 10) = %v, want 0.975", got)
	}
	if got := TCDF(-1, 3) + TCDF(1, 3); math.Abs(got-1) > 1e-12 {
		t.Errorf("TCDF(-1) + TCDF(1) = %v, want 1", got)
	}
	prev := 0.0
	for x := -50.0; x <= 50; x += 0.25 {
		v := TCDF(x, 3.5)
		if v < prev || v < 0 || v > 1 {
			t.Fatalf("TCDF(%v, 3.5) = %v after %v", x, v, prev)
		}
		prev = v
	}
}

func TestMeanStdCI(t *testing.T) {
	xs := []float64{0.97, 0.98, 0.95, 0.99, 0.96}
	if m := Mean(xs); math.Abs(m-0.97) > 1e-12 {
		t.Errorf("mean %v", m)
	}
	// s = sqrt(sum of squared deviations / 4) = sqrt(0.001/4).
	if s := StdDev(xs); math.Abs(s-math.Sqrt(0.001/4)) > 1e-12 {
		t.Errorf("std %v", s)
	}
	ci, ok := CI95(xs)
	half := 2.776445105 * math.Sqrt(0.001/4) / math.Sqrt(5)
	if !ok || math.Abs(ci[0]-(0.97-half)) > 1e-9 || math.Abs(ci[1]-(0.97+half)) > 1e-9 {
		t.Errorf("CI95 %v %v, want 0.97 ± %v", ci, ok, half)
	}
	if ci, ok := CI95([]float64{3}); ok || ci != [2]float64{3, 3} {
		t.Errorf("CI95 of one value: %v %v", ci, ok)
	}
	if _, _, ok := CI(xs, 1); ok {
		t.Error("CI at level 1 is ok")
	}
	if Mean(nil) != 0 || StdDev([]float64{1}) != 0 {
		t.Error("empty mean or single std not 0")
	}
}

// TestCICoverage: over many samples from a normal distribution, the 95%
// interval contains the true mean about 95% of the time (a check of the
// t quantile's use, not only of its value).
func TestCICoverage(t *testing.T) {
	const trials, n = 4000, 4
	// A fixed linear congruential stream and Box-Muller: deterministic.
	state := uint64(12345)
	uniform := func() float64 {
		state = state*6364136223846793005 + 1442695040888963407
		return (float64(state>>11) + 0.5) / (1 << 53)
	}
	covered := 0
	for range trials {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 10 + 2*math.Sqrt(-2*math.Log(uniform()))*math.Cos(2*math.Pi*uniform())
		}
		if ci, _ := CI95(xs); ci[0] <= 10 && 10 <= ci[1] {
			covered++
		}
	}
	// 95% of 4000 = 3800, binomial sd ≈ 14.
	if covered < 3740 || covered > 3860 {
		t.Errorf("covered %d of %d, want about 3800", covered, trials)
	}
}

func TestQuantileSummary(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {0.5, 3}, {1, 5}, {0.1, 1.4}, {0.25, 2}, {0.9, 4.6}, {-1, 1}, {2, 5}} {
		if got := Quantile(xs, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if xs[0] != 5 {
		t.Error("Quantile sorted its input")
	}
	if Quantile(nil, 0.5) != 0 || Quantile([]float64{7}, 0.3) != 7 {
		t.Error("empty or single quantile")
	}
	s := Summarize(xs)
	if s.N != 5 || s.Min != 1 || s.Max != 5 || s.Median != 3 || s.Mean != 3 || math.Abs(s.P10-1.4) > 1e-12 || math.Abs(s.P90-4.6) > 1e-12 || !(s.CI95[0] < 3 && s.CI95[1] > 3) {
		t.Errorf("summary %+v", s)
	}
	if _, err := json.Marshal(Summarize([]float64{1})); err != nil {
		t.Errorf("summary of one value does not encode: %v", err)
	}
	if Summarize(nil) != (Summary{}) {
		t.Error("summary of nothing")
	}
}
