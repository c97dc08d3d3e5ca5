package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/proxyctl/routing"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// Config says how to run a scenario.
type Config struct {
	// Strategy is the strategy's name, as reported in the Result.
	Strategy string
	// Factory builds a fresh strategy for one node from Params; Run calls
	// it once per node (through strategy.Factory.Build, which validates
	// it), so a strategy that keeps state between decisions keeps it per
	// node, as in the live agent. Required (or the deprecated New).
	Factory strategy.Factory
	// Params are the strategy's JSON parameters given to Factory (nil for
	// its defaults).
	Params json.RawMessage
	// New returns a fresh strategy for one node; it is used when Factory
	// is nil.
	//
	// Deprecated: use Factory, the shape strategy.Registry and
	// strategytest take too (Registry.Factory returns a registered one).
	New func() (strategy.Strategy, error)
	// Forecaster makes one forecaster per node and function for its
	// offered rate, as the agent's Config.Forecaster does. If nil, a
	// snapshot's Forecast equals the observed rate.
	Forecaster forecast.Factory
	// Observe, if not nil, is called after every control cycle of every
	// node with the snapshot the strategy was given and the decision it
	// returned (completed), or the error that kept the previous decision
	// in force. It must not modify or retain them. Use it to trace a
	// strategy's behaviour over a run.
	Observe func(s strategy.Snapshot, d strategy.Decision, err error)
	// Served, if not nil, is called with the node where each served
	// request arrived and its latency (as the result's quantiles count
	// it), for a latency distribution beyond the quantiles.
	Served func(node string, latency time.Duration)
	// NoResources leaves Snapshot.Resources empty, as for agents that
	// measure no node usage (dfaas bench runs every node on one machine
	// and gives its agents none). By default the nodes' CPU usage is
	// modelled (see NodeCores).
	NoResources bool
	// Trust bounds what each neighbour receives by what its answers
	// support, as the agent's Config.Trust does (control.Trust; the zero
	// value gives the agent's defaults).
	Trust control.Trust
	// Handshake models the agent's credential handshake: a node forwards
	// to a neighbour only once that neighbour has applied a decision that
	// accepts it (in the agent: handed it its credential). A node accepts a
	// peer in its next cycle after hearing from it, or at once, with a
	// greeting message, when it first hears from it (or from a new
	// incarnation of it) after its first decision, as the agent does. The
	// agent's replan (a cycle run at once when a neighbour joins the data
	// network) and its hails of members that connect are not modelled: the
	// simulated federation is up before the load starts (WarmupPeriods).
	// By default the simulated proxies accept every linked neighbour from
	// the start.
	Handshake bool
	// PerfectForecast replaces Forecaster by a perfect forecaster: every
	// node's forecast of a function's offered rate is the true mean rate
	// of its users over the coming period, read from the scenario's load
	// (as Clairvoyant reads it). The difference it makes to a strategy's
	// success is what the strategy loses to forecasting (see Evaluate).
	PerfectForecast bool
}

// EpochUnix is the wall-clock time of a run's time zero, as strategies see
// it in Snapshot.Now, in seconds since the Unix epoch (2026-01-01 UTC).
const EpochUnix = 1767225600

// wallClock returns the Snapshot.Now of simulated time t (ns).
func wallClock(t int64) time.Time { return time.Unix(EpochUnix, t).UTC() }

// NodeCores is the number of CPU cores of every simulated node. A request
// in service of a function with concurrency k uses NodeCores/k cores, so
// that a function served at its capacity on its own fills the node (the
// capacity is the rate it sustains on this node), and the node's CPU
// usage, in Snapshot.Resources, is NodeCores times the sum of its
// functions' server utilizations (capped at NodeCores). Strategies that
// learn a resource model (NodeMargin) learn it from this usage, as they do
// from node_exporter in the live agent.
const NodeCores = 4

