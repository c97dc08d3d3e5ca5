package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHoltWintersBoundedMemory feeds a long seasonal series and checks the
// history and profile stay within their caps and the season is still found.
func TestHoltWintersBoundedMemory(t *testing.T) {
	h := &HoltWinters{MaxSeason: 2000}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 400_000 {
		h.Observe(100 + 50*math.Sin(2*math.Pi*float64(i)/1000) + rng.NormFloat64())
		if len(h.hist.blocks) > histCap || len(h.season) > maxBins {
			t.Fatalf("step %d: %d blocks of history, %d bins", i, len(h.hist.blocks), len(h.season))
		}
	}
	if span := len(h.hist.blocks) * h.hist.blk; span > 2*4*h.maxSeason() {
		t.Errorf("history spans %d samples, want at most %d", span, 8*h.maxSeason())
	}
	if s := h.Season(); math.Abs(float64(s-1000)) > 20 {
		t.Errorf("Season() = %d after 400000 samples, want 1000", s)
	}
}

func TestAutocorr(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	xs := make([]float64, 300)
	for i := range xs {
		xs[i] = math.Sin(float64(i)/7) + rng.NormFloat64()
	}
	got := autocorr(xs, 100)
	mean := 0.0
	for _, v := range xs {
		mean += v
	}
	mean /= float64(len(xs))
	c := func(k int) float64 {
		s := 0.0
		for i := 0; i+k < len(xs); i++ {
			s += (xs[i] - mean) * (xs[i+k] - mean)
		}
		return s / float64(len(xs)-k)
	}
	for k := range 100 {
		if want := c(k) / c(0); math.Abs(got[k]-want) > 1e-9 {
			t.Fatalf("lag %d: %v, want %v", k, got[k], want)
		}
	}
	if autocorr([]float64{3, 3, 3}, 2) != nil {
		t.Error("autocorr of a constant series is not nil")
	}
}

// TestNNLS compares the active-set solver with brute force over every set
// of variables held at zero, on random problems.
func TestNNLS(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for trial := range 300 {
		d := 1 + rng.IntN(5)
		// R = AᵀA + small ridge, r = Aᵀy: a least-squares problem.
		n := d + rng.IntN(6)
		A := make([][]float64, n)
		y := make([]float64, n)
		for i := range A {
			A[i] = make([]float64, d)
			for j := range A[i] {
				A[i][j] = rng.NormFloat64()
			}
			y[i] = rng.NormFloat64() * 3
		}
		R := make([][]float64, d)
		r := make([]float64, d)
		for j := range d {
			R[j] = make([]float64, d)
			for k := range d {
				for i := range n {
					R[j][k] += A[i][j] * A[i][k]
				}
			}
			R[j][j] += 1e-3
			for i := range n {
				r[j] += A[i][j] * y[i]
			}
		}
		obj := func(w []float64) float64 {
			s := 0.0
			for j := range d {
				s += 0.5*w[j]*dot(R[j], w) - r[j]*w[j]
			}
			return s
		}
		got := nnls(R, r, make([]float64, d))
		if !nonneg(got) {
			t.Fatalf("trial %d: negative weight %v", trial, got)
		}
		best := math.Inf(1)
		for mask := range 1 << (d - 1) { // which of w[1:] are free
			idx := []int{0}
			for j := 1; j < d; j++ {
				if mask&(1<<(j-1)) != 0 {
					idx = append(idx, j)
				}
			}
			if s, ok := solveSub(R, r, idx); ok && nonneg(s) {
				best = min(best, obj(s))
			}
		}
		if o := obj(got); o > best+1e-7*(1+math.Abs(best)) {
			t.Fatalf("trial %d: objective %v, brute force %v", trial, o, best)
		}
	}
}
