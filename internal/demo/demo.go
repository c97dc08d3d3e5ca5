// Package demo runs the DFaaS demo: a three-node federation in this
// process on loopback — each node with an embedded FaaS, an embedded
// proxy with real HTTP between the proxies, and its agent on the QUIC
// peer network with a key of its own — one node overloaded, and reports
// what the users saw.
package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/internal/stack"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/peer/quic"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Node is one node of the demo federation: the capacity of its figlet
// function and the user load sent to it.
type Node struct {
	ID       string
	Capacity float64 // req/s
	Load     float64 // req/s
}

// Federation is the demo's setup: node a is overloaded (170 req/s for a
// capacity of 100), b and c have room. Together they can serve everything.
func Federation() []Node {
	return []Node{
		{ID: "a", Capacity: 100, Load: 170},
		{ID: "b", Capacity: 120, Load: 30},
		{ID: "c", Capacity: 120, Load: 30},
	}
}

// Options configure a demo run.
type Options struct {
	Strategy string // a name of Registry
	Registry *strategy.Registry
	// Params are the strategy's JSON parameters (nil for its defaults).
	Params   json.RawMessage
	Duration time.Duration // of the load
	Period   time.Duration // the nodes' control period
	Seed     uint64        // of arrivals and service times
	// FaaS is the API of the nodes' embedded FaaS that the agents and
	// proxies use: "" or "openfaas" (the gateway API), or "openwhisk"
	// (OpenWhisk's API: the functions are listed as actions and invoked
	// through an openwhisk.Invoker, as on an OpenWhisk node).
	FaaS string
	// FormTimeout bounds the wait for the federation to form (0: 20 s);
	// the load is sent anyway after it.
	FormTimeout time.Duration
	Log         *slog.Logger
	Progress    io.Writer // what the demo waits for and live counts; nil for none
	// PlainDataPlane makes forwarded requests travel as plain HTTP between
	// the nodes instead of mutual TLS (a lab setting, docs/tls.md).
	PlainDataPlane bool
}

// dataKey returns the key securing a node's data plane: its node key,
// nil for a plain data plane.
func dataKey(o Options, k *quic.Key) *quic.Key {
	if o.PlainDataPlane {
		return nil
	}
	return k
}

// Run runs the federation of Federation until the load of o.Duration has
// been served, and returns the result (mode "demo").
func Run(ctx context.Context, o Options) (sim.Result, error) {
	nodes := Federation()
	stacks, closeAll, err := start(ctx, o, nodes)
	defer closeAll()
	if err != nil {
		return sim.Result{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	runCtx, stop := context.WithCancel(gctx)
	for _, s := range stacks {
		s.Run(runCtx, g)
	}
	var gen loadgen.Generator
	g.Go(func() error {
		defer stop()
		o.progressf("demo: waiting for the federation to form (each of the %d nodes sees the other %d as neighbours)", len(nodes), len(nodes)-1)
		formed := time.Now()
		if err := waitFederation(runCtx, stacks, cmp.Or(o.FormTimeout, 20*time.Second)); err != nil {
			o.Log.Warn("federation not fully formed; sending load anyway", "err", err)
			o.progressf("demo: the federation has not fully formed (%v); sending load anyway", err)
		} else {
			o.progressf("demo: federation formed in %v; sending load for %v", time.Since(formed).Round(10*time.Millisecond), o.Duration)
		}
		sendLoad(runCtx, o, &gen, nodes, stacks)
		return nil
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
		ids[i] = n.ID
		load += n.Load
		capacity += n.Capacity
	}
	res := gen.Result("demo-hot-node", o.Strategy, "demo", ids)
	// Every node forwards to every other, so the fluid bound is simply the
	// federation's capacity against its load.
	res.OracleSuccessRate = min(1, capacity/load)
	return res, nil
}

// start builds the nodes, each with its own key; the federation admits
// exactly these, and the first node is the others' bootstrap peer. The
// returned function closes what was built, also on error.
func start(ctx context.Context, o Options, nodes []Node) ([]*stack.Stack, func(), error) {
	var stacks []*stack.Stack
	var closers []func() error
	closeAll := func() {
		for _, s := range stacks {
			s.Close()
		}
		for _, c := range closers {
			c()
		}
	}
	keys := make([]*quic.Key, len(nodes))
	var members []peer.ID
	for i := range nodes {
		var err error
		if keys[i], err = quic.GenerateKey(); err != nil {
			return nil, closeAll, err
		}
		members = append(members, keys[i].ID())
	}
	var seed []quic.Addr
	for i, n := range nodes {
		log := o.Log.With("name", n.ID)
		tr, err := quic.Listen(quic.Config{Listen: "127.0.0.1:0", Key: keys[i], Members: members, Bootstrap: seed, Logger: log})
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, tr.Close)
		if i == 0 {
			seed = []quic.Addr{tr.Self()}
		}
		st, err := o.Registry.New(o.Strategy, o.Params)
		if err != nil {
			return nil, closeAll, err
		}
		s, err := stack.New(ctx, stack.Config{
			Transport: tr, Strategy: st, StrategyName: o.Strategy,
			Functions:   []embedded.Function{{Name: "figlet", Capacity: n.Capacity, Concurrency: 10}},
			FaaSAPI:     o.FaaS,
			ProxyListen: "127.0.0.1:0", Period: o.Period, Seed: o.Seed + uint64(i), Logger: log,
			Key: dataKey(o, keys[i]),
			// Users and neighbours all come from 127.0.0.1 here: no
			// per-address share of the connection cap.
			ProxyLimits: stack.OneHostLimits(),
		})
		if err != nil {
			return nil, closeAll, err
		}
		stacks = append(stacks, s)
	}
	return stacks, closeAll, nil
}

// sendLoad sends each node's user load, open-loop Poisson, for
// o.Duration, drawing progress meanwhile.
func sendLoad(ctx context.Context, o Options, gen *loadgen.Generator, nodes []Node, stacks []*stack.Stack) {
	client := loadgen.NewClient(nil, 10*time.Second, 2048)
	defer client.CloseIdleConnections()
	var streams []loadgen.Stream
	for i, n := range nodes {
		streams = append(streams, loadgen.Stream{Node: n.ID, Function: "figlet", URL: stacks[i].ProxyURL() + "/function/figlet",
			Body: "DFaaS", Client: client,
			Arrivals: loadgen.Poisson(sim.Load{Rates: []float64{n.Load}}, o.Duration, rand.New(rand.NewPCG(o.Seed, uint64(i))))})
	}
	done := make(chan struct{})
	start := time.Now()
	var g errgroup.Group
	g.Go(func() error {
		defer close(done)
		gen.Run(ctx, start, streams)
		return nil
	})
	g.Go(func() error {
		loadgen.Progress{W: o.Progress, Label: "demo", Total: o.Duration, Counts: &gen.Counts}.Run(start, done)
		return nil
	})
	g.Wait()
}

// waitFederation waits until every stack's node lists all the others as
// neighbours in its data network, then one more period so that they have
// decided with them.
func waitFederation(ctx context.Context, stacks []*stack.Stack, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := ""
		for _, s := range stacks {
			var n int
			for _, p := range s.Node().Status(time.Now()).Peers {
				if p.Neighbour {
					n++
				}
			}
			if n < len(stacks)-1 && missing == "" {
				missing = fmt.Sprintf("a node sees %d of %d neighbours after %v", n, len(stacks)-1, timeout)
			}
		}
		if missing == "" {
			t := time.NewTimer(stacks[0].Node().Period())
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s", missing)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (o Options) progressf(format string, a ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", a...)
	}
}
