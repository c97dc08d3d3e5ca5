package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/internal/testbed"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// strategyRun is the run of one strategy.
type strategyRun struct {
	name, label string
	repeat      int           // 1..Options.Repeat
	scenario    *sim.Scenario // with the run's seed
	dir         string        // work directory of the run (created here)
	net         testbed.Network
	links       map[int][]int
	keys        []testbed.Key
	nodes       []string
}

// runStrategy simulates the scenario with the strategy (if o.Sim), runs
// it on a cluster, and returns both, with notes for the report.
func runStrategy(ctx context.Context, o Options, r strategyRun) (report.Run, []string, error) {
	sc := r.scenario
	run := report.Run{Strategy: r.name, Repeat: r.repeat, Seed: sc.Seed}
	if o.Sim {
		var periods []report.SimPeriod
		var lats []time.Duration
		res, err := sim.Run(ctx, sc, sim.Config{
			Strategy:   r.name,
			New:        func() (strategy.Strategy, error) { return o.Registry.New(r.name, json.RawMessage(o.Params)) },
			Forecaster: o.Forecaster,
			// The agents get no node usage (testbed's agentArgv): neither
			// do the simulated ones.
			NoResources: true,
			Served:      func(_ string, l time.Duration) { lats = append(lats, l) },
			Observe: func(s strategy.Snapshot, _ strategy.Decision, _ error) {
				if p, ok := simPeriod(s, sc.Duration.D()); ok {
					periods = append(periods, p)
				}
			},
		})
		if err != nil {
			return run, nil, fmt.Errorf("bench: simulating %s: %w", r.name, err)
		}
		run.Sim, run.SimSeries, run.SimLatencies = &res, periods, lats
	}
	if err := os.Mkdir(r.dir, 0o700); err != nil {
		return run, nil, fmt.Errorf("bench: %w", err)
	}
	between := "mutual TLS"
	if o.Plain {
		between = "plain HTTP"
	}
	o.progressf("%s: starting %d nodes (%s proxy, %s between nodes)", r.label, len(sc.Nodes), o.Proxy, between)
	c, err := testbed.StartCluster(ctx, testbed.ClusterConfig{
		Scenario: sc, Strategy: r.name, StrategyParams: o.Params, Proxy: o.Proxy, FaaS: o.FaaS, Forecast: o.Forecast, Net: r.net, Links: r.links,
		Bin: o.Bin, Dir: r.dir, Keys: r.keys, LogLevel: o.LogLevel, Timeout: o.Timeout, PlainDataPlane: o.Plain,
	})
	if err != nil {
		return run, nil, fmt.Errorf("bench %s: %w", r.name, err)
	}
	defer c.Close()
	loadAt, notes, err := waitForLoad(ctx, o, c, r)
	if err != nil {
		return run, nil, fmt.Errorf("bench %s: %w", r.name, err)
	}
	if err := sleep(ctx, time.Until(loadAt)); err != nil {
		return run, nil, fmt.Errorf("bench %s: %w", r.name, err)
	}
	g, decisions, err := sendLoad(ctx, o, c, sc, r.label)
	if err != nil {
		return run, nil, fmt.Errorf("bench %s: %w", r.name, err)
	}
	run.Records, run.Decisions = g.Records(), decisions
	run.Bench = report.Summarize(sc.Name, r.name, r.nodes, run.Records)
	return run, notes, nil
}

// simPeriod returns what a simulated node observed over the control
// period that ends at the snapshot, in the load's time, if that period
// overlaps the load [0, d).
func simPeriod(s strategy.Snapshot, d time.Duration) (report.SimPeriod, bool) {
	to := time.Duration(s.Now.UnixNano() - sim.EpochUnix*int64(time.Second))
	from := to - s.Period
	if to <= 0 || from >= d {
		return report.SimPeriod{}, false
	}
	p := report.SimPeriod{Node: string(s.Self), From: max(0, from), To: min(to, d)}
	for _, f := range s.Functions {
		p.Offered += f.Offered
		p.ServedLocal += f.Local - f.FromNeighbours
		p.Forwarded += f.Forwarded
		p.Rejected += f.Rejected
		p.Failed += f.Failed
		p.ServedForOthers += f.FromNeighbours
	}
	return p, true
}