// WarmupPeriods is how many control periods the agents run before the load
// starts, so that every node has heard from its neighbours when the first
// request arrives (as in a federation that was up before the test).
const WarmupPeriods = 2

// LimiterWindow is the burst a proxy's rate limit (a route's LocalLimit
// or Admit) allows: a limit of r req/s lets r·LimiterWindow requests
// through at once (at least one, unless r is 0, which refuses all). It is
// the embedded proxy's value, as routing.BurstWindow: both route with
// package proxyctl/routing, where a limit's bucket starts full and keeps
// the tokens it has left when a decision changes its rate.
const LimiterWindow = routing.BurstWindow

// ErrCanceled is returned (wrapped) when a run is stopped by its context.
var ErrCanceled = errors.New("sim: run canceled")

// Run simulates scenario s with the strategy of cfg and returns the result,
// including the oracle bound. Runs are deterministic: the same scenario,
// seed and strategy give the same result. Arrivals and service times are
// drawn from streams of their own, so two strategies run on the same
// scenario see the same user requests.
//
// The model (documented in detail in docs/strategies.md):
//   - Users send Poisson streams of requests to a node's proxy. The proxy
//     routes each by the decision in force with the embedded proxy's
//     routing algorithm (package proxyctl/routing): local, forward or
//     reject by the route's shares with a smooth weighted round robin; the
//     LocalLimit and Admit caps are token buckets with a burst of
//     LimiterWindow; functions without a route use the proxy's default
//     handling.
//   - A function runs Concurrency requests at once with exponential
//     service times of mean Concurrency/Capacity, and queues the others in
//     FIFO order; a request that waits more than its Timeout fails.
//   - A forwarded request travels half the link's RTT each way and is
//     never forwarded again.
//   - A node's CPU usage over each period (Snapshot.Resources) follows
//     from its busy servers (see NodeCores); memory and power are not
//     modelled.
//   - Every node runs its agent every Period (with a random phase): it
//     reads its proxy's cumulative counters and runs the live agent's
//     control core (package strategy/control), which builds the snapshot,
//     completes and validates the decision (control.Decide) and announces
//     to the neighbours; an announcement arrives half an RTT later. A
//     failed or invalid decision keeps the previous one in force, as in
//     the agent.
func Run(ctx context.Context, s *Scenario, cfg Config) (Result, error) {
	if cfg.Factory == nil && cfg.New == nil {
		return Result{}, errors.New("sim: Config.Factory is required")
	}
	if err := s.Validate(); err != nil {
		return Result{}, err
	}
	sc := s.clone()
	sc.fillDefaults()
	e, err := newEngine(sc, cfg)
	if err != nil {
		return Result{}, err
	}
	if err := e.run(ctx); err != nil {
		return Result{}, err
	}
	r := e.result()
	r.OracleSuccessRate = OracleSuccessRate(sc)
	return r, nil
}

// Event kinds.
const (
	evArrival  uint8 = iota // a user request arrives (stream index in aux)
	evRemote                // a forwarded request reaches its neighbour
	evDone                  // a function finishes a request
	evTick                  // an agent's control cycle
	evAnnounce              // an announcement reaches a neighbour (slot in aux)
	evCentral               // the clairvoyant controller's decision (Clairvoyant)
)

// event is one entry of the event queue. Request events carry the request
// with them.
type event struct {
	t    int64 // ns since time zero
	seq  uint64
	kind uint8
	node int32 // where it happens
	fn   int32
	aux  int32 // origin node (requests), stream (arrivals), slot (announcements)
	t0   int64 // arrival at the origin
	half int64 // one-way link delay of a forwarded request, 0 if local
	enq  int64 // admission to the local function
}

// eventQueue is a 4-ary min-heap of events by time, then insertion order:
// shallower than a binary heap, so fewer cache misses on large runs.
type eventQueue []event

func (q eventQueue) less(i, j int) bool {
	return q[i].t < q[j].t || (q[i].t == q[j].t && q[i].seq < q[j].seq)
}

