package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
	"github.com/dfaas-go/dfaas/strategy/sim/azure"
)

// strategyNames returns the strategies --strategy value names: one, or
// with "all" every one that runs without an advisor (Registry.Offline).
func strategyNames(reg *strategy.Registry, value string) ([]string, error) {
	if value == "all" {
		return reg.Offline(), nil
	}
	if !slices.Contains(reg.Names(), value) {
		return nil, usageError{fmt.Sprintf("--strategy %q: unknown (known: %s, all)", value, strings.Join(reg.Offline(), ", "))}
	}
	if reg.NeedsAdvisor(value) {
		return nil, usageError{fmt.Sprintf("--strategy %q: applies an outside decision model's advice (the agent's --advisor), which this command does not take; without it the node would serve everything locally", value)}
	}
	return []string{value}, nil
}

// registerGenerate registers the flags of --generate.
func registerGenerate(fs *flag.FlagSet, gen *sim.GenerateConfig) {
	fs.IntVar(&gen.Nodes, "generate", 0, "instead of --scenario, simulate a generated scenario with `N` nodes")
	fs.IntVar(&gen.Degree, "degree", 4, "with --generate: links per node (random regular topology)")
	fs.Float64Var(&gen.Rate, "rate", 100, "with --generate: user load per node, req/s")
	fs.DurationVar(&gen.Duration, "duration", 120*time.Second, "with --generate: length of the run")
	fs.Uint64Var(&gen.Seed, "seed", 1, "with --generate: seed")
}

// checkModeFlags refuses a flag of another mode than the one given
// (--scenario, --generate, --family or --azure), which would otherwise be
// ignored: --seed with --scenario, for one, does not change its seed.
func checkModeFlags(fs *flag.FlagSet, scenario, generate bool, sf simFlags) error {
	modes := map[string]bool{"--generate": generate, "--family": sf.family.Size != 0, "--azure": sf.azureDir != "", "--scenario": scenario}
	owner := func(name string) string {
		switch {
		case name == "degree" || name == "rate" || name == "duration" || name == "seed":
			return "--generate"
		case name == "family-seed":
			return "--family"
		case strings.HasPrefix(name, "azure-"):
			return "--azure"
		case strings.HasPrefix(name, "trace"):
			return "--scenario"
		}
		return ""
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if mode := owner(f.Name); err == nil && mode != "" && !modes[mode] {
			hint := ""
			if f.Name == "seed" {
				hint = ` (a scenario's seed is its "seed" field; --repeat K runs K seeds)`
			}
			err = usageError{fmt.Sprintf("--%s is for %s%s", f.Name, mode, hint)}
		}
	})
	return err
}

// checkParams checks --params: for a single strategy, and accepted by it.
func checkParams(reg *strategy.Registry, names []string, params string) error {
	if params != "" && len(names) > 1 {
		return usageError{"--params needs a single --strategy"}
	}
	if _, err := reg.New(names[0], json.RawMessage(params)); err != nil {
		return usageError{fmt.Sprintf("--params: %v", err)}
	}
	return nil
}

// simFlags are the flags of the evaluation modes of dfaas sim.
type simFlags struct {
	eval       sim.EvalConfig
	references bool
	family     sim.FamilyConfig
	azureDir   string
	azure      azure.Config
	azureTop   int
	depth      usage.QueueDepth
	trace      traceFlags // with --scenario: a trace that replaces its load
}

func (f *simFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.references, "references", true, "also run the clairvoyant controller and each strategy with a perfect forecast, and split the gap to the oracle (false: about a third of the time)")
	fs.IntVar(&f.eval.Repeat, "repeat", 0, "run the scenario with `K` arrival seeds (seed, seed+1, ...) and report means with 95% confidence intervals")
	fs.IntVar(&f.eval.Parallel, "parallel", 0, "simulations run at once (default: the number of CPUs)")
	fs.IntVar(&f.family.Size, "family", 0, "instead of --scenario, run `N` random federations of the family generator (docs/evaluation.md) and print each strategy's distribution")
	fs.Uint64Var(&f.family.Seed, "family-seed", 1, "with --family: the family's seed")
	fs.StringVar(&f.azureDir, "azure", "", "instead of --scenario, build a scenario from the Azure Functions 2019 trace in `DIR` (invocations.csv, durations.csv, memory.csv)")
	fs.IntVar(&f.azureTop, "azure-functions", 12, "with --azure: the busiest `N` functions")
	fs.IntVar(&f.azure.Nodes, "azure-nodes", 4, "with --azure: nodes in the ring")
	fs.IntVar(&f.azure.Replicas, "azure-replicas", 2, "with --azure: nodes running each function")
	fs.Float64Var(&f.azure.Level, "azure-level", 0.7, "with --azure: each function's mean load over its capacity")
	fs.IntVar(&f.azure.From, "azure-from", 0, "with --azure: first minute of the window")
	fs.IntVar(&f.azure.Minutes, "azure-minutes", 0, "with --azure: minutes in the window (default: to the end)")
	fs.Float64Var(&f.azure.Compress, "azure-compress", 60, "with --azure: time compression (60: a trace minute lasts a second)")
	fs.Var(&f.depth, "queue-depth", "every function's queue cap, in waiting requests per concurrency slot, as the agent's --queue-depth (`K`; 0: no cap; default: the scenario's queue_depth, 4 if it has none)")
}

