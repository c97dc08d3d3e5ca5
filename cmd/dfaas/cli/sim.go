package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// strategyNames returns the strategies --strategy value names: one, or
// with "all" every built-in one but external. flag names the flag.
func strategyNames(reg *strategy.Registry, value string) ([]string, error) {
	if value == "all" {
		return slices.DeleteFunc(reg.Names(), func(n string) bool { return n == "external" }), nil
	}
	if !slices.Contains(reg.Names(), value) {
		return nil, usageError{fmt.Sprintf("--strategy %q: unknown (known: %s, all)", value, strings.Join(reg.Names(), ", "))}
	}
	return []string{value}, nil
}

// runSim simulates a scenario with one or every strategy and prints the
// results as a table or as JSON lines.
func runSim(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("sim", io)
	scenario := fs.String("scenario", "", "scenario `FILE` or built-in scenario NAME")
	reg := io.strategies
	stratName := fs.String("strategy", defaultStrategy, "strategy `NAME` ("+strings.Join(reg.Names(), ", ")+") or all")
	params := fs.String("params", "", "strategy parameters as a JSON object (with a single --strategy)")
	asJSON := fs.Bool("json", false, "print one JSON result object per strategy per line instead of a table")
	nodes := fs.Bool("nodes", false, "also print one table per strategy with a row per node")
	fcName := fs.String("forecast", "", "forecast each function's offered rate with `METHOD` ("+strings.Join(forecast.Methods(), ", ")+"), as the agent's --forecast; by default the rate of the last period")
	var gen sim.GenerateConfig
	fs.IntVar(&gen.Nodes, "generate", 0, "instead of --scenario, simulate a generated scenario with `N` nodes")
	fs.IntVar(&gen.Degree, "degree", 4, "with --generate: links per node (random regular topology)")
	fs.Float64Var(&gen.Rate, "rate", 100, "with --generate: user load per node, req/s")
	fs.DurationVar(&gen.Duration, "duration", 120*time.Second, "with --generate: length of the run")
	fs.Uint64Var(&gen.Seed, "seed", 1, "with --generate: seed")
	save := fs.String("save", "", "with --generate: also write the generated scenario to `FILE`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	names, err := strategyNames(reg, *stratName)
	if err != nil {
		return err
	}
	if *params != "" && len(names) > 1 {
		return usageError{"--params needs a single --strategy"}
	}
	if _, err := reg.New(names[0], json.RawMessage(*params)); err != nil {
		return usageError{fmt.Sprintf("--params: %v", err)}
	}
	sc, err := simScenario(*scenario, gen, *save)
	if err != nil {
		return err
	}
	var fc forecast.Factory
	if *fcName != "" {
		if fc, err = forecast.ByName(*fcName); err != nil {
			return usageError{fmt.Sprintf("--forecast: %v", err)}
		}
	}
	var results []sim.Result
	var walls []time.Duration
	for _, name := range names {
		start := time.Now()
		r, err := sim.Run(ctx, sc, sim.Config{
			Strategy:   name,
			New:        func() (strategy.Strategy, error) { return reg.New(name, json.RawMessage(*params)) },
			Forecaster: fc,
		})
		if errors.Is(err, sim.ErrCanceled) {
			return fmt.Errorf("sim interrupted: %w", err)
		} else if err != nil {
			return err
		}
		if *asJSON {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.out, "%s\n", b)
		}
		results, walls = append(results, r), append(walls, time.Since(start))
	}
	if *asJSON {
		return nil
	}
	return printSim(io.out, sc, results, walls, *nodes)
}

// simScenario returns the scenario of --scenario, or the generated one
// (written to save if set).
func simScenario(path string, gen sim.GenerateConfig, save string) (*sim.Scenario, error) {
	switch {
	case path != "" && gen.Nodes > 0:
		return nil, usageError{"give --scenario or --generate, not both"}
	case path != "":
		return loadScenario(path)
	case gen.Nodes <= 0:
		return nil, usageError{"--scenario FILE|NAME or --generate N is required"}
	}
	sc, err := sim.Generate(gen)
	if err != nil {
		return nil, fmt.Errorf("--generate: %w", err)
	}
	if save != "" {
		if err := sc.Save(save); err != nil {
			return nil, fmt.Errorf("--save: %w", err)
		}
	}
	return sc, nil
}

// printSim prints one row per strategy, and with nodes a table per
// strategy with a row per node.
func printSim(w io.Writer, sc *sim.Scenario, rs []sim.Result, walls []time.Duration, nodes bool) error {
	fmt.Fprintf(w, "scenario %s: %d nodes, %v, oracle success rate %.2f%%\n\n", sc.Name, len(sc.Nodes), sc.Duration.D(), 100*rs[0].OracleSuccessRate)
	if err := sim.WriteComparison(w, rs, walls); err != nil || !nodes {
		return err
	}
	for _, r := range rs {
		fmt.Fprintln(w)
		if err := r.WriteTable(w); err != nil {
			return err
		}
	}
	return nil
}
