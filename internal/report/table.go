package report

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes r as a text table, bench and simulator side by side,
// one row per strategy, then the report's notes.
func WriteTable(w io.Writer, r *Report) error {
	load := r.Duration.String()
	if r.ScenarioDuration > r.Duration {
		load += " (cut from " + r.ScenarioDuration.String() + ")"
	}
	fmt.Fprintf(w, "scenario %s: %d nodes, load %s, proxy %s\nnetwork: %s\n", r.Scenario, len(r.Nodes), load, r.Proxy, r.Network)
	if len(r.Runs) > 0 {
		fmt.Fprintf(w, "oracle success rate %.2f%%\n", 100*r.Runs[0].Bench.OracleSuccessRate)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tbench\tsim\tdiff\tof oracle\toffered\tserved\tforwarded\trejected\tfailed\tp50 ms\tp99 ms\t")
	for _, run := range r.Runs {
		b := run.Bench
		simRate, diff := "-", "-"
		if run.Sim != nil {
			simRate = fmt.Sprintf("%.2f%%", 100*run.Sim.SuccessRate)
			diff = fmt.Sprintf("%+.2f", 100*(b.SuccessRate-run.Sim.SuccessRate))
		}
		ratio := 0.0
		if b.OracleSuccessRate > 0 {
			ratio = b.SuccessRate / b.OracleSuccessRate
		}
		fmt.Fprintf(tw, "%s\t%.2f%%\t%s\t%s\t%.3f\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t\n", run.Strategy, 100*b.SuccessRate, simRate, diff, ratio,
			b.Offered, b.Served, b.Forwarded, b.Rejected, b.Failed, b.Latency.P50, b.Latency.P99)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}