// setDepth applies --queue-depth, if given, to the scenarios.
func (f *simFlags) setDepth(scs ...*sim.Scenario) {
	for _, sc := range scs {
		sc.QueueDepth = cmp.Or(f.depth.Depth(), sc.QueueDepth)
	}
}

// runSim simulates a scenario (or a family of them) with one or every
// strategy and prints the results as a table or as JSON.
func runSim(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("sim", io)
	scenario := fs.String("scenario", "", "scenario `FILE` or built-in scenario NAME")
	reg := io.strategies
	stratName := fs.String("strategy", defaultStrategy, "strategy `NAME` ("+strings.Join(reg.Offline(), ", ")+") or all")
	params := fs.String("params", "", "strategy parameters as a JSON object (with a single --strategy)")
	asJSON := fs.Bool("json", false, "print one JSON result object per strategy per line (with --family, one report) instead of a table")
	nodes := fs.Bool("nodes", false, "also print one table per strategy with a row per node")
	fcName := fs.String("forecast", "", "forecast each function's offered rate with `METHOD` ("+strings.Join(forecast.Methods(), ", ")+"), as the agent's --forecast; by default the rate of the last period")
	var gen sim.GenerateConfig
	registerGenerate(fs, &gen)
	save := fs.String("save", "", "also write the scenario as simulated (generated, built from --azure, or with --trace applied) to `FILE`")
	var sf simFlags
	sf.register(fs)
	sf.trace.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkModeFlags(fs, *scenario != "", gen.Nodes > 0, sf); err != nil {
		return err
	}
	sf.eval.NoReferences = !sf.references
	names, err := strategyNames(reg, *stratName)
	if err != nil {
		return err
	}
	if err := checkParams(reg, names, *params); err != nil {
		return err
	}
	first := firstErrors{first: map[string]error{}}
	cfgs, err := simConfigs(reg, names, *params, *fcName, &first)
	if err != nil {
		return err
	}
	if sf.family.Size != 0 {
		if *scenario != "" || gen.Nodes > 0 || sf.azureDir != "" {
			return usageError{"give one of --scenario, --generate, --azure and --family"}
		}
		return runFamily(ctx, io.out, sf, cfgs, *asJSON)
	}
	sc, err := simScenario(*scenario, gen, sf, *save)
	if err != nil {
		return err
	}
	warnUnserved(io.err, sc)
	sf.setDepth(sc)
	rs, err := sim.Evaluate(ctx, sc, cfgs, sf.eval)
	if errors.Is(err, sim.ErrCanceled) {
		return fmt.Errorf("sim interrupted: %w", err)
	} else if err != nil {
		return simFlagError(err)
	}
	defer first.warn(io.err, rs) // after the results it explains
	return writeSimResults(io.out, sc, rs, *asJSON, *nodes)
}

// simConfigs returns the simulator's configuration of each strategy of
// names, with the forecaster of --forecast, recording their errors in
// first.
func simConfigs(reg *strategy.Registry, names []string, params, fcName string, first *firstErrors) ([]sim.Config, error) {
	var fc forecast.Factory
	if fcName != "" {
		var err error
		if fc, err = forecast.ByName(fcName); err != nil {
			return nil, usageError{fmt.Sprintf("--forecast: %v", err)}
		}
	}
	cfgs := make([]sim.Config, len(names))
	for i, name := range names {
		cfgs[i] = sim.Config{
			Strategy:   name,
			New:        func() (strategy.Strategy, error) { return reg.New(name, json.RawMessage(params)) },
			Forecaster: fc,
			Observe:    first.observe(name),
		}
	}
	return cfgs, nil
}

// writeSimResults writes the results of scenario sc as JSON lines or as
// tables (with one per node if nodes).
func writeSimResults(w io.Writer, sc *sim.Scenario, rs []sim.Result, asJSON, nodes bool) error {
	if asJSON {
		for _, r := range rs {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\n", b)
		}
		return nil
	}
	walls := make([]time.Duration, len(rs))
	for i, r := range rs {
		walls[i] = r.Wall
	}
	return sim.WriteResults(w, sc, rs, walls, nodes)
}

// firstErrors keeps, per strategy, the first error that kept a decision
// in force, to say why when a strategy failed (its results alone look like
// those of a node that serves everything locally).
type firstErrors struct {
	mu    sync.Mutex // Observe runs on every simulation's goroutine
	first map[string]error
}

