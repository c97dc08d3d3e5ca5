package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Run is what one strategy did on the scenario.
type Run struct {
	// Strategy names it; it also names the run's sub-directory, so it
	// must be 1 to 63 characters from [a-zA-Z0-9._-], not starting with
	// a dot.
	Strategy string
	// Bench is the benchmark's result object (Summarize of Records, with
	// the oracle filled in).
	Bench sim.Result
	// Sim is the simulator's result on the same (cut) scenario, if it
	// was run.
	Sim *sim.Result
	// Records are the user requests, Decisions the routes in force over
	// time.
	Records   []Record
	Decisions []Decision
}

// Report is a whole bench invocation: one scenario, one or more runs.
type Report struct {
	Scenario    string
	Description string
	// Duration is the length of the load (the scenario's, or shorter when
	// cut); ScenarioDuration the scenario's own.
	Duration, ScenarioDuration time.Duration
	Period                     time.Duration
	Proxy                      string // embedded or haproxy
	Network                    string // how the nodes were connected
	Forecast                   string
	Seed                       uint64
	// Nodes are the scenario's node IDs in order.
	Nodes []string
	Runs  []Run
	// Notes are extra lines for the report (one bullet each).
	Notes []string
}

// Write writes the report, its data and its plots into dir (created if
// needed), as the package documentation lays out. Files already there
// with the same names are replaced.
func Write(dir string, r *Report) error {
	if len(r.Runs) == 0 {
		return fmt.Errorf("report: no run to write")
	}
	for _, run := range r.Runs {
		if err := validDirName(run.Strategy); err != nil {
			return fmt.Errorf("report: strategy %q: %w", run.Strategy, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, run := range r.Runs {
		sub := filepath.Join(dir, run.Strategy)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := writeFile(filepath.Join(sub, "requests.csv"), func(w io.Writer) error { return WriteRecords(w, run.Records) }); err != nil {
			return err
		}
		ss := Series(run.Records, r.Nodes, r.Duration)
		if err := writeFile(filepath.Join(sub, "series.csv"), func(w io.Writer) error { return WriteSeries(w, ss) }); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(sub, "decisions.csv"), func(w io.Writer) error { return WriteDecisions(w, run.Decisions) }); err != nil {
			return err
		}
		panels, err := ratesPlots(ss, r.Nodes, r.Duration, "Requests per second, "+run.Strategy)
		if err != nil {
			return err
		}
		if err := savePlots(sub, "rates", panels, figWidth, panelHeight*vg.Length(len(panels))); err != nil {
			return err
		}
		if len(run.Decisions) > 0 {
			panels, err := sharesPlots(run.Decisions, r.Nodes, r.Duration, "Shares, "+run.Strategy)
			if err != nil {
				return err
			}
			if err := savePlots(sub, "shares", panels, figWidth, panelHeight*vg.Length(len(panels))); err != nil {
				return err
			}
		}
	}
	sp, err := successPlot(r.Runs, r.Nodes)
	if err != nil {
		return err
	}
	if err := savePlots(dir, "success", []*plot.Plot{sp}, figWidth, figHeight); err != nil {
		return err
	}
	hasLatency := false
	if lp, err := latencyPlot(r.Runs); err == nil {
		if err := savePlots(dir, "latency", []*plot.Plot{lp}, figWidth, figHeight); err != nil {
			return err
		}
		hasLatency = true
	}
	if err := writeFile(filepath.Join(dir, "results.json"), func(w io.Writer) error { return WriteResults(w, r.Runs) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "report.md"), func(w io.Writer) error { return WriteMarkdown(w, r, hasLatency) })
}

// WriteResults writes every result object as JSON, one per line: for each
// run the bench result, then the sim result if any.
func WriteResults(w io.Writer, runs []Run) error {
	enc := json.NewEncoder(w)
	for _, r := range runs {
		if err := enc.Encode(r.Bench); err != nil {
			return err
		}
		if r.Sim != nil {
			if err := enc.Encode(r.Sim); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFile writes a file through fill.
func writeFile(path string, fill func(io.Writer) error) error {
	var b bytes.Buffer
	if err := fill(&b); err != nil {
		return fmt.Errorf("report %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func validDirName(s string) error {
	if s == "" || len(s) > 63 || s[0] == '.' {
		return fmt.Errorf("want 1 to 63 characters, not starting with a dot")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("character %q not in [a-zA-Z0-9._-]", c)
		}
	}
	return nil
}

func pct(v float64) string { return fmt.Sprintf("%.2f %%", 100*v) }

// WriteMarkdown writes the Markdown report: the setting, bench and sim
// side by side per strategy and per node, and links to the plots and data
// (the latency plot only if withLatency).
func WriteMarkdown(w io.Writer, r *Report, withLatency bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# dfaas bench: %s\n\n", r.Scenario)
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Description)
	}
	load := r.Duration.String()
	if r.ScenarioDuration > r.Duration {
		load += fmt.Sprintf(" (the scenario's %v, cut)", r.ScenarioDuration)
	}
	fmt.Fprintf(&b, "- load: %s of open-loop Poisson requests\n", load)
	fmt.Fprintf(&b, "- nodes: %s; proxy: %s; control period %v; forecast %s; seed %d\n", strings.Join(r.Nodes, ", "), r.Proxy, r.Period, r.Forecast, r.Seed)
	fmt.Fprintf(&b, "- network: %s\n", r.Network)
	if len(r.Runs) > 0 {
		fmt.Fprintf(&b, "- oracle success rate (fluid bound): %s\n", pct(r.Runs[0].Bench.OracleSuccessRate))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n## Bench and sim side by side\n\n")
	b.WriteString("Success is served / offered. \"Of oracle\" divides the bench's success by the fluid bound. The sim column runs `dfaas sim` on the same scenario, cut to the same length.\n\n")
	b.WriteString("| strategy | bench success | sim success | bench − sim | bench of oracle | offered | forwarded | rejected | failed | p50 / p99 ms bench | p50 / p99 ms sim |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range r.Runs {
		be := run.Bench
		simRate, diff, simLat := "–", "–", "–"
		if run.Sim != nil {
			simRate = pct(run.Sim.SuccessRate)
			diff = fmt.Sprintf("%+.2f pt", 100*(be.SuccessRate-run.Sim.SuccessRate))
			simLat = fmt.Sprintf("%.1f / %.1f", run.Sim.Latency.P50, run.Sim.Latency.P99)
		}
		ofOracle := "–"
		if be.OracleSuccessRate > 0 {
			ofOracle = fmt.Sprintf("%.3f", be.SuccessRate/be.OracleSuccessRate)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %d | %d | %d | %.1f / %.1f | %s |\n", run.Strategy, pct(be.SuccessRate), simRate, diff, ofOracle,
			be.Offered, be.Forwarded, be.Rejected, be.Failed, be.Latency.P50, be.Latency.P99, simLat)
	}
	b.WriteString("\n### Per node\n\n")
	b.WriteString("Counts are by the node where requests arrived.\n\n")
	b.WriteString("| strategy | node | bench success | sim success | offered | forwarded | rejected | failed | sim forwarded | sim rejected | sim failed |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range r.Runs {
		for _, n := range run.Bench.Nodes {
			simRate, sf, sr, sl := "–", "–", "–", "–"
			if run.Sim != nil {
				for _, s := range run.Sim.Nodes {
					if s.ID == n.ID {
						simRate = pct(s.SuccessRate)
						sf, sr, sl = fmt.Sprint(s.Forwarded), fmt.Sprint(s.Rejected), fmt.Sprint(s.Failed)
					}
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d | %d | %s | %s | %s |\n", run.Strategy, n.ID, pct(n.SuccessRate), simRate,
				n.Offered, n.Forwarded, n.Rejected, n.Failed, sf, sr, sl)
		}
	}
	b.WriteString("\n## Plots\n\n")
	b.WriteString("![success per node and strategy](success.png)\n\n[SVG](success.svg)\n\n")
	if withLatency {
		b.WriteString("![latency distribution](latency.png)\n\n[SVG](latency.svg)\n\n")
	}
	for _, run := range r.Runs {
		s := run.Strategy
		fmt.Fprintf(&b, "### %s\n\n", s)
		fmt.Fprintf(&b, "![requests per second, %s](%s/rates.png)\n\n", s, s)
		if len(run.Decisions) > 0 {
			fmt.Fprintf(&b, "![shares over time, %s](%s/shares.png)\n\n", s, s)
			fmt.Fprintf(&b, "SVG: [rates](%s/rates.svg), [shares](%s/shares.svg). ", s, s)
		} else {
			fmt.Fprintf(&b, "SVG: [rates](%s/rates.svg). No decision was recorded. ", s)
		}
		fmt.Fprintf(&b, "Data: [requests](%s/requests.csv), [per-second series](%s/series.csv), [decisions](%s/decisions.csv).\n\n", s, s, s)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
