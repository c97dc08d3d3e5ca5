package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/peer/quic"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// benchMaxProcNodes bounds the size of a federation run as processes on
// one machine.
const benchMaxProcNodes = 64

// runBench runs a scenario on real processes — per node a dfaas faas and a
// dfaas agent (with its proxy), in network namespaces when it can — sends
// the scenario's load, and reports like dfaas sim, side by side with it.
func runBench(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("bench", io)
	reg := io.strategies
	scenario := fs.String("scenario", "", "scenario `FILE` (JSON, see the scenarios README)")
	stratName := fs.String("strategy", defaultStrategy, "strategy `NAME` ("+strings.Join(reg.Names(), ", ")+") or all (every one but external)")
	proxyKind := fs.String("proxy", "embedded", "data plane of every node: embedded or haproxy")
	duration := fs.Duration("duration", 0, "cut the run to this length (the load is cut, not compressed; default: the scenario's duration)")
	out := fs.String("out", "", "`DIR` for the report, plots and data (default: bench-<scenario name>)")
	asJSON := fs.Bool("json", false, "print one JSON result object (mode bench) per strategy per line instead of a table")
	period := fs.Duration("period", 0, "control period of the agents (default: the scenario's)")
	fc := fs.String("forecast", "auto", "load forecaster of the agents and the simulator: none, or a method of dfaas forecast ("+strings.Join(forecast.Methods(), ", ")+")")
	netns := fs.String("netns", "auto", "network namespaces per node: auto (when root), on, off (loopback)")
	prefix := fs.String("netns-prefix", "", "`PREFIX` of the namespace names (default: dfb<pid>x<random>)")
	trace := fs.String("trace", "", "replace the scenario's load with a trace `FILE`: the original's k6 JSON {\"<function>\": {\"<node>\": [rates]}} or a CSV time,rate")
	traceStage := fs.Duration("trace-stage", 0, "length of each rate of the trace (required for k6 traces; default for CSV: the spacing of its rows)")
	traceNodes := fs.String("trace-nodes", "", "map trace node names to scenario nodes: TRACE=NODE,...")
	traceFuncs := fs.String("trace-functions", "", "map trace function names to scenario functions: TRACE=FUNCTION,...")
	traceTo := fs.String("trace-to", "", "with a CSV trace: `NODE/FUNCTION` that receives its load")
	traceScale := fs.Float64("trace-scale", 1, "multiply the trace's rates by this")
	save := fs.String("save-scenario", "", "write the scenario as run (trace applied, cut) to `FILE`, for dfaas sim")
	withSim := fs.Bool("sim", true, "also simulate the same scenario with each strategy and report both side by side")
	timeout := fs.Duration("timeout", 10*time.Second, "time-out of each user request")
	formTimeout := fs.Duration("form-timeout", 60*time.Second, "how long to wait for the federation to form before sending load")
	logLevel := fs.String("log-level", "warn", "log level of the bench and of the nodes' processes")
	bin := fs.String("bin", "", "the dfaas executable the nodes run (default: this one)")
	progress := fs.Bool("progress", true, "draw a progress bar on standard error")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: dfaas bench --scenario FILE [--strategy NAME|all] [--proxy embedded|haproxy] [--duration D] [--out DIR] [--json]\n\n"+
			"Runs a scenario on real processes on this machine: per node a dfaas faas with the\n"+
			"scenario's functions and capacities and a dfaas agent with QUIC peers and the chosen\n"+
			"proxy; as root, each node in its own network namespace, with the scenario's links and\n"+
			"RTTs (otherwise on loopback, and the report says so). Sends the scenario's load as\n"+
			"open-loop Poisson HTTP traffic, simulates the same scenario, and writes a report with\n"+
			"plots and data. Everything it starts is torn down at the end and on Ctrl-C.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *scenario == "" {
		return usageError{"bench: --scenario FILE is required"}
	}
	log, err := newLogger(io.err, *logLevel)
	if err != nil {
		return err
	}
	var names []string
	switch *stratName {
	case "all":
		names = slices.DeleteFunc(reg.Names(), func(n string) bool { return n == "external" })
	default:
		if !slices.Contains(reg.Names(), *stratName) {
			return usageError{fmt.Sprintf("bench: --strategy %q: unknown (known: %s, all)", *stratName, strings.Join(reg.Names(), ", "))}
		}
		names = []string{*stratName}
	}
	if *proxyKind != "embedded" && *proxyKind != "haproxy" {
		return usageError{fmt.Sprintf("bench: --proxy %q: want embedded or haproxy", *proxyKind)}
	}
	if *duration < 0 {
		return usageError{fmt.Sprintf("bench: --duration %v is negative", *duration)}
	}
	if *timeout <= 0 || *formTimeout <= 0 {
		return usageError{"bench: --timeout and --form-timeout must be positive"}
	}
	var fcf forecast.Factory
	if *fc != "none" {
		if fcf, err = forecast.ByName(*fc); err != nil {
			return usageError{"bench: --forecast: " + err.Error()}
		}
	}
	if *netns != "auto" && *netns != "on" && *netns != "off" {
		return usageError{fmt.Sprintf("bench: --netns %q: want auto, on or off", *netns)}
	}

	sc, err := sim.LoadScenario(*scenario)
	if err != nil {
		return err
	}
	if *trace != "" {
		nodes, err := parseBenchMap("--trace-nodes", *traceNodes)
		if err != nil {
			return err
		}
		funcs, err := parseBenchMap("--trace-functions", *traceFuncs)
		if err != nil {
			return err
		}
		if err := applyTrace(sc, benchTraceOptions{path: *trace, stage: *traceStage, nodes: nodes, funcs: funcs, to: *traceTo, scale: *traceScale}); err != nil {
			return err
		}
	} else if *traceStage != 0 || *traceNodes != "" || *traceFuncs != "" || *traceTo != "" {
		return usageError{"bench: --trace-stage, --trace-nodes, --trace-functions and --trace-to need --trace"}
	}
	full := sc.Duration.D()
	if *duration > 0 && *duration < full {
		sc.Duration = sim.Duration(*duration)
	}
	if *period > 0 {
		if *period < 100*time.Millisecond {
			return usageError{fmt.Sprintf("bench: --period %v: want at least 100ms", *period)}
		}
		sc.Period = sim.Duration(*period)
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	if len(sc.Nodes) > benchMaxProcNodes {
		return fmt.Errorf("bench: %d nodes: at most %d run as processes on one machine (use dfaas sim)", len(sc.Nodes), benchMaxProcNodes)
	}
	if *save != "" {
		if err := writeScenario(*save, sc); err != nil {
			return err
		}
	}
	outDir := *out
	if outDir == "" {
		outDir = "bench-" + sc.Name
	}
	exe := *bin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("bench: the dfaas executable: %w", err)
		}
	}

	progressW := io.err
	if !*progress {
		progressW = nil
	}
	res, err := bench(ctx, benchOptions{
		sc: sc, full: full, strategies: names, registry: reg, proxy: *proxyKind, forecast: *fc, forecaster: fcf,
		netns: *netns, prefix: *prefix, withSim: *withSim, timeout: *timeout, form: *formTimeout,
		logLevel: *logLevel, bin: exe, log: log, progress: progressW,
		emit: func(r sim.Result) {
			if *asJSON {
				b, _ := json.Marshal(r)
				fmt.Fprintf(io.out, "%s\n", b)
			}
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("bench interrupted: everything it started was stopped and removed: %w", err)
		}
		return err
	}
	if err := report.Write(outDir, res); err != nil {
		return err
	}
	if !*asJSON {
		printBenchTable(io.out, res)
	}
	fmt.Fprintf(io.err, "report: %s\n", filepath.Join(outDir, "report.md"))
	return nil
}

