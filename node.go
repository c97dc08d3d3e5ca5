package dfaas

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/internal/lograte"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// Components whose health a node tracks, as reported by Health and Status.
const (
	ComponentFaaS     = "faas"
	ComponentMetrics  = "metrics"
	ComponentProxy    = "proxy"
	ComponentStrategy = "strategy"
	ComponentPeers    = "peers"
	ComponentAdvisor  = "advisor"
	// ComponentAnnounce fails while the node's announcement cannot be
	// built within the message limit, had to leave functions out, or
	// reached no peer.
	ComponentAnnounce = "announce"
)

// Node is one DFaaS node's control loop. It periodically lists the local
// functions, samples metrics, forecasts, asks the strategy for a decision,
// applies it to the proxy and announces its state to its peers.
//
// Node is the I/O loop around a control core (package strategy/control),
// which the simulator runs too: the core builds the snapshot, completes and
// validates the decision, keeps the decision in force and yields the
// announcements; the node talks to the FaaS platform, the metric source,
// the proxy, the advisor and the peers, and keeps the forwarding
// credentials, metrics, logs and health.
//
// Methods of Node are safe for concurrent use, except that Step must not be
// called while Run is running (Run calls it).
type Node struct {
	cfg    Config
	id     strategy.NodeID
	log    *slog.Logger
	period time.Duration
	m      *nodeMetrics

	stepMu sync.Mutex // serialises Step

	mu      sync.Mutex // guards what follows, core included
	closed  bool
	running bool
	cycle   uint64
	core    *control.Core
	// neighbours holds the wire part of each neighbour the core keeps
	// (its proxy URL and the credential it handed this node); their
	// announcements live in the core.
	neighbours map[peer.ID]*neighbourState
	// creds holds the credential each neighbour must present when it
	// forwards here (see credentials.go).
	creds      map[peer.ID]*credential
	outOfCycle map[peer.ID]int     // out-of-cycle applies this cycle, per peer
	hailed     map[peer.ID]bool    // members hailed since they came up
	lastStep   time.Time           // the time of the last proxy state built by a cycle
	lastObs    control.Observation // of the last cycle whose snapshot was valid
	kick       chan struct{}       // a neighbour joined the data network: replan
	functions  []faas.Function
	health     map[string]error
	recvClosed error             // set once the transport's receive channel is closed
	snapshot   strategy.Snapshot // the last one given to the strategy
	applied    proxyctl.State
	unknown    control.Unknown // rates of unknown names, last cycle
	caps       []control.Cap   // what Bound computed, last cycle
	anomalies  control.Anomalies
	dropped    map[string]uint64
	received   uint64
	sent       uint64
	errs       map[string]uint64
	ann        AnnounceStatus
	warn       *lograte.Limiter
}

// neighbourState is what a node keeps of a peer's latest message besides
// its announcement (which the core keeps).
type neighbourState struct {
	msg      StateMessage
	received time.Time
}

// New builds a node from cfg. It validates cfg, returning an error that
// names the bad field, and starts nothing.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	id := strategy.NodeID(cfg.Peers.LocalID())
	bootstrap := make([]strategy.NodeID, len(cfg.Bootstrap))
	for i, p := range cfg.Bootstrap {
		bootstrap[i] = strategy.NodeID(p)
	}
	incarnation := cfg.Incarnation
	if incarnation == 0 {
		incarnation = uint64(max(1, time.Now().UnixNano()))
	}
	core, err := control.New(control.Config{
		Self: id, Period: cfg.period(), Expiry: cfg.expiry(), Seed: cfg.Seed, Forecaster: cfg.Forecaster,
		Nearest: cfg.Nearest, MaxRTT: cfg.MaxRTT, Bootstrap: bootstrap, Incarnation: incarnation,
		IdlePeriods: cfg.IdlePeriods, Trust: cfg.Trust,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	n := &Node{
		cfg:        cfg,
		id:         id,
		log:        log.With("node", string(id)),
		period:     cfg.period(),
		core:       core,
		neighbours: map[peer.ID]*neighbourState{},
		creds:      map[peer.ID]*credential{},
		outOfCycle: map[peer.ID]int{},
		hailed:     map[peer.ID]bool{},
		kick:       make(chan struct{}, 1),
		health:     map[string]error{},
		dropped:    map[string]uint64{},
		errs:       map[string]uint64{},
	}
	m, err := newNodeMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("%w: Registerer: %v", ErrConfig, err)
	}
	n.m = m
	// Warnings that repeat every cycle (a failing announcement, a capped
	// neighbour): one a minute per kind, then a summary with the count.
	n.warn = lograte.New(n.log, lograte.Options{Interval: time.Minute, Burst: 1})
	return n, nil
}

