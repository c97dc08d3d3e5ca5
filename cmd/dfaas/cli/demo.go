package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/peer/quic"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// demoNode is one node of the demo federation: the capacity of its figlet
// function and the user load sent to it.
type demoNode struct {
	id       string
	capacity float64 // req/s
	load     float64 // req/s
}

// demoFederation is the demo's setup: node a is overloaded (170 req/s for a
// capacity of 100), b and c have room. Together they can serve everything.
func demoFederation() []demoNode {
	return []demoNode{
		{id: "a", capacity: 100, load: 170},
		{id: "b", capacity: 120, load: 30},
		{id: "c", capacity: 120, load: 30},
	}
}

func runDemo(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("demo", io)
	duration := fs.Duration("duration", 30*time.Second, "how long to send load")
	stratName := fs.String("strategy", defaultStrategy, "strategy: "+strings.Join(io.strategies.Names(), ", "))
	asJSON := fs.Bool("json", false, "print the result object as JSON instead of a table")
	period := fs.Duration("period", time.Second, "control period of the nodes")
	seed := fs.Uint64("seed", 1, "seed of arrivals and service times")
	logLevel := fs.String("log-level", "warn", "log level of the nodes: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration <= 0 || *duration > 24*time.Hour {
		return usageError{fmt.Sprintf("--duration %v: want a positive duration up to 24h", *duration)}
	}
	if *period < 100*time.Millisecond {
		return usageError{fmt.Sprintf("--period %v: want at least 100ms", *period)}
	}
	log, err := newLogger(io.err, *logLevel)
	if err != nil {
		return err
	}
	reg := io.strategies
	if _, err := reg.New(*stratName, nil); err != nil {
		return usageError{"--strategy: " + err.Error()}
	}
	res, err := demo(ctx, demoOptions{
		strategy: *stratName, registry: reg, duration: *duration, period: *period, seed: *seed,
		log: log, progress: io.err,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		return enc.Encode(res)
	}
	printResult(io.out, res)
	return nil
}

type demoOptions struct {
	strategy string
	registry *strategy.Registry
	duration time.Duration
	period   time.Duration
	seed     uint64
	log      *slog.Logger
	progress io.Writer // live progress line; nil for none
}

// demo runs the three-node federation in this process on loopback: each
// node has an embedded FaaS and an embedded proxy with real HTTP between
// the proxies, and the agents talk over QUIC on loopback.
func demo(ctx context.Context, o demoOptions) (sim.Result, error) {
	nodes := demoFederation()
	stacks := make([]*stack, len(nodes))
	defer func() {
		for _, s := range stacks {
			if s != nil {
				s.close()
			}
		}
	}()
	// Each node has its own key; the federation admits exactly these.
	keys := make([]*quic.Key, len(nodes))
	var members []peer.ID
	for i := range nodes {
		var err error
		if keys[i], err = quic.GenerateKey(); err != nil {
			return sim.Result{}, err
		}
		members = append(members, keys[i].ID())
	}
	var seed []quic.Addr // the first node is the others' bootstrap peer
	for i, n := range nodes {
		tr, err := quic.Listen(quic.Config{Listen: "127.0.0.1:0", Key: keys[i], Members: members, Bootstrap: seed, Logger: o.log.With("node", n.id)})
		if err != nil {
			return sim.Result{}, err
		}
		defer tr.Close()
		if i == 0 {
			seed = []quic.Addr{tr.Self()}
		}
		st, err := o.registry.New(o.strategy, nil)
		if err != nil {
			return sim.Result{}, err
		}
		stacks[i], err = newStack(ctx, stackConfig{
			Transport: tr, Strategy: st, StrategyName: o.strategy,
			Functions:   []embedded.Function{{Name: "figlet", Capacity: n.capacity, Concurrency: 10}},
			ProxyListen: "127.0.0.1:0", Period: o.period, Seed: o.seed + uint64(i),
			Logger: o.log.With("node", n.id),
		})
		if err != nil {
			return sim.Result{}, err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	runCtx, stop := context.WithCancel(gctx)
	for _, s := range stacks {
		s.run(runCtx, g)
	}
	// Users arrive once the federation has formed: every node has the
	// others as neighbours (or after 20 s, whatever happened).
	if err := waitFederation(runCtx, stacks, 20*time.Second); err != nil {
		o.log.Warn("federation not fully formed; sending load anyway", "err", err)
	}
	var streams []stream
	for i, n := range nodes {
		streams = append(streams, stream{node: n.id, url: stacks[i].proxyURL + "/function/figlet", rate: n.load, body: "DFaaS"})
	}
	lg := newLoadGen(10 * time.Second)
	done := make(chan struct{})
	g.Go(func() error {
		defer close(done)
		lg.run(runCtx, streams, o.duration, o.seed)
		return nil
	})
	g.Go(func() error {
		defer stop()
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if o.progress != nil {
					progressLine(o.progress, lg, time.Since(start), o.duration)
					fmt.Fprintln(o.progress)
				}
				return nil
			case <-tick.C:
				if o.progress != nil {
					progressLine(o.progress, lg, time.Since(start), o.duration)
				}
			}
		}
	})
	if err := g.Wait(); err != nil {
		return sim.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return sim.Result{}, fmt.Errorf("demo interrupted: %w", err)
	}
	ids := make([]string, len(nodes))
	var load, capacity float64
	for i, n := range nodes {
		ids[i] = n.id
		load += n.load
		capacity += n.capacity
	}
	res := lg.result("demo-hot-node", o.strategy, "demo", ids)
	// Every node forwards to every other, so the fluid bound is simply the
	// federation's capacity against its load.
	res.OracleSuccessRate = min(1, capacity/load)
	return res, nil
}

// waitFederation waits until every stack's node lists all the others as
// neighbours in its data network, then one more period so that they have
// decided with them.
func waitFederation(ctx context.Context, stacks []*stack, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		formed := true
		for _, s := range stacks {
			var n int
			for _, p := range s.node.Status(time.Now()).Peers {
				if p.Neighbour {
					n++
				}
			}
			formed = formed && n == len(stacks)-1
		}
		if formed {
			t := time.NewTimer(stacks[0].node.Period())
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not every node sees %d neighbours after %v", len(stacks)-1, timeout)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func progressLine(w io.Writer, lg *loadGen, elapsed, total time.Duration) {
	fmt.Fprintf(w, "\r[%4.0fs/%.0fs] offered %6d  served %6d  forwarded %6d  rejected %5d  failed %5d",
		min(elapsed, total).Seconds(), total.Seconds(), lg.offered.Load(), lg.served.Load(),
		lg.forwarded.Load(), lg.rejected.Load(), lg.failed.Load())
}

// printResult prints a result as a table, one row per node and a total.
func printResult(w io.Writer, r sim.Result) {
	fmt.Fprintf(w, "scenario %s, strategy %s (%s)\n\n", r.Scenario, r.Strategy, r.Mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\toffered\tserved\tforwarded\trejected\tfailed\tp50 ms\tp99 ms\tsuccess\t")
	row := func(id string, off, srv, fwd, rej, fl int64, q sim.Quantiles, rate float64) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.2f%%\t\n", id, off, srv, fwd, rej, fl, q.P50, q.P99, 100*rate)
	}
	for _, n := range r.Nodes {
		row(n.ID, n.Offered, n.Served, n.Forwarded, n.Rejected, n.Failed, n.Latency, n.SuccessRate)
	}
	row("total", r.Offered, r.Served, r.Forwarded, r.Rejected, r.Failed, r.Latency, r.SuccessRate)
	tw.Flush()
	if r.OracleSuccessRate > 0 {
		fmt.Fprintf(w, "\noracle success rate (fluid bound): %.2f%%\n", 100*r.OracleSuccessRate)
	}
}
