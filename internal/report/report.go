package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Run is what one strategy did in one run of the scenario.
type Run struct {
	// Strategy names it; it also names the run's sub-directory, so it
	// must be 1 to 63 characters from [a-zA-Z0-9._-], not starting with
	// a dot.
	Strategy string
	// Repeat numbers the run, 1 to Report.Repeats (0 is taken as 1);
	// Seed is the scenario's seed in it (its arrivals, phases and
	// simulator).
	Repeat int
	Seed   uint64
	// Bench is the benchmark's result object (Summarize of Records, with
	// the oracle filled in).
	Bench sim.Result
	// Sim is the simulator's result on the same scenario and seed, if it
	// was run; SimSeries what its nodes observed period by period.
	Sim       *sim.Result
	SimSeries []SimPeriod
	// SimLatencies are the latencies of the requests the simulator
	// served, for its latency distribution.
	SimLatencies []time.Duration
	// Records are the user requests, Decisions the routes in force over
	// time.
	Records   []Record
	Decisions []Decision
}

// Report is a whole bench invocation: one scenario, one or more runs of
// one or more strategies.
type Report struct {
	Scenario    string
	Description string
	// From is where the run's window starts in the scenario's time;
	// Duration is the length of the load (the window); ScenarioDuration
	// the scenario's own.
	From, Duration, ScenarioDuration time.Duration
	Period                           time.Duration
	Proxy                            string // embedded or haproxy
	Network                          string // how the nodes were connected
	Forecast                         string
	// Seed is the scenario's seed: run r uses Seed+r−1.
	Seed uint64
	// Repeats is the number of runs of each strategy (0 is taken as 1).
	Repeats int
	// Nodes are the scenario's node IDs in order; Unloaded those the
	// scenario sends no load to in the window.
	Nodes, Unloaded []string
	// Runs are in the order they ran.
	Runs []Run
	// Notes are extra lines for the report (one bullet each).
	Notes []string
}

// Strategies returns the strategies of the runs, in the order they first
// ran.
func (r *Report) Strategies() []string {
	var out []string
	seen := map[string]bool{}
	for _, run := range r.Runs {
		if !seen[run.Strategy] {
			seen[run.Strategy] = true
			out = append(out, run.Strategy)
		}
	}
	return out
}

// RunsOf returns the runs of a strategy, in order.
func (r *Report) RunsOf(strategy string) []Run {
	var out []Run
	for _, run := range r.Runs {
		if run.Strategy == strategy {
			out = append(out, run)
		}
	}
	return out
}

// Results returns a strategy's bench result over its runs and, if every
// run was simulated, the simulator's.
func (r *Report) Results(strategy string) (Result, *Result) {
	runs := r.RunsOf(strategy)
	var bench, simulated []sim.Result
	var seeds []uint64
	for _, run := range runs {
		bench = append(bench, run.Bench)
		seeds = append(seeds, run.Seed)
		if run.Sim != nil {
			simulated = append(simulated, *run.Sim)
		}
	}
	b := Aggregate(bench, seeds, 0)
	if len(simulated) != len(runs) || len(runs) == 0 {
		return b, nil
	}
	s := Aggregate(simulated, seeds, 0)
	return b, &s
}

// repeats returns the number of runs per strategy.
func (r *Report) repeats() int { return max(1, r.Repeats) }

// runDir returns the directory of a run's files, relative to the
// report's: the strategy's, or with repeats its run<r> sub-directory.
func (r *Report) runDir(run Run) string {
	if r.repeats() == 1 {
		return run.Strategy
	}
	return filepath.Join(run.Strategy, "run"+strconv.Itoa(max(1, run.Repeat)))
}

// window describes the part of the scenario that ran.
func (r *Report) window() string {
	if r.From == 0 && r.Duration >= r.ScenarioDuration {
		return r.Duration.String()
	}
	return fmt.Sprintf("[%v, %v) of %v", r.From, r.From+r.Duration, r.ScenarioDuration)
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
	for _, run := range r.Runs {
		if err := writeRun(filepath.Join(dir, r.runDir(run)), r, run); err != nil {
			return err
		}
	}
	figs, err := summaryFigures(r)
	if err != nil {
		return err
	}
	for _, f := range figs {
		if err := f.save(dir); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, "results.json"), func(w io.Writer) error { return WriteResults(w, r) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "report.md"), func(w io.Writer) error { return WriteMarkdown(w, r, figs) })
}

// writeRun writes the data and figures of one run into dir.
func writeRun(dir string, r *Report, run Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	routes := NewRoutes(run.Decisions)
	ss := Series(run.Records, routes, r.Nodes, r.Duration)
	files := []struct {
		name string
		fill func(io.Writer) error
	}{
		{"requests.csv", func(w io.Writer) error { return WriteRecords(w, run.Records, routes) }},
		{"series.csv", func(w io.Writer) error { return WriteSeries(w, ss) }},
		{"decisions.csv", func(w io.Writer) error { return WriteDecisions(w, run.Decisions) }},
	}
	if len(run.SimSeries) > 0 {
		files = append(files, struct {
			name string
			fill func(io.Writer) error
		}{"sim-series.csv", func(w io.Writer) error { return WriteSimSeries(w, run.SimSeries) }})
	}
	if len(run.SimLatencies) > 0 {
		files = append(files, struct {
			name string
			fill func(io.Writer) error
		}{"sim-latency.csv", func(w io.Writer) error { return WriteSimLatencies(w, run.SimLatencies) }})
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.fill); err != nil {
			return err
		}
	}
	figs, err := runFigures(r, run, ss)
	if err != nil {
		return err
	}
	for _, f := range figs {
		if err := f.save(dir); err != nil {
			return err
		}
	}
	return nil
}

// WriteResults writes the result objects as JSON, one per line: for each
// strategy the bench result over its runs, then the simulator's; then
// each run's, bench then sim.
func WriteResults(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	for _, s := range r.Strategies() {
		b, sm := r.Results(s)
		if err := enc.Encode(b); err != nil {
			return err
		}
		if sm != nil {
			if err := enc.Encode(sm); err != nil {
				return err
			}
		}
	}
	for _, run := range r.Runs {
		if err := enc.Encode(RunResult(run.Bench, max(1, run.Repeat), run.Seed)); err != nil {
			return err
		}
		if run.Sim != nil {
			if err := enc.Encode(RunResult(*run.Sim, max(1, run.Repeat), run.Seed)); err != nil {
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
