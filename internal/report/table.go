package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// ciText formats an interval of a rate in percent, or "-".
func ciText(ci *Interval, scale float64) string {
	if ci == nil {
		return "-"
	}
	return fmt.Sprintf("[%.2f, %.2f]", scale*ci[0], scale*ci[1])
}

// WriteTable writes r as a text table, bench and simulator side by side,
// one row per strategy (means and 95 % confidence intervals over repeated
// runs), then the report's notes.
func WriteTable(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "scenario %s: %d nodes, load %s, proxy %s\nnetwork: %s\n", r.Scenario, len(r.Nodes), r.window(), r.Proxy, r.Network)
	if k := r.repeats(); k > 1 {
		fmt.Fprintf(w, "%d runs per strategy (seeds %d-%d): means with 95%% confidence intervals; counts are totals\n", k, r.Seed, r.Seed+uint64(k)-1)
	}
	if len(r.Runs) > 0 {
		fmt.Fprintf(w, "oracle success rate %.2f%%\n", 100*r.Runs[0].Bench.OracleSuccessRate)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	ci := r.repeats() > 1
	head := "strategy\tbench\tsim\tdiff\tof oracle\toffered\tserved\tforwarded\trejected\tfailed\tp50 ms\tp99 ms\t"
	if ci {
		head = "strategy\tbench\tbench 95% CI\tsim\tdiff\tof oracle\toffered\tserved\tforwarded\trejected\tfailed\tp50 ms\tp99 ms\tp99 95% CI\t"
	}
	fmt.Fprintln(tw, head)
	for _, s := range r.Strategies() {
		b, sm := r.Results(s)
		simRate, diff := "-", "-"
		if sm != nil {
			simRate = fmt.Sprintf("%.2f%%", 100*sm.SuccessRate)
			diff = fmt.Sprintf("%+.2f", 100*(b.SuccessRate-sm.SuccessRate))
		}
		ratio := 0.0
		if b.OracleSuccessRate > 0 {
			ratio = b.SuccessRate / b.OracleSuccessRate
		}
		cells := []string{s, fmt.Sprintf("%.2f%%", 100*b.SuccessRate)}
		if ci {
			cells = append(cells, ciText(b.SuccessRateCI95, 100))
		}
		cells = append(cells, simRate, diff, fmt.Sprintf("%.3f", ratio), fmt.Sprint(b.Offered), fmt.Sprint(b.Served), fmt.Sprint(b.Forwarded),
			fmt.Sprint(b.Rejected), fmt.Sprint(b.Failed), fmt.Sprintf("%.1f", b.Latency.P50), fmt.Sprintf("%.1f", b.Latency.P99))
		if ci {
			cells = append(cells, msInterval(p99CI(&b)))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Unloaded) > 0 {
		fmt.Fprintf(w, "warning: no load in this window at %s (success n/a)\n", strings.Join(r.Unloaded, ", "))
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

// msInterval formats a latency interval in ms, or "-".
func msInterval(ci *Interval) string {
	if ci == nil {
		return "-"
	}
	return fmt.Sprintf("[%.1f, %.1f]", ci[0], ci[1])
}
