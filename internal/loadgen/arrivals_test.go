package loadgen

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

func TestPoisson(t *testing.T) {
	tests := []struct {
		name string
		load sim.Load
		d    time.Duration
		want []float64 // expected count per second
	}{
		{"constant", sim.Load{Rates: []float64{200}}, 10 * time.Second, []float64{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{"steps", sim.Load{Step: sim.Duration(2 * time.Second), Rates: []float64{0, 300, 50}}, 8 * time.Second, []float64{0, 0, 300, 300, 50, 50, 50, 50}},
		{"cut", sim.Load{Step: sim.Duration(2 * time.Second), Rates: []float64{100, 0, 400}}, 3 * time.Second, []float64{100, 100, 0}},
		{"nothing", sim.Load{Rates: []float64{0}}, 5 * time.Second, []float64{0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := make([]float64, len(tt.want))
			for seed := range uint64(20) {
				a := Poisson(tt.load, tt.d, rand.New(rand.NewPCG(seed, 1)))
				prev := time.Duration(-1)
				for {
					at, ok := a.Next()
					if !ok {
						break
					}
					if at <= prev || at < 0 || at >= tt.d {
						t.Fatalf("arrival %v after %v, outside [0, %v) or not increasing", at, prev, tt.d)
					}
					prev = at
					counts[int(at/time.Second)]++
				}
			}
			for i, w := range tt.want {
				got := counts[i] / 20
				// 20 runs: the mean count has a standard deviation of
				// sqrt(w/20); allow 5 of them.
				if math.Abs(got-w) > 5*math.Sqrt(w/20)+1e-9 {
					t.Errorf("second %d: mean %v arrivals, want %v", i, got, w)
				}
			}
		})
	}
}

func TestUniform(t *testing.T) {
	a := Uniform(4, time.Second)
	var got []time.Duration
	for {
		at, ok := a.Next()
		if !ok {
			break
		}
		got = append(got, at)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	if len(got) != len(want) || got[0] != want[0] || got[2] != want[2] {
		t.Fatalf("arrivals %v, want %v", got, want)
	}
	endless := Uniform(1e6, 0)
	for range 1000 {
		if _, ok := endless.Next(); !ok {
			t.Fatal("an endless stream ended")
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }
