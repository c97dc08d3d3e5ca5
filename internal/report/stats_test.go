package report

import (
	"math"
	"testing"
)

// TestMeanCI95 checks the interval arithmetic on samples worked by hand.
func TestMeanCI95(t *testing.T) {
	tests := []struct {
		name    string
		xs      []float64
		mean    float64
		low, hi float64
		ok      bool
	}{
		// mean 3, s = √2.5, se = √0.5, t(4) = 2.776445: 3 ± 1.963243.
		{"five", []float64{1, 2, 3, 4, 5}, 3, 1.036757, 4.963243, true},
		// mean 0.97, s = 0.01, se = 0.01/√3, t(2) = 4.302653: ± 0.024841.
		{"three rates", []float64{0.96, 0.97, 0.98}, 0.97, 0.945159, 0.994841, true},
		// Two values: t(1) = 12.706205, s = 0.5·√2, se = 0.5: ± 6.353102.
		{"two", []float64{10, 11}, 10.5, 4.146898, 16.853102, true},
		{"constant", []float64{7, 7, 7}, 7, 7, 7, true},
		{"one", []float64{4}, 4, 0, 0, false},
	}
	for _, tt := range tests {
		mean, ci, ok := MeanCI95(tt.xs)
		if ok != tt.ok || math.Abs(mean-tt.mean) > 1e-9 || math.Abs(ci[0]-tt.low) > 1e-6 || math.Abs(ci[1]-tt.hi) > 1e-6 {
			t.Errorf("%s: MeanCI95 = %v %v %v, want %v [%v, %v] %v", tt.name, mean, ci, ok, tt.mean, tt.low, tt.hi, tt.ok)
		}
	}
	if _, _, ok := MeanCI95(nil); ok {
		t.Error("empty sample has an interval")
	}
}