// waitForLoad returns when the load starts: after sim.WarmupPeriods
// control cycles of every node, as in the simulator, if the federation
// has formed by then; else at the next cycle boundary after it has (or
// after o.Form). Notes say when it was late.
func waitForLoad(ctx context.Context, o Options, c *testbed.Cluster, r strategyRun) (time.Time, []string, error) {
	name, label := r.name, r.label
	if r.repeat > 1 {
		name = fmt.Sprintf("%s run %d", r.name, r.repeat)
	}
	period := r.scenario.Period.D()
	t0 := c.Started()
	loadAt := t0.Add(sim.WarmupPeriods * period)
	o.progressf("%s: waiting for the federation to form (every node sees the nodes it is linked to)", label)
	err := c.WaitFederation(ctx, loadAt)
	if err == nil {
		return loadAt, nil, nil
	}
	if errors.Is(err, testbed.ErrProcExited) || ctx.Err() != nil {
		return loadAt, nil, cmp.Or(ctx.Err(), err)
	}
	err = c.WaitFederation(ctx, t0.Add(o.Form))
	if errors.Is(err, testbed.ErrProcExited) || ctx.Err() != nil {
		return loadAt, nil, cmp.Or(ctx.Err(), err)
	}
	k := time.Since(t0)/period + 1
	loadAt = t0.Add(k * period)
	if err != nil {
		o.Log.Warn("federation not fully formed; sending load anyway", "err", err)
		return loadAt, []string{fmt.Sprintf("%s: the federation had not fully formed after %v (%v); load was sent anyway", name, o.Form, err)}, nil
	}
	return loadAt, []string{fmt.Sprintf("%s: the federation formed late: the load started after %d control periods instead of %d", name, k, sim.WarmupPeriods)}, nil
}

// sendLoad sends the scenario's load to the cluster's proxies, polling
// decisions, watching the processes and drawing progress meanwhile, and
// returns the generator (with its records) and the decisions.
func sendLoad(ctx context.Context, o Options, c *testbed.Cluster, sc *sim.Scenario, label string) (*loadgen.Generator, []report.Decision, error) {
	nodes := c.Nodes()
	idx := map[string]int{}
	for i, n := range sc.Nodes {
		idx[n.ID] = i
	}
	var streams []loadgen.Stream
	d := sc.Duration.D()
	for i, l := range sc.Load {
		n := nodes[idx[l.Node]]
		streams = append(streams, loadgen.Stream{Node: l.Node, Function: l.Function, URL: n.ProxyURL(l.Function),
			Body: "Hello World!", Client: n.Client, Arrivals: loadgen.Poisson(l, d, rand.New(rand.NewPCG(sc.Seed, uint64(i))))})
	}
	g := &loadgen.Generator{Name: c.Name}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	var wg sync.WaitGroup
	var decisions []report.Decision
	loadDone := make(chan struct{})
	wg.Go(func() {
		defer close(loadDone)
		g.Run(runCtx, start, streams)
	})
	wg.Go(func() { decisions = c.PollDecisions(runCtx, start, loadDone) })
	wg.Go(func() { c.Watch(runCtx, cancel, loadDone) })
	wg.Go(func() {
		loadgen.Progress{W: o.Progress, Label: label, Total: d, Counts: &g.Counts}.Run(start, loadDone)
	})
	wg.Wait()
	if err := context.Cause(runCtx); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return g, decisions, nil
}

// progressf writes a line about the run's phase to o.Progress, if set.
func (o Options) progressf(format string, a ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", a...)
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
