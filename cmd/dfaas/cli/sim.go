package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// runSim simulates a scenario with one or every strategy and prints the
// results as a table or as JSON lines.
func runSim(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("sim", io)
	scenario := fs.String("scenario", "", "scenario `FILE` (JSON, see the scenarios README)")
	reg := io.strategies
	stratName := fs.String("strategy", "all", "strategy `NAME` ("+strings.Join(reg.Names(), ", ")+") or all")
	params := fs.String("params", "", "strategy parameters as a JSON object (with a single --strategy)")
	asJSON := fs.Bool("json", false, "print one JSON result object per strategy per line instead of a table")
	nodes := fs.Bool("nodes", false, "also print one row per node")
	fcName := fs.String("forecast", "", "forecast each function's offered rate with `METHOD` ("+strings.Join(forecast.Methods(), ", ")+"), as the agent's --forecast; by default the rate of the last period")
	generate := fs.Int("generate", 0, "instead of --scenario, simulate a generated scenario with `N` nodes")
	degree := fs.Int("degree", 4, "with --generate: links per node (random regular topology)")
	rate := fs.Float64("rate", 100, "with --generate: user load per node, req/s")
	duration := fs.Duration("duration", 120*time.Second, "with --generate: length of the run")
	seed := fs.Uint64("seed", 1, "with --generate: seed")
	save := fs.String("save", "", "with --generate: also write the generated scenario to `FILE`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: dfaas sim --scenario FILE [--strategy NAME|all] [--json]\n"+
			"       dfaas sim --generate N [--degree 4] [--rate 100] [--duration 120s] [--save FILE] ...\n\n"+
			"Simulates a federation request by request, running the same strategy code as\n"+
			"the agent, and reports the success rate against the oracle (the fluid bound).\n"+
			"\"all\" runs every built-in strategy except external (which needs a model).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var names []string
	switch *stratName {
	case "all":
		if *params != "" {
			return usageError{"sim: --params needs a single --strategy"}
		}
		names = slices.DeleteFunc(reg.Names(), func(n string) bool { return n == "external" })
	default:
		if !slices.Contains(reg.Names(), *stratName) {
			return usageError{fmt.Sprintf("sim: unknown strategy %q (known: %s, all)", *stratName, strings.Join(reg.Names(), ", "))}
		}
		names = []string{*stratName}
	}
	if _, err := reg.New(names[0], json.RawMessage(*params)); err != nil {
		return usageError{fmt.Sprintf("sim: %v", err)}
	}

	var sc *sim.Scenario
	switch {
	case *scenario != "" && *generate > 0:
		return usageError{"sim: give --scenario or --generate, not both"}
	case *scenario != "":
		s, err := sim.LoadScenario(*scenario)
		if err != nil {
			return err
		}
		sc = s
	case *generate > 0:
		s, err := sim.Generate(sim.GenerateConfig{Nodes: *generate, Degree: *degree, Rate: *rate, Duration: *duration, Seed: *seed})
		if err != nil {
			return err
		}
		sc = s
		if *save != "" {
			if err := writeScenario(*save, sc); err != nil {
				return err
			}
		}
	default:
		return usageError{"sim: --scenario FILE or --generate N is required"}
	}
	var fc forecast.Factory
	if *fcName != "" {
		f, err := forecast.ByName(*fcName)
		if err != nil {
			return usageError{fmt.Sprintf("sim: %v", err)}
		}
		fc = f
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
		if err != nil {
			if errors.Is(err, sim.ErrCanceled) {
				return fmt.Errorf("sim interrupted: %w", err)
			}
			return err
		}
		wall := time.Since(start)
		if *asJSON {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.out, "%s\n", b)
			continue
		}
		results = append(results, r)
		walls = append(walls, wall)
	}
	if !*asJSON {
		printSimTable(io.out, sc, results, walls, *nodes)
	}
	return nil
}

// printSimTable prints one row per strategy (and per node with nodes).
func printSimTable(w io.Writer, sc *sim.Scenario, rs []sim.Result, walls []time.Duration, nodes bool) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "scenario %s: %d nodes, %v, oracle success rate %.2f%%\n\n", sc.Name, len(sc.Nodes), sc.Duration.D(), 100*rs[0].OracleSuccessRate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tsuccess\tof oracle\toffered\tserved\tforwarded\trejected\tfailed\tp50 ms\tp95 ms\tp99 ms\twall\treq/s wall\t")
	for i, r := range rs {
		ratio := 0.0
		if r.OracleSuccessRate > 0 {
			ratio = r.SuccessRate / r.OracleSuccessRate
		}
		fmt.Fprintf(tw, "%s\t%.2f%%\t%.3f\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.2fs\t%.0f\t\n", r.Strategy, 100*r.SuccessRate, ratio,
			r.Offered, r.Served, r.Forwarded, r.Rejected, r.Failed, r.Latency.P50, r.Latency.P95, r.Latency.P99,
			walls[i].Seconds(), float64(r.Offered)/walls[i].Seconds())
	}
	tw.Flush()
	if !nodes {
		return
	}
	for _, r := range rs {
		fmt.Fprintf(w, "\n%s, per node:\n", r.Strategy)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "node\toffered\tserved\tforwarded\trejected\tfailed\tp99 ms\tsuccess\t")
		for _, n := range r.Nodes {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.2f%%\t\n", n.ID, n.Offered, n.Served, n.Forwarded, n.Rejected, n.Failed, n.Latency.P99, 100*n.SuccessRate)
		}
		tw.Flush()
	}
}

func writeScenario(path string, sc *sim.Scenario) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if err := sc.Encode(f); err != nil {
		f.Close()
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	return nil
}
