package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

func pct(v float64) string { return fmt.Sprintf("%.2f %%", 100*v) }

// pctCI formats a success rate and its interval, if any.
func pctCI(v float64, ci *Interval) string {
	if ci == nil {
		return pct(v)
	}
	return fmt.Sprintf("%.2f %% [%.2f, %.2f]", 100*v, 100*ci[0], 100*ci[1])
}

// msCI formats a latency quantile and its interval, if any.
func msCI(v float64, ci *Interval) string {
	if ci == nil {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.1f [%.1f, %.1f]", v, ci[0], ci[1])
}

// nodeRate formats a node's success rate: n/a when it was offered
// nothing.
func nodeRate(n NodeResult) string {
	if n.NA() {
		return "n/a"
	}
	return pctCI(*n.SuccessRate, n.SuccessRateCI95)
}

// p99CI returns the interval of a result's p99, if any.
func p99CI(r *Result) *Interval {
	if r == nil || r.LatencyCI95 == nil {
		return nil
	}
	return &r.LatencyCI95.P99
}

// WriteMarkdown writes the Markdown report: the setting, bench and sim
// side by side per strategy and per node (means and 95 % confidence
// intervals over repeated runs), each run, and the figures.
func WriteMarkdown(w io.Writer, r *Report, figs []*figure) error {
	var b strings.Builder
	writeSetting(&b, r)
	writeStrategies(&b, r)
	writeNodes(&b, r)
	if r.repeats() > 1 {
		writeRuns(&b, r)
	}
	writeFigures(&b, r, figs)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSetting writes the title and the setting of the bench.
func writeSetting(b *strings.Builder, r *Report) {
	fmt.Fprintf(b, "# dfaas bench: %s\n\n", r.Scenario)
	if r.Description != "" {
		fmt.Fprintf(b, "%s\n\n", r.Description)
	}
	load := r.Duration.String()
	switch {
	case r.From > 0 || r.From+r.Duration < r.ScenarioDuration:
		load = fmt.Sprintf("%v, the window [%v, %v) of the scenario's %v, shifted to start at 0", r.Duration, r.From, r.From+r.Duration, r.ScenarioDuration)
	}
	fmt.Fprintf(b, "- load: %s of open-loop Poisson requests\n", load)
	fmt.Fprintf(b, "- nodes: %s; proxy: %s; control period %v; forecast %s\n", strings.Join(r.Nodes, ", "), r.Proxy, r.Period, r.Forecast)
	if k := r.repeats(); k > 1 {
		fmt.Fprintf(b, "- %d runs per strategy, seeds %d to %d (run r: seed %d+r−1), each on a freshly started federation; strategies interleaved (run r of every strategy before run r+1); the simulator runs each seed too\n",
			k, r.Seed, r.Seed+uint64(k)-1, r.Seed)
	} else {
		fmt.Fprintf(b, "- seed %d\n", r.Seed)
	}
	fmt.Fprintf(b, "- network: %s\n", r.Network)
	if len(r.Runs) > 0 {
		fmt.Fprintf(b, "- oracle success rate (fluid bound): %s\n", pct(r.Runs[0].Bench.OracleSuccessRate))
	}
	if len(r.Unloaded) > 0 {
		fmt.Fprintf(b, "- **no load in this window at %s**: their success rates are n/a\n", strings.Join(r.Unloaded, ", "))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
}

// writeStrategies writes the table of strategies, bench beside sim.
func writeStrategies(b *strings.Builder, r *Report) {
	b.WriteString("\n## Bench and sim side by side\n\n")
	b.WriteString("Success is served / offered. \"Of oracle\" divides the bench's success by the fluid bound. The sim column runs `dfaas sim` on the same scenario and seed.")
	if k := r.repeats(); k > 1 {
		fmt.Fprintf(b, " Rates and latencies are means over the %d runs with [95 %% confidence intervals] (Student t); counts are totals over the runs.", k)
	}
	b.WriteString("\n\n| strategy | bench success | sim success | bench − sim | bench of oracle | offered | forwarded | rejected | failed | p50 / p99 ms bench | p50 / p99 ms sim |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Strategies() {
		be, sm := r.Results(s)
		simRate, diff, simLat := "–", "–", "–"
		if sm != nil {
			simRate = pctCI(sm.SuccessRate, sm.SuccessRateCI95)
			diff = fmt.Sprintf("%+.2f pt", 100*(be.SuccessRate-sm.SuccessRate))
			simLat = fmt.Sprintf("%.1f / %s", sm.Latency.P50, msCI(sm.Latency.P99, p99CI(sm)))
		}
		ofOracle := "–"
		if be.OracleSuccessRate > 0 {
			ofOracle = fmt.Sprintf("%.3f", be.SuccessRate/be.OracleSuccessRate)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %d | %d | %d | %d | %.1f / %s | %s |\n", s, pctCI(be.SuccessRate, be.SuccessRateCI95), simRate, diff, ofOracle,
			be.Offered, be.Forwarded, be.Rejected, be.Failed, be.Latency.P50, msCI(be.Latency.P99, p99CI(&be)), simLat)
	}
}

// writeNodes writes the table of nodes.
func writeNodes(b *strings.Builder, r *Report) {
	b.WriteString("\n### Per node\n\n")
	b.WriteString("Counts are by the node where requests arrived; a node offered no request has no success rate (n/a).\n\n")
	b.WriteString("| strategy | node | bench success | sim success | offered | forwarded | rejected | failed | sim forwarded | sim rejected | sim failed |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Strategies() {
		be, sm := r.Results(s)
		for i, n := range be.Nodes {
			simRate, sf, sr, sl := "–", "–", "–", "–"
			if sm != nil && i < len(sm.Nodes) {
				x := sm.Nodes[i]
				simRate = nodeRate(x)
				sf, sr, sl = fmt.Sprint(x.Forwarded), fmt.Sprint(x.Rejected), fmt.Sprint(x.Failed)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %d | %d | %d | %d | %s | %s | %s |\n", s, n.ID, nodeRate(n), simRate,
				n.Offered, n.Forwarded, n.Rejected, n.Failed, sf, sr, sl)
		}
	}
}

// writeRuns writes one row per run, in the order they ran.
func writeRuns(b *strings.Builder, r *Report) {
	b.WriteString("\n### Each run\n\n")
	b.WriteString("| order | strategy | run | seed | bench success | sim success | offered | p50 / p99 ms bench | p50 / p99 ms sim | data |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for i, run := range r.Runs {
		simRate, simLat := "–", "–"
		if run.Sim != nil {
			simRate = pct(run.Sim.SuccessRate)
			simLat = fmt.Sprintf("%.1f / %.1f", run.Sim.Latency.P50, run.Sim.Latency.P99)
		}
		be := run.Bench
		fmt.Fprintf(b, "| %d | %s | %d | %d | %s | %s | %d | %.1f / %.1f | %s | [%s](%s/) |\n", i+1, run.Strategy, max(1, run.Repeat), run.Seed,
			pct(be.SuccessRate), simRate, be.Offered, be.Latency.P50, be.Latency.P99, simLat, r.runDir(run), filepath.ToSlash(r.runDir(run)))
	}
}

// writeFigures writes the figures and the links to every file.
func writeFigures(b *strings.Builder, r *Report, figs []*figure) {
	b.WriteString("\n## Figures\n\n")
	b.WriteString("Every figure is also in SVG and PDF beside its PNG.\n\n")
	for _, f := range figs {
		fmt.Fprintf(b, "![%s](%s.png)\n\n[SVG](%s.svg), [PDF](%s.pdf)\n\n", f.alt, f.name, f.name, f.name)
	}
	for _, s := range r.Strategies() {
		fmt.Fprintf(b, "### %s\n\n", s)
		for _, run := range r.RunsOf(s) {
			d := filepath.ToSlash(r.runDir(run))
			if r.repeats() > 1 {
				fmt.Fprintf(b, "Run %d (seed %d): ", max(1, run.Repeat), run.Seed)
				if run.Repeat > 1 {
					fmt.Fprintf(b, "[rates](%s/rates.png), [outcomes](%s/outcomes.png)", d, d)
					if len(run.Decisions) > 0 {
						fmt.Fprintf(b, ", [shares](%s/shares.png)", d)
					}
					fmt.Fprintf(b, "; data: [requests](%s/requests.csv), [series](%s/series.csv), [decisions](%s/decisions.csv).\n\n", d, d, d)
					continue
				}
				b.WriteString("\n\n")
			}
			fmt.Fprintf(b, "![outcomes, %s](%s/outcomes.png)\n\n![request rates, %s](%s/rates.png)\n\n", s, d, s, d)
			if len(run.Decisions) > 0 {
				fmt.Fprintf(b, "![shares, %s](%s/shares.png)\n\n", s, d)
			} else {
				b.WriteString("No decision was recorded.\n\n")
			}
			fmt.Fprintf(b, "Data: [requests](%s/requests.csv), [per-second series](%s/series.csv), [decisions](%s/decisions.csv)", d, d, d)
			if len(run.SimSeries) > 0 {
				fmt.Fprintf(b, ", [simulator per period](%s/sim-series.csv)", d)
			}
			if len(run.SimLatencies) > 0 {
				fmt.Fprintf(b, ", [simulator latencies](%s/sim-latency.csv)", d)
			}
			b.WriteString(".\n\n")
		}
	}
}
