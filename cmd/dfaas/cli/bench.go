package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/bench"
	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// benchFlags are the flags of dfaas bench beyond bench.Options.
type benchFlags struct {
	scenario, out, save string
	duration, period    time.Duration
	asJSON, progress    bool
	trace               loadgen.TraceOptions
	traceNodes, traceFn string
}

// runBench runs a scenario on real processes and reports like dfaas sim,
// side by side with it.
func runBench(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("bench", io)
	reg := io.strategies
	var f benchFlags
	o := bench.Options{Registry: reg}
	fs.StringVar(&f.scenario, "scenario", "", "scenario `FILE` or built-in scenario NAME")
	stratName := fs.String("strategy", defaultStrategy, "strategy `NAME` ("+strings.Join(reg.Names(), ", ")+") or all (every one but external)")
	fs.StringVar(&o.Proxy, "proxy", "embedded", "data plane of every node: embedded or haproxy")
	fs.DurationVar(&f.duration, "duration", 0, "cut the run to this length (the load is cut, not compressed; default: the scenario's duration)")
	fs.StringVar(&f.out, "out", "", "`DIR` for the report, plots and data (default: bench-<scenario name>)")
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON result object (mode bench) per strategy per line instead of a table")
	fs.DurationVar(&f.period, "period", 0, "control period of the agents (default: the scenario's)")
	fs.StringVar(&o.Forecast, "forecast", "auto", "load forecaster of the agents and the simulator: none, or a method of dfaas forecast ("+strings.Join(forecast.Methods(), ", ")+")")
	fs.StringVar(&o.Netns, "netns", "auto", "network namespaces per node: auto (when root), on, off (loopback)")
	fs.StringVar(&o.Prefix, "netns-prefix", "", "`PREFIX` of the namespace names (default: dfb<pid>x<random>)")
	fs.StringVar(&f.trace.Path, "trace", "", "replace the scenario's load with a trace `FILE`: the original's k6 JSON {\"<function>\": {\"<node>\": [rates]}} or a CSV time,rate")
	fs.DurationVar(&f.trace.Stage, "trace-stage", 0, "length of each rate of the trace (required for k6 traces; default for CSV: the spacing of its rows)")
	fs.StringVar(&f.traceNodes, "trace-nodes", "", "map trace node names to scenario nodes: TRACE=NODE,...")
	fs.StringVar(&f.traceFn, "trace-functions", "", "map trace function names to scenario functions: TRACE=FUNCTION,...")
	fs.StringVar(&f.trace.To, "trace-to", "", "with a CSV trace: `NODE/FUNCTION` that receives its load")
	fs.Float64Var(&f.trace.Scale, "trace-scale", 1, "multiply the trace's rates by this")
	fs.StringVar(&f.save, "save-scenario", "", "write the scenario as run (trace applied, cut) to `FILE`, for dfaas sim")
	fs.BoolVar(&o.Sim, "sim", true, "also simulate the same scenario with each strategy and report both side by side")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "time-out of each user request")
	fs.DurationVar(&o.Form, "form-timeout", 60*time.Second, "how long to wait for the federation to form before sending load")
	fs.StringVar(&o.LogLevel, "log-level", "warn", "log level of the bench and of the nodes' processes")
	fs.StringVar(&o.Bin, "bin", "", "the dfaas executable the nodes run (default: this one)")
	fs.BoolVar(&f.progress, "progress", true, "report progress on standard error (redrawn in place on a terminal, else a line every 5 s)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if o.Strategies, err = strategyNames(reg, *stratName); err != nil {
		return err
	}
	if err := checkBenchFlags(&o, &f); err != nil {
		return err
	}
	if o.Log, err = newLogger(io.err, o.LogLevel); err != nil {
		return err
	}
	if o.Scenario, o.Full, err = benchScenario(f); err != nil {
		return err
	}
	if f.out == "" {
		f.out = "bench-" + o.Scenario.Name
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("the dfaas executable (--bin): %w", err)
		}
	}
	if f.progress {
		o.Progress = io.err
	}
	o.Emit = func(r sim.Result) {
		if f.asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintf(io.out, "%s\n", b)
		}
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("bench interrupted: everything it started was stopped and removed: %w", err)
		}
		return err
	}
	if err := report.Write(f.out, rep); err != nil {
		return fmt.Errorf("--out %s: %w", f.out, err)
	}
	if !f.asJSON {
		report.WriteTable(io.out, rep)
	}
	fmt.Fprintf(io.err, "report: %s\n", filepath.Join(f.out, "report.md"))
	return nil
}

// checkBenchFlags checks the flags' values and sets the forecaster.
func checkBenchFlags(o *bench.Options, f *benchFlags) error {
	switch {
	case f.scenario == "":
		return usageError{"--scenario FILE|NAME is required"}
	case o.Proxy != "embedded" && o.Proxy != "haproxy":
		return usageError{fmt.Sprintf("--proxy %q: want embedded or haproxy", o.Proxy)}
	case f.duration < 0:
		return usageError{fmt.Sprintf("--duration %v is negative", f.duration)}
	case f.period != 0 && f.period < 100*time.Millisecond:
		return usageError{fmt.Sprintf("--period %v: want at least 100ms", f.period)}
	case o.Timeout <= 0 || o.Form <= 0:
		return usageError{"--timeout and --form-timeout must be positive"}
	case o.Netns != "auto" && o.Netns != "on" && o.Netns != "off":
		return usageError{fmt.Sprintf("--netns %q: want auto, on or off", o.Netns)}
	case f.trace.Path == "" && (f.trace.Stage != 0 || f.traceNodes != "" || f.traceFn != "" || f.trace.To != ""):
		return usageError{"--trace-stage, --trace-nodes, --trace-functions and --trace-to need --trace"}
	}
	if o.Forecast != "none" {
		fc, err := forecast.ByName(o.Forecast)
		if err != nil {
			return usageError{"--forecast: " + err.Error()}
		}
		o.Forecaster = fc
	}
	var err error
	if f.trace.Nodes, err = loadgen.ParseMap("--trace-nodes", f.traceNodes); err != nil {
		return err
	}
	f.trace.Functions, err = loadgen.ParseMap("--trace-functions", f.traceFn)
	return err
}

// benchScenario loads the scenario, applies the trace, the cut and the
// period, saves it if asked, and returns it with its uncut duration.
func benchScenario(f benchFlags) (*sim.Scenario, time.Duration, error) {
	sc, err := loadScenario(f.scenario)
	if err != nil {
		return nil, 0, err
	}
	if f.trace.Path != "" {
		if err := loadgen.ApplyTrace(sc, f.trace); err != nil {
			return nil, 0, err
		}
	}
	full := sc.Duration.D()
	if f.duration > 0 && f.duration < full {
		sc.Duration = sim.Duration(f.duration)
	}
	if f.period > 0 {
		sc.Period = sim.Duration(f.period)
	}
	if err := sc.Validate(); err != nil {
		return nil, 0, err
	}
	if len(sc.Nodes) > bench.MaxNodes {
		return nil, 0, fmt.Errorf("%d nodes: at most %d run as processes on one machine (use dfaas sim)", len(sc.Nodes), bench.MaxNodes)
	}
	if f.save != "" {
		if err := sc.Save(f.save); err != nil {
			return nil, 0, fmt.Errorf("--save-scenario: %w", err)
		}
	}
	return sc, full, nil
}