// benchOptions configure bench.
type benchOptions struct {
	sc         *sim.Scenario // cut
	full       time.Duration // the uncut duration
	strategies []string
	registry   *strategy.Registry
	proxy      string
	forecast   string
	forecaster forecast.Factory
	netns      string
	prefix     string
	withSim    bool
	timeout    time.Duration
	form       time.Duration
	logLevel   string
	bin        string
	log        *slog.Logger
	progress   io.Writer
	emit       func(sim.Result) // called with each bench result as it is ready
}

// bench runs every strategy of o on the scenario and returns the report.
// Whatever it creates (processes, namespaces, files) is removed before it
// returns.
func bench(ctx context.Context, o benchOptions) (*report.Report, error) {
	sc := o.sc
	n := len(sc.Nodes)
	idx := map[string]int{}
	for i, nd := range sc.Nodes {
		idx[nd.ID] = i
	}
	var dlinks []benchLink
	linked := map[int][]int{}
	for _, l := range sc.Links {
		a, b := idx[l.A], idx[l.B]
		half := l.RTT.D() / 2
		dlinks = append(dlinks, benchLink{a, b, half}, benchLink{b, a, half})
		linked[a] = append(linked[a], b)
		linked[b] = append(linked[b], a)
	}
	rep := &report.Report{
		Scenario: sc.Name, Description: sc.Description, Duration: sc.Duration.D(), ScenarioDuration: o.full,
		Period: sc.Period.D(), Proxy: o.proxy, Forecast: o.forecast, Seed: sc.Seed,
	}
	for _, nd := range sc.Nodes {
		rep.Nodes = append(rep.Nodes, nd.ID)
	}

	var nw benchNet
	useNetns := false
	reason := "--netns off"
	switch o.netns {
	case "on":
		if err := benchNetnsAvailable(); err != nil {
			return nil, err
		}
		useNetns = true
	case "auto":
		if err := benchNetnsAvailable(); err != nil {
			reason = err.Error()
		} else {
			useNetns = true
		}
	}
	if useNetns {
		prefix := o.prefix
		if prefix == "" {
			benchSweepStale()
			prefix = benchDefaultPrefix()
		}
		var err error
		if nw, err = benchOpenNetns(prefix, n, dlinks); err != nil {
			return nil, err
		}
	} else {
		var err error
		if nw, err = newBenchLoopback(n, reason); err != nil {
			return nil, err
		}
		o.log.Warn("bench on loopback: links and RTTs are not emulated", "reason", reason)
		// Every node reaches every other.
		linked = map[int][]int{}
		for i := range n {
			for j := range n {
				if i != j {
					linked[i] = append(linked[i], j)
				}
			}
		}
		rep.Notes = append(rep.Notes, "not run in network namespaces ("+reason+"): the scenario's links and RTTs were not emulated")
	}
	defer nw.close()
	rep.Network = nw.describe()

	work, err := os.MkdirTemp("", "dfaas-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(work)
	// HAProxy's sockets live in <work>/<run>/<node>/h, and a UNIX socket
	// path is short (the controller allows 90 bytes for the directory).
	if o.proxy == "haproxy" && len(work)+len("/00/00/h") > 90 {
		return nil, fmt.Errorf("bench: temporary directory %s is too long for HAProxy's UNIX sockets: set TMPDIR to a shorter one", work)
	}
	keys := make([]benchKey, n)
	for i := range n {
		k, err := quic.GenerateKey()
		if err != nil {
			return nil, err
		}
		keys[i] = benchKey{file: filepath.Join(work, "key"+strconv.Itoa(i)+".pem"), id: string(k.ID())}
		if err := quic.WriteKeyFile(keys[i].file, k); err != nil {
			return nil, err
		}
	}
	oracle := sim.OracleSuccessRate(sc)
	for k, name := range o.strategies {
		run := report.Run{Strategy: name}
		if o.withSim {
			r, err := sim.Run(ctx, sc, sim.Config{
				Strategy:   name,
				New:        func() (strategy.Strategy, error) { return o.registry.New(name, nil) },
				Forecaster: o.forecaster,
				// The agents get no node usage (bench_cluster.go): neither
				// do the simulated ones.
				NoResources: true,
			})
			if err != nil {
				return nil, fmt.Errorf("bench: simulating %s: %w", name, err)
			}
			run.Sim = &r
		}
		dir := filepath.Join(work, strconv.Itoa(k))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		got, err := benchRun(ctx, benchRunConfig{
			sc: sc, strategy: name, proxy: o.proxy, period: sc.Period.D(), forecast: o.forecast,
			net: nw, links: linked, bin: o.bin, dir: dir, keys: keys, logLevel: o.logLevel,
			timeout: o.timeout, form: o.form, progress: o.progress,
			label: fmt.Sprintf("%s (%d/%d)", name, k+1, len(o.strategies)), log: o.log,
		})
		if err != nil {
			return nil, fmt.Errorf("bench %s: %w", name, err)
		}
		run.Records, run.Decisions = got.records, got.decisions
		rep.Notes = append(rep.Notes, got.notes...)
		run.Bench = report.Summarize(sc.Name, name, rep.Nodes, run.Records)
		run.Bench.OracleSuccessRate = oracle
		if o.emit != nil {
			o.emit(run.Bench)
		}
		rep.Runs = append(rep.Runs, run)
	}
	if err := nw.close(); err != nil {
		return nil, fmt.Errorf("bench: tear down: %w", err)
	}
	return rep, nil
}

// printBenchTable prints bench and sim side by side, one row per strategy.
func printBenchTable(w io.Writer, r *report.Report) {
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
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
