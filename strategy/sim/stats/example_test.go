package stats_test

import (
	"fmt"

	"github.com/dfaas-go/dfaas/strategy/sim/stats"
)

// The success rates of five runs of one scenario with different arrival
// seeds: their mean and its 95% confidence interval.
func ExampleCI95() {
	rates := []float64{0.9712, 0.9698, 0.9725, 0.9704, 0.9719}
	ci, _ := stats.CI95(rates)
	fmt.Printf("mean %.4f, 95%% CI [%.4f, %.4f]\n", stats.Mean(rates), ci[0], ci[1])
	// Output:
	// mean 0.9712, 95% CI [0.9698, 0.9725]
}

// Summarize a distribution, as dfaas sim --family reports one.
func ExampleSummarize() {
	s := stats.Summarize([]float64{0.93, 0.97, 0.91, 0.99, 0.95, 0.96, 0.89, 0.98, 0.94, 0.92})
	fmt.Printf("min %.3f  p10 %.3f  median %.3f  mean %.3f\n", s.Min, s.P10, s.Median, s.Mean)
	// Output:
	// min 0.890  p10 0.908  median 0.945  mean 0.944
}
