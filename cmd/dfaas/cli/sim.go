package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/simrun"
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
	cfgs, first, err := simrun.Configs(reg, names, *params, *fcName)
	if err != nil {
		return err
	}
	if sf.family.Size != 0 {
		if *scenario != "" || gen.Nodes > 0 || sf.azureDir != "" {
			return usageError{"give one of --scenario, --generate, --azure and --family"}
		}
		return simrun.Family(ctx, io.out, sf.family, sf.depth.Depth(), cfgs, sf.eval, *asJSON)
	}
	trace, err := sf.trace.options()
	if err != nil {
		return err
	}
	sc, err := simrun.Scenario(simrun.Source{Path: *scenario, Trace: trace, Generate: gen,
		AzureDir: sf.azureDir, AzureTop: sf.azureTop, Azure: sf.azure, Save: *save})
	if err != nil {
		return err
	}
	simrun.WarnUnserved(io.err, sc)
	simrun.SetDepth(sc, sf.depth.Depth())
	rs, err := simrun.Evaluate(ctx, sc, cfgs, sf.eval)
	if err != nil {
		return err
	}
	defer first.Warn(io.err, rs) // after the results it explains
	return simrun.WriteResults(io.out, sc, rs, *asJSON, *nodes)
}
