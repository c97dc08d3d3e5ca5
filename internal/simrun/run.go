package simrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Configs returns the simulator's configuration of each strategy of
// names, made by reg with params (--params), forecasting with the method
// fcName (--forecast; "" for the rate of the last period), and the
// record of their first errors (Errors.Warn).
func Configs(reg *strategy.Registry, names []string, params, fcName string) ([]sim.Config, *Errors, error) {
	var fc forecast.Factory
	if fcName != "" {
		var err error
		if fc, err = forecast.ByName(fcName); err != nil {
			return nil, nil, usage.Errorf("--forecast: %v", err)
		}
	}
	first := &Errors{first: map[string]error{}}
	cfgs := make([]sim.Config, len(names))
	for i, name := range names {
		f, ok := reg.Factory(name)
		if !ok {
			return nil, nil, usage.Errorf("--strategy %q: unknown", name)
		}
		var p json.RawMessage
		if params != "" {
			p = json.RawMessage(params)
		}
		cfgs[i] = sim.Config{Strategy: name, Factory: f, Params: p, Forecaster: fc, Observe: first.observe(name)}
	}
	return cfgs, first, nil
}

// Errors keeps, per strategy, the first error that kept a decision in
// force, to say why when a strategy failed (its results alone look like
// those of a node that serves everything locally).
type Errors struct {
	mu    sync.Mutex // Observe runs on every simulation's goroutine
	first map[string]error
}

// observe returns a sim.Config.Observe that records strategy name's first
// error.
func (e *Errors) observe(name string) func(strategy.Snapshot, strategy.Decision, error) {
	return func(_ strategy.Snapshot, _ strategy.Decision, err error) {
		if err == nil {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, ok := e.first[name]; !ok {
			e.first[name] = err
		}
	}
}

// Warn writes a warning for each result whose strategy failed in some
// control cycles, with the first error.
func (e *Errors) Warn(w io.Writer, rs []sim.Result) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range rs {
		if r.StrategyErrors > 0 {
			fmt.Fprintf(w, "warning: strategy %s: in %d control cycles it failed, panicked or decided something invalid, and the decision in force stayed (the first: %v)\n",
				r.Strategy, r.StrategyErrors, e.first[r.Strategy])
		}
	}
}

// Evaluate runs sim.Evaluate, naming the flag behind a configuration
// error (--repeat, --parallel).
func Evaluate(ctx context.Context, sc *sim.Scenario, cfgs []sim.Config, eval sim.EvalConfig) ([]sim.Result, error) {
	rs, err := sim.Evaluate(ctx, sc, cfgs, eval)
	return rs, evalError(err)
}

// evalError names the flag behind an evaluation's configuration error.
func evalError(err error) error {
	if errors.Is(err, sim.ErrCanceled) {
		return fmt.Errorf("sim interrupted: %w", err)
	}
	for field, flag := range map[string]string{"Repeat": "--repeat", "Parallel": "--parallel"} {
		if err != nil && strings.Contains(err.Error(), "EvalConfig."+field) {
			return usage.Errorf("%s: %v", flag, err)
		}
	}
	return err
}

// WriteResults writes the results of scenario sc as JSON lines or as
// tables (with one per node if nodes).
func WriteResults(w io.Writer, sc *sim.Scenario, rs []sim.Result, asJSON, nodes bool) error {
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

// Family runs the strategies over the family fam generates, each
// scenario's queue cap set by depth if not 0, and writes the distribution
// table, or the report as one JSON object.
func Family(ctx context.Context, w io.Writer, fam sim.FamilyConfig, depth float64, cfgs []sim.Config, eval sim.EvalConfig, asJSON bool) error {
	scs, err := sim.GenerateFamily(fam)
	if err != nil {
		return usage.Errorf("--family: %v", err)
	}
	for _, sc := range scs {
		SetDepth(sc, depth)
	}
	rs, err := sim.EvaluateFamily(ctx, scs, cfgs, eval)
	if err != nil {
		return evalError(err)
	}
	rep := sim.NewFamilyReport(fam.Seed, rs)
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

// SetDepth sets the queue cap of sc to depth (--queue-depth: -1 for no
// cap), if not 0.
func SetDepth(sc *sim.Scenario, depth float64) {
	if depth != 0 {
		sc.QueueDepth = depth
	}
}