// observe returns a sim.Config.Observe that records strategy name's first
// error.
func (f *firstErrors) observe(name string) func(strategy.Snapshot, strategy.Decision, error) {
	return func(_ strategy.Snapshot, _ strategy.Decision, err error) {
		if err == nil {
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.first[name]; !ok {
			f.first[name] = err
		}
	}
}

// warn writes a warning for each result whose strategy failed in some
// control cycles, with the first error.
func (f *firstErrors) warn(w io.Writer, rs []sim.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range rs {
		if r.StrategyErrors > 0 {
			fmt.Fprintf(w, "warning: strategy %s: in %d control cycles it failed, panicked or decided something invalid, and the decision in force stayed (the first: %v)\n",
				r.Strategy, r.StrategyErrors, f.first[r.Strategy])
		}
	}
}

// simFlagError names the flag behind an evaluation's configuration error.
func simFlagError(err error) error {
	for field, flag := range map[string]string{"Repeat": "--repeat", "Parallel": "--parallel"} {
		if strings.Contains(err.Error(), "EvalConfig."+field) {
			return usageError{fmt.Sprintf("%s: %v", flag, err)}
		}
	}
	return err
}

// runFamily runs the strategies over a generated family and prints the
// distribution table, or the report as one JSON object.
func runFamily(ctx context.Context, w io.Writer, sf simFlags, cfgs []sim.Config, asJSON bool) error {
	scs, err := sim.GenerateFamily(sf.family)
	if err != nil {
		return usageError{fmt.Sprintf("--family: %v", err)}
	}
	sf.setDepth(scs...)
	rs, err := sim.EvaluateFamily(ctx, scs, cfgs, sf.eval)
	if errors.Is(err, sim.ErrCanceled) {
		return fmt.Errorf("sim interrupted: %w", err)
	} else if err != nil {
		return simFlagError(err)
	}
	rep := sim.NewFamilyReport(sf.family.Seed, rs)
	if asJSON {
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return rep.WriteTable(w)
}

// simScenario returns the scenario of --scenario (with --trace's load if
// given), the generated one or the one built from --azure, written to save
// if set.
func simScenario(path string, gen sim.GenerateConfig, sf simFlags, save string) (*sim.Scenario, error) {
	given := 0
	for _, set := range []bool{path != "", gen.Nodes > 0, sf.azureDir != ""} {
		if set {
			given++
		}
	}
	switch {
	case given > 1:
		return nil, usageError{"give one of --scenario, --generate, --azure and --family"}
	case given == 0:
		return nil, usageError{"--scenario FILE|NAME, --generate N, --azure DIR or --family N is required"}
	}
	trace, err := sf.trace.options()
	if err != nil {
		return nil, err
	}
	var sc *sim.Scenario
	switch {
	case path != "":
		if sc, err = loadScenario(path); err == nil && trace.Path != "" {
			err = loadgen.ApplyTrace(sc, trace)
		}
	case sf.azureDir != "":
		sc, err = azureScenario(sf)
	default:
		if sc, err = sim.Generate(gen); err != nil {
			err = fmt.Errorf("--generate: %w", err)
		}
	}
	if err != nil {
		return nil, err
	}
	if save != "" {
		if err := sc.Save(save); err != nil {
			return nil, fmt.Errorf("--save: %w", err)
		}
	}
	return sc, nil
}

// azureScenario reads the trace of --azure and builds its scenario.
func azureScenario(sf simFlags) (*sim.Scenario, error) {
	tr, err := azure.ReadDir(sf.azureDir, max(1, min(sf.azureTop, azure.MaxFunctions)))
	if err != nil {
		return nil, fmt.Errorf("--azure: %w", err)
	}
	if sf.azureTop < 1 || sf.azureTop > azure.MaxFunctions {
		return nil, usageError{fmt.Sprintf("--azure-functions: %d is not in [1, %d]", sf.azureTop, azure.MaxFunctions)}
	}
	sc, err := tr.Scenario(sf.azure)
	if err != nil {
		for field, flag := range map[string]string{"Nodes": "nodes", "Replicas": "replicas", "Level": "level", "From": "from", "Minutes": "minutes", "Compress": "compress"} {
			if strings.HasPrefix(err.Error(), "azure: "+field+":") {
				return nil, usageError{fmt.Sprintf("--azure-%s: %v", flag, err)}
			}
		}
		return nil, fmt.Errorf("--azure: %w", err)
	}
	return sc, nil
}

// warnUnserved writes a warning for each function that the scenario loads
// but no node runs (a misspelt name, most often): all its requests are
// rejected, which the results would show without saying why.
func warnUnserved(w io.Writer, sc *sim.Scenario) {
	runs := map[string]bool{}
	for _, n := range sc.Nodes {
		for _, f := range n.Functions {
			runs[f.Name] = true
		}
	}
	for i, l := range sc.Load {
		if !runs[l.Function] {
			runs[l.Function] = true // once per function
			fmt.Fprintf(w, "warning: scenario %s: load[%d].function %q: no node runs it, so all its requests are rejected\n", sc.Name, i, l.Function)
		}
	}
}