// ID returns the node's ID.
func (n *Node) ID() strategy.NodeID { return n.id }

// Period returns the control period.
func (n *Node) Period() time.Duration { return n.period }

// Run runs the control loop until ctx is done: a cycle (Step) at once and
// then every period, while receiving peer messages as they arrive. Cycle
// errors are logged and counted, never fatal. Run returns nil when ctx is
// cancelled, after every goroutine it started has exited, and ErrClosed if
// the node was closed.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return ErrClosed
	case n.running:
		n.mu.Unlock()
		return errors.New("dfaas: Run called twice")
	}
	n.running = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.running = false
		n.mu.Unlock()
	}()

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case msg, ok := <-n.cfg.Peers.Recv():
				if !ok {
					n.transportClosed()
					return nil
				}
				n.handle(ctx, msg, time.Now(), false)
			}
		}
	})
	g.Go(func() error {
		n.hailLoop(ctx)
		return nil
	})
	g.Go(func() error { return n.cycles(ctx) })
	return g.Wait()
}

// cycles runs a cycle at once and then every period until ctx is done,
// and a replan (see replan) when a neighbour joins the data network
// between two cycles.
func (n *Node) cycles(ctx context.Context) error {
	t := time.NewTicker(n.period)
	defer t.Stop()
	for {
		if _, err := n.Step(ctx, time.Now()); errors.Is(err, ErrClosed) {
			return err
		} else if err != nil && ctx.Err() == nil {
			n.log.Warn("control cycle failed; keeping the last decision", "err", err)
		}
		for replanned := true; replanned; {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				replanned = false
			case <-n.kick:
				if _, err := n.replan(ctx, time.Now()); errors.Is(err, ErrClosed) {
					return err
				} else if err != nil && ctx.Err() == nil {
					n.log.Warn("replan failed; keeping the last decision", "err", err)
				}
			}
		}
	}
}

// Close stops the node: Step and Run return ErrClosed afterwards, and its
// metrics are unregistered. It does not close the parts given in Config:
// whoever created them closes them. Close is safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		n.m.unregister()
	}
	return nil
}

// Step runs one control cycle at time now: it handles the peer messages
// already received, lists the functions, samples the metrics over the last
// period, has the core build the snapshot (forecasts included), asks the
// strategy, validates and applies the decision, and announces to the peers.
//
// Step is fail-static: when the FaaS backend fails the last known functions
// are used; when the metric source, the strategy or the proxy fails, the
// decision applied stays in force and the previous announcement is sent
// again. Every failure is logged, counted and returned (wrapped); the
// returned decision is the one in force after the cycle. Listing the
// functions and sampling the metrics share a time-out of one period, and
// the proxy's apply has its own (Config.ApplyTimeout): a cycle announces
// within one period and the apply time-out whatever its backends do.
func (n *Node) Step(ctx context.Context, now time.Time) (strategy.Decision, error) {
	n.stepMu.Lock()
	defer n.stepMu.Unlock()
	if n.isClosed() {
		return strategy.Decision{}, ErrClosed
	}
	start := time.Now()
	defer func() { n.m.cycleDuration.Observe(time.Since(start).Seconds()) }()
	n.m.cycles.Inc()
	n.mu.Lock()
	n.cycle++
	clear(n.outOfCycle)
	n.mu.Unlock()
	n.warn.Flush()

	n.drain(ctx, now)
	// Measuring (the FaaS backend, then the metric source) gets one
	// period: a backend that hangs or crawls (an overloaded data plane's
	// runtime API, say) fails the cycle, which keeps the decision in force
	// and announces it, rather than silencing the node.
	mctx, cancel := context.WithTimeout(ctx, n.period)
	defer cancel()
	fns := n.listFunctions(mctx)
	sample, err := n.cfg.Metrics.Sample(mctx, now, n.period)
	cancel()
	switch {
	case errors.Is(err, metricsrc.ErrDegraded):
		// A usable sample from a fallback: decide on it, report the error.
		n.fail(ComponentMetrics, err)
	case err != nil:
		n.fail(ComponentMetrics, err)
		return n.keep(ctx, fmt.Errorf("dfaas: metrics: %w", err))
	default:
		n.setHealth(ComponentMetrics, nil)
	}
	return n.decide(ctx, n.observation(now, fns, sample), fns)
}