func (q *eventQueue) push(e event) {
	*q = append(*q, e)
	h := *q
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *eventQueue) pop() event {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		best := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if h.less(k, best) {
				best = k
			}
		}
		if !h.less(best, i) {
			break
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
	*q = h
	return top
}

// engine is one run in progress.
type engine struct {
	sc      *Scenario
	cfg     Config
	fnNames []string
	fnIdx   map[string]int32
	nodes   []*simNode
	nodeIdx map[strategy.NodeID]int32
	streams []stream
	queue   eventQueue
	seq     uint64
	end     int64 // ns: no arrival at or after end
	period  int64
	expiry  int64

	slots    []control.Message // announcements in flight
	freeSlot []int32

	strategyErrors int64

	now     int64        // the time of the event being handled
	central *clairvoyant // in Clairvoyant runs, instead of the agents
}

// stream is one load entry's Poisson arrival process.
type stream struct {
	node, fn int32
	load     Load
	rng      *rand.Rand
}

func newEngine(sc *Scenario, cfg Config) (*engine, error) {
	e := &engine{
		sc:      sc,
		cfg:     cfg,
		fnNames: sc.Functions(),
		fnIdx:   map[string]int32{},
		nodeIdx: map[strategy.NodeID]int32{},
		end:     int64(sc.Duration),
		period:  int64(sc.Period),
		expiry:  3 * int64(sc.Period),
	}
	for i, n := range e.fnNames {
		e.fnIdx[n] = int32(i)
	}
	if cfg.PerfectForecast {
		e.cfg.Forecaster = e.newPerfectForecaster
	}
	seeds := rand.New(rand.NewPCG(sc.Seed, 0x5eed))
	for i, n := range sc.Nodes {
		e.nodeIdx[strategy.NodeID(n.ID)] = int32(i)
	}
	factory := cfg.Factory
	if factory == nil {
		factory = func(json.RawMessage) (strategy.Strategy, error) { return cfg.New() }
	}
	for i, n := range sc.Nodes {
		st, err := factory.Build(cfg.Params)
		if err != nil {
			return nil, fmt.Errorf("sim: strategy for node %q: %w", n.ID, err)
		}
		sn, err := newSimNode(e, int32(i), n, st, seeds.Uint64())
		if err != nil {
			return nil, fmt.Errorf("sim: node %q: %w", n.ID, err)
		}
		e.nodes = append(e.nodes, sn)
	}
	for _, l := range sc.Links {
		a, b := e.nodeIdx[strategy.NodeID(l.A)], e.nodeIdx[strategy.NodeID(l.B)]
		e.nodes[a].addLink(b, l.RTT.D())
		e.nodes[b].addLink(a, l.RTT.D())
	}
	for _, n := range e.nodes {
		slices.SortFunc(n.links, func(x, y link) int { return strings.Compare(string(e.nodes[x.peer].id), string(e.nodes[y.peer].id)) })
		n.ans = make([]answers, len(e.fnNames)*len(n.links))
		n.lastAns = make([]answers, len(n.ans))
		for i, l := range n.links {
			n.linkOf[l.peer] = int32(i)
			id := e.nodes[l.peer].id
			n.members = append(n.members, id)
			n.peers = append(n.peers, control.Peer{ID: id, RTT: l.rtt, Up: true})
		}
	}
	for i, l := range sc.Load {
		// Each load entry draws from its own stream, independent of the
		// strategy, so that every strategy sees the same arrivals.
		e.streams = append(e.streams, stream{
			node: e.nodeIdx[strategy.NodeID(l.Node)],
			fn:   e.fnIdx[l.Function],
			load: l,
			rng:  rand.New(rand.NewPCG(sc.Seed, 0xa221<<32|uint64(i))),
		})
	}
	return e, nil
}

func (e *engine) schedule(ev event) {
	e.seq++
	ev.seq = e.seq
	e.queue.push(ev)
}

