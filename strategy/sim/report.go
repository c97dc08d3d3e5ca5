package sim

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/dfaas-go/dfaas/strategy/sim/stats"
)

// FamilyReport is the outcome of strategies over a family of scenarios
// (dfaas sim --family): the distribution of each strategy's figures and
// every result.
type FamilyReport struct {
	// Seed and Size say which family (GenerateFamily); Seed is 0 for a
	// family of other scenarios.
	Seed uint64 `json:"family_seed"`
	Size int    `json:"size"`
	// ClairvoyantOfOracle is the distribution of the clairvoyant
	// controller's success rate over the oracle bound (empty without
	// references).
	ClairvoyantOfOracle stats.Summary `json:"clairvoyant_of_oracle,omitzero"`
	// Strategies summarises each strategy, in the order of the results.
	Strategies []FamilySummary `json:"strategies"`
	// Results[i][j] is scenario i's result with strategy j, without its
	// per-node rows.
	Results [][]Result `json:"results"`
}

// FamilySummary is the distribution of one strategy's figures over a
// family.
type FamilySummary struct {
	Strategy string `json:"strategy"`
	// OfOracle is success / oracle; OfClairvoyant success / clairvoyant
	// (empty without references).
	OfOracle      stats.Summary `json:"success_of_oracle"`
	OfClairvoyant stats.Summary `json:"success_of_clairvoyant,omitzero"`
	// P99 is the p99 latency of the requests served, ms.
	P99 stats.Summary `json:"latency_p99_ms"`
	// Gap is the mean decomposition over the scenarios (nil without
	// references).
	Gap *Gap `json:"gap_mean,omitempty"`
	// Mean rates over the scenarios.
	Success         float64 `json:"success_rate_mean"`
	Oracle          float64 `json:"oracle_success_rate_mean"`
	Clairvoyant     float64 `json:"clairvoyant_success_rate_mean,omitempty"`
	PerfectForecast float64 `json:"perfect_forecast_success_rate_mean,omitempty"`
	// Best counts the scenarios where this strategy's success rate is the
	// highest of the strategies (ties count for each).
	Best int `json:"best"`
}

// NewFamilyReport summarises results[i][j], scenario i's result with
// strategy j (every row in the same strategy order).
func NewFamilyReport(seed uint64, results [][]Result) FamilyReport {
	trimmed := make([][]Result, len(results))
	for i, row := range results {
		trimmed[i] = slices.Clone(row)
		for j := range trimmed[i] {
			trimmed[i][j].Nodes = nil
		}
	}
	results = trimmed
	f := FamilyReport{Seed: seed, Size: len(results), Results: results}
	if len(results) == 0 {
		return f
	}
	col := func(j int, v func(Result) float64) []float64 {
		xs := make([]float64, 0, len(results))
		for _, row := range results {
			xs = append(xs, v(row[j]))
		}
		return xs
	}
	ratio := func(a, b float64) float64 {
		if b <= 0 {
			return 1
		}
		return a / b
	}
	refs := results[0][0].Gap != nil
	if refs {
		f.ClairvoyantOfOracle = stats.Summarize(col(0, func(r Result) float64 { return ratio(r.ClairvoyantSuccessRate, r.OracleSuccessRate) }))
	}
	for j := range results[0] {
		s := FamilySummary{
			Strategy: results[0][j].Strategy,
			OfOracle: stats.Summarize(col(j, func(r Result) float64 { return ratio(r.SuccessRate, r.OracleSuccessRate) })),
			P99:      stats.Summarize(col(j, func(r Result) float64 { return r.Latency.P99 })),
			Success:  stats.Mean(col(j, func(r Result) float64 { return r.SuccessRate })),
			Oracle:   stats.Mean(col(j, func(r Result) float64 { return r.OracleSuccessRate })),
		}
		if refs {
			s.OfClairvoyant = stats.Summarize(col(j, func(r Result) float64 { return ratio(r.SuccessRate, r.ClairvoyantSuccessRate) }))
			s.Clairvoyant = stats.Mean(col(j, func(r Result) float64 { return r.ClairvoyantSuccessRate }))
			s.PerfectForecast = stats.Mean(col(j, func(r Result) float64 { return r.PerfectForecastSuccessRate }))
			s.Gap = gapOf(Result{SuccessRate: s.Success, OracleSuccessRate: s.Oracle, ClairvoyantSuccessRate: s.Clairvoyant, PerfectForecastSuccessRate: s.PerfectForecast})
		}
		for _, row := range results {
			best := true
			for _, o := range row {
				best = best && o.SuccessRate <= row[j].SuccessRate
			}
			if best {
				s.Best++
			}
		}
		f.Strategies = append(f.Strategies, s)
	}
	return f
}

// WriteTable writes the report as text: the distribution of each
// strategy's success over the oracle and over the clairvoyant controller
// and of its p99 latency, then the mean decomposition of the gap.
//
//	family of 100 scenarios (seed 1)
//	clairvoyant / oracle: min 0.912  p10 0.951  median 0.982  mean 0.975
//
//	strategy  measure                  min     p10  median    mean
//	    flow  success / oracle       0.889   0.912   0.939   0.936
//	          success / clairvoyant  0.901   0.925   0.957   0.951
//	          p99 ms                 120.3   180.2   402.7   455.0
func (f FamilyReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "family of %d scenarios (seed %d)\n", f.Size, f.Seed)
	if c := f.ClairvoyantOfOracle; c.N > 0 {
		fmt.Fprintf(w, "clairvoyant / oracle: min %.3f  p10 %.3f  median %.3f  mean %.3f\n", c.Min, c.P10, c.Median, c.Mean)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tmeasure\tmin\tp10\tmedian\tmean\t")
	row := func(name, measure, format string, s stats.Summary) {
		fmt.Fprintf(tw, "%s\t%s\t"+format+"\t"+format+"\t"+format+"\t"+format+"\t\n", name, measure, s.Min, s.P10, s.Median, s.Mean)
	}
	for _, s := range f.Strategies {
		row(s.Strategy, "success / oracle", "%.3f", s.OfOracle)
		if s.OfClairvoyant.N > 0 {
			row("", "success / clairvoyant", "%.3f", s.OfClairvoyant)
		}
		row("", "p99 ms", "%.1f", s.P99)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(f.Strategies) == 0 || f.Strategies[0].Gap == nil {
		return nil
	}
	fmt.Fprintf(w, "\nmeans over the scenarios, success rate %% and gap in points:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	writeGapHeader(tw, "best")
	for _, s := range f.Strategies {
		writeGapRow(tw, s.Strategy, s.Oracle, s.Clairvoyant, s.PerfectForecast, s.Success, s.Gap, fmt.Sprint(s.Best))
	}
	return tw.Flush()
}

// writeGapHeader and writeGapRow write the table of a decomposition.
func writeGapHeader(tw io.Writer, extra string) {
	fmt.Fprint(tw, "strategy\toracle\tclairvoyant\tperfect fc\tsuccess\tgranularity+queueing\tstrategy gap\tforecasting\tcoordination\t")
	if extra != "" {
		fmt.Fprintf(tw, "%s\t", extra)
	}
	fmt.Fprintln(tw)
}

func writeGapRow(tw io.Writer, name string, oracle, clairvoyant, perfect, success float64, g *Gap, extra string) {
	fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t", name, 100*oracle, 100*clairvoyant, 100*perfect, 100*success,
		100*g.Granularity, 100*g.Strategy, 100*g.Forecasting, 100*g.Coordination)
	if extra != "" {
		fmt.Fprintf(tw, "%s\t", extra)
	}
	fmt.Fprintln(tw)
}