// replan runs a cycle at time now on the observation of the last cycle,
// not measured again (forecasters are not fed, the neighbours' answers not
// recorded again): between two cycles, when a neighbour joined the data
// network (it handed this node a credential), so that forwarding to a peer
// that connects, or restarts, starts at once rather than at the next
// cycle. Run calls it; each replan is bounded by
// the out-of-cycle reactions that call for it (maxOutOfCycle per peer and
// cycle).
func (n *Node) replan(ctx context.Context, now time.Time) (strategy.Decision, error) {
	n.stepMu.Lock()
	defer n.stepMu.Unlock()
	n.mu.Lock()
	closed, o, fns := n.closed, n.lastObs, slices.Clone(n.functions)
	n.mu.Unlock()
	switch {
	case closed:
		return strategy.Decision{}, ErrClosed
	case o.Now.IsZero():
		return n.current(), nil // no cycle yet
	}
	n.m.replans.Inc()
	// The last cycle recorded its neighbours' answers (control.Core's
	// trust record): recorded again, they would push a neighbour's best
	// periods out of it, as the replans of its restart did.
	o.Now, o.Measured, o.Peers, o.Answers = now, false, nil, nil
	if dir, ok := n.cfg.Peers.(peer.Directory); ok {
		for _, p := range dir.Peers() {
			o.Peers = append(o.Peers, control.Peer{ID: strategy.NodeID(p.ID), RTT: p.RTT, Up: p.Up})
		}
	}
	return n.decide(ctx, o, fns)
}

// decide runs the rest of a cycle on observation o: the core's snapshot,
// the strategy, Bound, the proxy, the commit and the announcement.
func (n *Node) decide(ctx context.Context, o control.Observation, fns []faas.Function) (strategy.Decision, error) {
	snap, err := n.observe(o)
	n.m.setFunctions(snap.Functions, o.Measured)
	if err != nil {
		// A bug or a source returning garbage: never hand it to a strategy.
		n.fail(ComponentMetrics, err)
		return n.keep(ctx, fmt.Errorf("dfaas: snapshot: %w", err))
	}
	if n.cfg.Advisor != nil {
		snap.Advice = n.advise(ctx, snap)
	}
	d, err := control.Decide(n.cfg.Strategy, snap)
	if err != nil {
		n.fail(ComponentStrategy, err)
		return n.keep(ctx, fmt.Errorf("dfaas: decide: %w", err))
	}
	n.setHealth(ComponentStrategy, nil)
	n.bound(&d, snap)
	return n.apply(ctx, o.Now, snap, fns, d)
}

// bound caps what the decision sends each neighbour (control.Core.Bound).
func (n *Node) bound(d *strategy.Decision, snap strategy.Snapshot) {
	n.mu.Lock()
	n.caps = n.core.Bound(d, snap)
	before, after := n.anomalies, n.core.Anomalies()
	n.anomalies = after
	caps := slices.Clone(n.caps)
	n.mu.Unlock()
	n.m.setAnomalies(before, after, caps)
	for _, c := range caps {
		if c.Capped {
			n.warn.Warn("share-capped:"+string(c.ID), "capped what a neighbour receives to what its answers support",
				"peer", string(c.ID), "allowance_rps", c.Allowance, "decided_rps", c.Estimate)
		}
	}
}

