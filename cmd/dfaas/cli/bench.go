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
	"github.com/dfaas-go/dfaas/internal/report"
)

// runBench runs a scenario on real processes and reports like dfaas sim,
// side by side with it.
func runBench(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("bench", io)
	reg := io.strategies
	in := bench.Input{Load: loadScenario}
	o := bench.Options{Registry: reg}
	var out string
	var asJSON, progress bool
	fs.StringVar(&in.Scenario, "scenario", "", "scenario `FILE` or built-in scenario NAME (a scenario converted from a trace is a file like any other)")
	stratName := fs.String("strategy", defaultStrategy, "strategy `NAME` ("+strings.Join(reg.Offline(), ", ")+") or all (every one, interleaved)")
	fs.StringVar(&o.Params, "params", "", "strategy parameters as a JSON object (with a single --strategy), given to the agents as --strategy-params and to the simulator")
	fs.IntVar(&o.Repeat, "repeat", 1, "run each strategy `K` times, with seeds seed..seed+K-1, on a fresh federation each time, and report means with 95% confidence intervals")
	fs.StringVar(&o.Proxy, "proxy", "embedded", "data plane of every node: embedded or haproxy")
	fs.StringVar(&o.FaaS, "faas", "openfaas", "API of every node's FaaS (dfaas faas) that its agent uses: openfaas or openwhisk")
	fs.DurationVar(&in.From, "from", 0, "start of the window of the scenario to run (its time is shifted to start at 0)")
	fs.DurationVar(&in.Until, "until", 0, "end of the window (default: the scenario's end)")
	fs.DurationVar(&in.Duration, "duration", 0, "length of the window: --until = --from + D (the load is cut, not compressed)")
	fs.StringVar(&out, "out", "", "`DIR` for the report, plots and data (default: bench-<scenario name>)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON result object per strategy (over its runs) per line instead of a table")
	fs.DurationVar(&in.Period, "period", 0, "control period of the agents (default: the scenario's)")
	fs.BoolVar(&o.Plain, "insecure-plain-data-plane", false, "forwarded requests travel as plain HTTP between the nodes instead of mutual TLS (lab only)")
	fs.StringVar(&o.Forecast, "forecast", "auto", "load forecaster of the agents and the simulator: none, or a method of dfaas forecast ("+strings.Join(forecast.Methods(), ", ")+")")
	fs.StringVar(&o.Netns, "netns", "auto", "network namespaces per node: auto (when root), on, off (loopback)")
	fs.StringVar(&o.Prefix, "netns-prefix", "", "`PREFIX` of the namespace names (default: dfb<pid>x<random>)")
	var tf traceFlags
	tf.register(fs)
	fs.StringVar(&in.Save, "save-scenario", "", "write the scenario as run (trace applied, window shifted to 0) to `FILE`, for dfaas sim")
	fs.BoolVar(&o.Sim, "sim", true, "also simulate the same scenario with each strategy and seed and report both side by side")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "time-out of each user request")
	fs.DurationVar(&o.Form, "form-timeout", 60*time.Second, "how long to wait for the federation to form before sending load")
	fs.StringVar(&o.LogLevel, "log-level", "warn", "log level of the bench and of the nodes' processes")
	fs.StringVar(&o.Bin, "bin", "", "the dfaas executable the nodes run (default: this one)")
	fs.BoolVar(&progress, "progress", true, "report progress on standard error (redrawn in place on a terminal, else a line every 5 s)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if o.Strategies, err = strategyNames(reg, *stratName); err != nil {
		return err
	}
	if err := checkParams(reg, o.Strategies, o.Params); err != nil {
		return err
	}
	if err := checkBenchFlags(&o, &in); err != nil {
		return err
	}
	if in.Trace, err = tf.options(); err != nil {
		return err
	}
	if o.Log, err = newLogger(io.err, o.LogLevel); err != nil {
		return err
	}
	if o.Plain {
		o.Log.Warn("--insecure-plain-data-plane: forwarded requests and their credentials travel as plain HTTP between the nodes")
	}
	p, err := bench.Prepare(in)
	if err != nil {
		return err
	}
	o.Scenario, o.From, o.Full, o.Unloaded = p.Scenario, p.From, p.Full, p.Unloaded
	if out == "" {
		out = "bench-" + o.Scenario.Name
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("the dfaas executable (--bin): %w", err)
		}
	}
	if progress {
		o.Progress = io.err
	}
	if asJSON {
		o.Emit = func(r report.Result) {
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
	if err := report.Write(out, rep); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if !asJSON {
		report.WriteTable(io.out, rep)
	}
	fmt.Fprintf(io.err, "report: %s\n", filepath.Join(out, "report.md"))
	return nil
}

// checkBenchFlags checks the flags' values and sets the forecaster.
func checkBenchFlags(o *bench.Options, in *bench.Input) error {
	switch {
	case in.Scenario == "":
		return usageError{"--scenario FILE|NAME is required"}
	case o.Proxy != "embedded" && o.Proxy != "haproxy":
		return usageError{fmt.Sprintf("--proxy %q: want embedded or haproxy", o.Proxy)}
	case o.FaaS != "openfaas" && o.FaaS != "openwhisk":
		return usageError{fmt.Sprintf("--faas %q: want openfaas or openwhisk", o.FaaS)}
	case o.Repeat < 1 || o.Repeat > bench.MaxRepeat:
		return usageError{fmt.Sprintf("--repeat %d: want 1 to %d", o.Repeat, bench.MaxRepeat)}
	case in.Period != 0 && in.Period < 100*time.Millisecond:
		return usageError{fmt.Sprintf("--period %v: want at least 100ms", in.Period)}
	case o.Timeout <= 0 || o.Form <= 0:
		return usageError{"--timeout and --form-timeout must be positive"}
	case o.Netns != "auto" && o.Netns != "on" && o.Netns != "off":
		return usageError{fmt.Sprintf("--netns %q: want auto, on or off", o.Netns)}
	}
	var err error
	o.Forecaster, err = bench.CheckForecast(o.Forecast)
	return err
}
