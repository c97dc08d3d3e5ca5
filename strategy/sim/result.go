package sim

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// Result is the outcome of one run of a scenario with one strategy, in the
// form every mode reports it (dfaas sim, dfaas bench, dfaas demo print it
// as JSON with --json). Counts are numbers of user requests, attributed to
// the node where they arrived; Offered = Served + Rejected + Failed.
type Result struct {
	Scenario string `json:"scenario"`
	Strategy string `json:"strategy"`
	// Mode is "sim", "bench" or "demo".
	Mode      string `json:"mode"`
	Offered   int64  `json:"offered"`
	Served    int64  `json:"served"`
	Forwarded int64  `json:"forwarded"`
	Rejected  int64  `json:"rejected"`
	Failed    int64  `json:"failed"`
	// SuccessRate is Served / Offered.
	SuccessRate float64 `json:"success_rate"`
	// OracleSuccessRate is the fluid upper bound of the success rate (0
	// when not computed).
	OracleSuccessRate float64    `json:"oracle_success_rate"`
	Latency           Quantiles  `json:"latency_ms"`
	Nodes             []NodeStat `json:"nodes"`
	// StrategyErrors counts the control cycles in which the strategy
	// failed, panicked or returned an invalid decision (the previous
	// decision then stayed in force). Only the simulator reports it.
	StrategyErrors int64 `json:"strategy_errors,omitempty"`

	// The references (Evaluate; 0 and nil when not computed):
	// ClairvoyantSuccessRate is the success rate of the clairvoyant
	// controller (Clairvoyant) on the same scenario and seed;
	// PerfectForecastSuccessRate the strategy's with a perfect forecast
	// (Config.PerfectForecast); Gap splits oracle - success with them.
	ClairvoyantSuccessRate     float64 `json:"clairvoyant_success_rate,omitempty"`
	PerfectForecastSuccessRate float64 `json:"perfect_forecast_success_rate,omitempty"`
	Gap                        *Gap    `json:"gap,omitempty"`

	// Repeats is the number of runs with different seeds this result
	// aggregates (EvalConfig.Repeat; 0 for a single run). Then counts are
	// sums over the runs, SuccessRate, the reference rates and the
	// latency quantiles are means over the runs, and each has a 95%
	// Student-t confidence interval of its mean, [low, high].
	Repeats                        int          `json:"repeats,omitempty"`
	SuccessRateCI95                [2]float64   `json:"success_rate_ci95,omitzero"`
	ClairvoyantSuccessRateCI95     [2]float64   `json:"clairvoyant_success_rate_ci95,omitzero"`
	PerfectForecastSuccessRateCI95 [2]float64   `json:"perfect_forecast_success_rate_ci95,omitzero"`
	LatencyCI95                    *QuantilesCI `json:"latency_ms_ci95,omitempty"`

	// Wall is the wall-clock time the strategy's runs took (Evaluate; the
	// sum over repetitions, without the reference runs). It is not part
	// of the JSON form, which stays the same for the same inputs.
	Wall time.Duration `json:"-"`
}

// QuantilesCI are 95% confidence intervals of latency quantiles, ms.
type QuantilesCI struct {
	P50 [2]float64 `json:"p50"`
	P95 [2]float64 `json:"p95"`
	P99 [2]float64 `json:"p99"`
}

// Quantiles are latency quantiles in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// NodeStat are the counts of the requests that arrived at one node.
type NodeStat struct {
	ID          string    `json:"id"`
	Offered     int64     `json:"offered"`
	Served      int64     `json:"served"`
	Forwarded   int64     `json:"forwarded"`
	Rejected    int64     `json:"rejected"`
	Failed      int64     `json:"failed"`
	SuccessRate float64   `json:"success_rate"`
	Latency     Quantiles `json:"latency_ms"`
}

// Rate returns served/offered, or 1 when nothing was offered.
func Rate(served, offered int64) float64 {
	if offered == 0 {
		return 1
	}
	return float64(served) / float64(offered)
}

// QuantilesOf returns the 50th, 95th and 99th percentiles of latencies
// (nearest-rank), in milliseconds. It sorts latencies in place.
func QuantilesOf(latencies []time.Duration) Quantiles {
	if len(latencies) == 0 {
		return Quantiles{}
	}
	slices.Sort(latencies)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(latencies)))) - 1
		i = min(max(i, 0), len(latencies)-1)
		return float64(latencies[i]) / float64(time.Millisecond)
	}
	return Quantiles{P50: q(0.50), P95: q(0.95), P99: q(0.99)}
}