// nextArrival returns the first arrival of stream st after time from, if
// it comes before the end of the run (Load.NextArrival, which dfaas
// bench's load generator draws with too).
func (e *engine) nextArrival(st *stream, from int64) (int64, bool) {
	t, ok := st.load.NextArrival(st.rng, time.Duration(from), time.Duration(e.end))
	return int64(t), ok
}

// checkEvery is how many events run between two checks of the context.
const checkEvery = 1 << 16

func (e *engine) run(ctx context.Context) error {
	warmup := WarmupPeriods * e.period
	phases := rand.New(rand.NewPCG(e.sc.Seed, 0x7105e))
	if e.central != nil {
		e.schedule(event{t: 0, kind: evCentral})
	} else {
		for _, n := range e.nodes {
			e.schedule(event{t: -warmup + phases.Int64N(e.period), kind: evTick, node: n.idx})
		}
	}
	for i := range e.streams {
		st := &e.streams[i]
		if t, ok := e.nextArrival(st, 0); ok {
			e.schedule(event{t: t, kind: evArrival, node: st.node, fn: st.fn, aux: int32(i)})
		}
	}
	for count := 0; len(e.queue) > 0; count++ {
		if count%checkEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrCanceled, context.Cause(ctx))
		}
		ev := e.queue.pop()
		e.now = ev.t
		n := e.nodes[ev.node]
		switch ev.kind {
		case evArrival:
			st := &e.streams[ev.aux]
			if t, ok := e.nextArrival(st, ev.t); ok {
				e.schedule(event{t: t, kind: evArrival, node: st.node, fn: st.fn, aux: ev.aux})
			}
			n.userRequest(ev.t, ev.fn)
		case evRemote:
			n.remoteRequest(ev)
		case evDone:
			n.done(ev)
		case evTick:
			if ev.t < e.end {
				n.tick(ev.t)
				e.schedule(event{t: ev.t + e.period, kind: evTick, node: ev.node})
			}
		case evAnnounce:
			m := e.slots[ev.aux]
			e.slots[ev.aux] = control.Message{}
			e.freeSlot = append(e.freeSlot, ev.aux)
			if ev.t < e.end {
				n.receive(ev.t, ev.fn, m)
			}
		case evCentral:
			if ev.t < e.end {
				e.central.decide(ev.t)
				e.schedule(event{t: ev.t + e.period, kind: evCentral})
			}
		}
	}
	return nil
}

// send delivers message m from node from to node to after delay.
func (e *engine) send(now int64, from, to int32, delay int64, m control.Message) {
	var slot int32
	if k := len(e.freeSlot); k > 0 {
		slot = e.freeSlot[k-1]
		e.freeSlot = e.freeSlot[:k-1]
		e.slots[slot] = m
	} else {
		slot = int32(len(e.slots))
		e.slots = append(e.slots, m)
	}
	// fn carries the sender for announcements.
	e.schedule(event{t: now + delay, kind: evAnnounce, node: to, fn: from, aux: slot})
}

func (e *engine) result() Result {
	r := Result{Scenario: e.sc.Name, Strategy: e.cfg.Strategy, Mode: "sim", StrategyErrors: e.strategyErrors}
	var all histogram
	for _, n := range e.nodes {
		st := n.stats
		r.Offered += st.offered
		r.Served += st.served
		r.Forwarded += st.forwarded
		r.Rejected += st.rejected
		r.Failed += st.failed
		all.merge(&n.latency)
		r.Nodes = append(r.Nodes, NodeStat{
			ID: string(n.id), Offered: st.offered, Served: st.served, Forwarded: st.forwarded,
			Rejected: st.rejected, Failed: st.failed, SuccessRate: Rate(st.served, st.offered),
			Latency: n.latency.quantiles(),
		})
	}
	r.SuccessRate = Rate(r.Served, r.Offered)
	r.Latency = all.quantiles()
	return r
}