// apply applies decision d, decided on snap, to the proxy with the
// credentials rotated as due at now, commits it and announces it.
func (n *Node) apply(ctx context.Context, now time.Time, snap strategy.Snapshot, fns []faas.Function, d strategy.Decision) (strategy.Decision, error) {
	state := n.proxyState(now, snap, fns, d)
	actx, cancel := context.WithTimeout(ctx, n.cfg.applyTimeout())
	err := n.cfg.Proxy.Apply(actx, state)
	cancel()
	if err != nil {
		n.fail(ComponentProxy, err)
		return n.keep(ctx, fmt.Errorf("dfaas: proxy: %w", err))
	}
	n.setHealth(ComponentProxy, nil)
	accepted := make([]strategy.NodeID, len(state.Neighbours))
	for i, nb := range state.Neighbours {
		accepted[i] = nb.ID
	}
	n.mu.Lock()
	n.applied = state
	n.core.Commit(d, accepted)
	n.mu.Unlock()
	n.m.setDecision(d)
	n.announce(ctx)
	return d.Clone(), nil
}

// keep ends a failed cycle fail-static: the decision in force stays, its
// announcement is sent again, and err is returned with it.
func (n *Node) keep(ctx context.Context, err error) (strategy.Decision, error) {
	n.announce(ctx)
	return n.current(), err
}