// WriteTable writes r as a text table: a title line, one row per node
// and a total row (counts, latency quantiles in ms, success rate), then
// the oracle bound when it was computed.
//
//	scenario demo-hot-node, strategy flow (demo)
//
//	   node  offered  served  forwarded  rejected  failed  p50 ms  p99 ms  success
//	      a     5127    5001       2973       126       0    66.2   439.4   97.54%
//	  total     6921    6778       3042       143       0    64.3   437.3   97.93%
//
//	oracle success rate (fluid bound): 100.00%
func (r Result) WriteTable(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "scenario %s, strategy %s (%s)\n\n", r.Scenario, r.Strategy, r.Mode); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\toffered\tserved\tforwarded\trejected\tfailed\tp50 ms\tp99 ms\tsuccess\t")
	row := func(id string, off, srv, fwd, rej, fl int64, q Quantiles, rate float64) {
		success := fmt.Sprintf("%.2f%%", 100*rate)
		if off == 0 {
			success = "n/a" // nothing offered: neither a success nor a failure
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%s\t\n", id, off, srv, fwd, rej, fl, q.P50, q.P99, success)
	}
	for _, n := range r.Nodes {
		row(n.ID, n.Offered, n.Served, n.Forwarded, n.Rejected, n.Failed, n.Latency, n.SuccessRate)
	}
	row("total", r.Offered, r.Served, r.Forwarded, r.Rejected, r.Failed, r.Latency, r.SuccessRate)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.OracleSuccessRate > 0 {
		if _, err := fmt.Fprintf(w, "\noracle success rate (fluid bound): %.2f%%\n", 100*r.OracleSuccessRate); err != nil {
			return err
		}
	}
	if r.Gap != nil {
		_, err := fmt.Fprintf(w, "clairvoyant success rate: %.2f%%\nwith a perfect forecast: %.2f%%\n", 100*r.ClairvoyantSuccessRate, 100*r.PerfectForecastSuccessRate)
		return err
	}
	return nil
}

// WriteComparison writes results of one scenario side by side as a text
// table, one row per result (strategy): success rate, its ratio to the
// oracle bound, counts and latency quantiles. With wall (one duration per
// result, the time each run took) it adds the wall time and the simulated
// requests per wall second. Results of repetitions (Repeats) add the 95%
// interval of the success rate; results with references (Evaluate) are
// followed by a second table, their decomposition (Gap), in points of
// success rate.
func WriteComparison(w io.Writer, rs []Result, wall []time.Duration) error {
	repeated := len(rs) > 0 && rs[0].Repeats > 0
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "strategy\tsuccess\t"
	if repeated {
		head += "95% CI\t"
	}
	head += "of oracle\toffered\tserved\tforwarded\trejected\tfailed\tp50 ms\tp95 ms\tp99 ms\t"
	if wall != nil {
		head += "wall\treq/s wall\t"
	}
	fmt.Fprintln(tw, head)
	for i, r := range rs {
		ratio := 0.0
		if r.OracleSuccessRate > 0 {
			ratio = r.SuccessRate / r.OracleSuccessRate
		}
		fmt.Fprintf(tw, "%s\t%.2f%%\t", r.Strategy, 100*r.SuccessRate)
		if repeated {
			fmt.Fprintf(tw, "%.2f-%.2f\t", 100*r.SuccessRateCI95[0], 100*r.SuccessRateCI95[1])
		}
		fmt.Fprintf(tw, "%.3f\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t", ratio,
			r.Offered, r.Served, r.Forwarded, r.Rejected, r.Failed, r.Latency.P50, r.Latency.P95, r.Latency.P99)
		if wall != nil && i < len(wall) {
			fmt.Fprintf(tw, "%.2fs\t%.0f\t", wall[i].Seconds(), float64(r.Offered)/wall[i].Seconds())
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil || len(rs) == 0 || rs[0].Gap == nil {
		return err
	}
	fmt.Fprintf(w, "\nsuccess rate %% and the gap to the oracle in points (oracle - success = granularity+queueing + strategy gap;\nstrategy gap = clairvoyant - success = forecasting + coordination):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	writeGapHeader(tw, "")
	for _, r := range rs {
		if r.Gap != nil {
			writeGapRow(tw, r.Strategy, r.OracleSuccessRate, r.ClairvoyantSuccessRate, r.PerfectForecastSuccessRate, r.SuccessRate, r.Gap, "")
		}
	}
	return tw.Flush()
}

// WriteResults writes what dfaas sim prints for the results rs of the
// strategies on sc: a heading with the oracle's (and, when evaluated, the
// clairvoyant controller's) success rate, the comparison table
// (WriteComparison, with walls the wall time of each run), and with nodes
// each result's per-node table.
func WriteResults(w io.Writer, sc *Scenario, rs []Result, walls []time.Duration, nodes bool) error {
	if len(rs) == 0 {
		return errors.New("sim: no result to write")
	}
	fmt.Fprintf(w, "scenario %s: %d nodes, %v, oracle success rate %.2f%%", sc.Name, len(sc.Nodes), sc.Duration.D(), 100*rs[0].OracleSuccessRate)
	if rs[0].Gap != nil {
		fmt.Fprintf(w, ", clairvoyant %.2f%%", 100*rs[0].ClairvoyantSuccessRate)
	}
	fmt.Fprint(w, "\n\n")
	if err := WriteComparison(w, rs, walls); err != nil || !nodes {
		return err
	}
	for _, r := range rs {
		fmt.Fprintln(w)
		if err := r.WriteTable(w); err != nil {
			return err
		}
	}
	return nil
}