// advise asks the advisor about snap within the advice time-out; a failure
// is counted and yields no advice.
func (n *Node) advise(ctx context.Context, snap strategy.Snapshot) json.RawMessage {
	timeout := n.cfg.AdviceTimeout
	if timeout == 0 {
		timeout = n.period / 2
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a, err := n.cfg.Advisor.Advise(actx, snap.Clone())
	if err == nil && len(a) > 0 && !json.Valid(a) {
		err = errors.New("advice is not valid JSON")
	}
	if err != nil {
		n.fail(ComponentAdvisor, err)
		return nil
	}
	n.setHealth(ComponentAdvisor, nil)
	return a
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// current returns the decision in force.
func (n *Node) current() strategy.Decision {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applied.Decision.Clone()
}

func (n *Node) fail(component string, err error) {
	n.setHealth(component, err)
	n.mu.Lock()
	n.errs[component]++
	n.mu.Unlock()
	n.m.cycleErrors.WithLabelValues(component).Inc()
	n.log.Warn("component failed", "component", component, "err", err)
}

// setHealth records component's health (err nil: up). Once the
// transport's receive channel is closed (transportClosed), the peers
// component stays failing whatever a later announcement's sends report.
// The map and the gauge change under n.mu, so that they agree whatever
// the order of concurrent calls.
func (n *Node) setHealth(component string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if component == ComponentPeers && n.recvClosed != nil {
		err = n.recvClosed
	}
	n.health[component] = err
	up := 1.0
	if err != nil {
		up = 0
	}
	n.m.componentUp.WithLabelValues(component).Set(up)
}

// transportClosed marks the peers component failing for good: the
// transport's receive channel is closed (Run's receiver or a cycle's drain
// found it so), and a transport does not reopen.
func (n *Node) transportClosed() {
	err := errors.New("transport closed")
	n.mu.Lock()
	n.recvClosed = err
	n.mu.Unlock()
	n.setHealth(ComponentPeers, err)
}

// listFunctions returns the local functions, or the last known ones when
// the backend fails.
func (n *Node) listFunctions(ctx context.Context) []faas.Function {
	fns, err := n.cfg.FaaS.Functions(ctx)
	if err == nil {
		if hc, ok := n.cfg.FaaS.(faas.HealthChecker); ok {
			err = hc.Health(ctx)
		}
	}
	if err != nil {
		n.fail(ComponentFaaS, err)
		n.mu.Lock()
		defer n.mu.Unlock()
		return slices.Clone(n.functions)
	}
	slices.SortFunc(fns, func(a, b faas.Function) int { return cmp.Compare(a.Name, b.Name) })
	fns = slices.CompactFunc(fns, func(a, b faas.Function) bool { return a.Name == b.Name })
	fns = slices.DeleteFunc(fns, func(f faas.Function) bool {
		if err := strategy.ValidName(f.Name); err != nil {
			n.log.Warn("ignoring function with an invalid name", "err", err)
			return true
		}
		return false
	})
	n.mu.Lock()
	n.functions = fns
	n.mu.Unlock()
	n.setHealth(ComponentFaaS, nil)
	return slices.Clone(fns)
}

// observation returns what the node observed at now, as the core takes
// it.
func (n *Node) observation(now time.Time, fns []faas.Function, sample metricsrc.Sample) control.Observation {
	o := control.Observation{
		Now:      now,
		Deployed: n.deployed(fns),
		Rates:    rates(sample),
		Measured: sample.Window > 0,
		Resources: strategy.Resources{
			CPU: sample.Node.CPU, CPUCores: sample.Node.CPUCores,
			Memory: sample.Node.Memory, MemoryTotal: sample.Node.MemoryTotal, Power: sample.Node.Power,
		},
		Answers:         answers(sample),
		AnswersMeasured: sample.Answers && sample.Window > 0,
		Other: strategy.Function{
			Offered: sample.Other.Offered, Local: sample.Other.Local, FromNeighbours: sample.Other.FromNeighbours,
			Forwarded: sample.Other.Forwarded, Rejected: sample.Other.Rejected, Failed: sample.Other.Failed,
		},
	}
	if dir, ok := n.cfg.Peers.(peer.Directory); ok {
		infos := dir.Peers()
		o.Directory = true
		for _, p := range infos {
			o.Peers = append(o.Peers, control.Peer{ID: strategy.NodeID(p.ID), RTT: p.RTT, Up: p.Up})
		}
		n.m.setPeers(infos)
	}
	return o
}

// observe hands an observation to the core, which builds the snapshot
// (see control.Core.Observe), and drops the wire part and the credentials
// of the neighbours the core expired or forgot.
func (n *Node) observe(o control.Observation) (strategy.Snapshot, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, err := n.core.Observe(o)
	for id := range n.neighbours {
		if _, ok := n.core.Neighbour(strategy.NodeID(id)); !ok {
			n.forget(id)
			n.log.Info("neighbour expired or left; its credential is revoked", "peer", string(id))
		}
	}
	n.unknown = n.core.Unknown()
	if err == nil {
		n.snapshot = s
		n.lastObs = o
	}
	n.m.neighbours.Set(float64(len(s.Neighbours)))
	n.m.setUnknown(n.unknown)
	return s, err
}

// forget drops what the node keeps of peer id besides the core: its wire
// state and the credential it was given (revoked at the next apply). n.mu
// must be held.
func (n *Node) forget(id peer.ID) {
	delete(n.neighbours, id)
	delete(n.creds, id)
	delete(n.outOfCycle, id)
}

// deployed returns the local functions as the core takes them.
func (n *Node) deployed(fns []faas.Function) []strategy.Function {
	out := make([]strategy.Function, 0, len(fns))
	for _, fn := range fns {
		f := strategy.Function{Name: fn.Name, Replicas: fn.AvailableReplicas}
		if c, err := fn.Capacity(); err != nil {
			n.log.Warn("capacity unknown", "err", err)
		} else {
			f.Capacity = c
		}
		if c, err := fn.Concurrency(); err != nil {
			n.log.Warn("concurrency unknown", "err", err)
		} else {
			f.Concurrency = c
		}
		out = append(out, f)
	}
	return out
}

// rates returns the sample's per-function rates as the core takes them.
func rates(sample metricsrc.Sample) []strategy.Function {
	out := make([]strategy.Function, len(sample.Functions))
	for i, r := range sample.Functions {
		out[i] = strategy.Function{
			Name: r.Name, Offered: r.Offered, Local: r.Local, FromNeighbours: r.FromNeighbours,
			Forwarded: r.Forwarded, Rejected: r.Rejected, Failed: r.Failed, Latency: r.Latency,
			CPU: r.CPU, Memory: r.Memory, // per function, from metricsrc/cadvisor (0: unknown)
		}
	}
	return out
}

// answers returns the neighbours' answers of a sample, per neighbour and
// function, as the core takes them.
func answers(sample metricsrc.Sample) []control.Answer {
	var out []control.Answer
	for _, f := range sample.Functions {
		for _, nr := range f.Neighbours {
			if nr.Succeeded > 0 || nr.Failed > 0 {
				out = append(out, control.Answer{ID: strategy.NodeID(nr.ID), Function: f.Name, Succeeded: nr.Succeeded, Failed: nr.Failed, Latency: nr.Latency})
			}
		}
	}
	return out
}
