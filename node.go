package dfaas

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// Components whose health a node tracks, as reported by Health and Status.
const (
	ComponentFaaS     = "faas"
	ComponentMetrics  = "metrics"
	ComponentProxy    = "proxy"
	ComponentStrategy = "strategy"
	ComponentPeers    = "peers"
	ComponentAdvisor  = "advisor"
)

// Node is one DFaaS node's control loop. It periodically lists the local
// functions, samples metrics, forecasts, asks the strategy for a decision,
// applies it to the proxy and announces its state to its peers.
//
// Methods of Node are safe for concurrent use, except that Step must not be
// called while Run is running (Run calls it).
type Node struct {
	cfg    Config
	id     strategy.NodeID
	log    *slog.Logger
	period time.Duration
	expiry time.Duration
	m      *nodeMetrics

	stepMu sync.Mutex // serialises Step

	mu         sync.Mutex
	closed     bool
	running    bool
	cycle      uint64
	seq        uint64
	neighbours map[peer.ID]*neighbourState
	tokensIn   map[peer.ID]string
	functions  []faas.Function
	forecasts  map[string]forecast.Forecaster
	health     map[string]error
	snapshot   strategy.Snapshot
	applied    proxyctl.State
	hasApplied bool
	dropped    map[string]uint64
	received   uint64
	sent       uint64
	errs       map[string]uint64
}

// neighbourState is what a node keeps of a peer's latest message.
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
	n := &Node{
		cfg:        cfg,
		id:         id,
		log:        log.With("node", string(id)),
		period:     cfg.period(),
		expiry:     cfg.expiry(),
		neighbours: map[peer.ID]*neighbourState{},
		tokensIn:   map[peer.ID]string{},
		forecasts:  map[string]forecast.Forecaster{},
		health:     map[string]error{},
		dropped:    map[string]uint64{},
		errs:       map[string]uint64{},
	}
	m, err := newNodeMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("%w: Registerer: %v", ErrConfig, err)
	}
	n.m = m
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
					n.setHealth(ComponentPeers, errors.New("transport closed"))
					return nil
				}
				n.handle(msg, time.Now())
			}
		}
	})
	g.Go(func() error {
		t := time.NewTicker(n.period)
		defer t.Stop()
		for {
			if _, err := n.Step(ctx, time.Now()); errors.Is(err, ErrClosed) {
				return err
			} else if err != nil && ctx.Err() == nil {
				n.log.Warn("control cycle failed; keeping the last decision", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	return g.Wait()
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
// period, forecasts, builds the snapshot, asks the strategy, validates and
// applies the decision, and announces to the peers.
//
// Step is fail-static: when the FaaS backend fails the last known functions
// are used; when the metric source, the strategy or the proxy fails, the
// decision applied stays in force and the previous announcement is sent
// again. Every failure is logged, counted and returned (wrapped); the
// returned decision is the one in force after the cycle.
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
	cycle := n.cycle
	n.mu.Unlock()

	n.drain(now)
	fns := n.listFunctions(ctx)
	sample, err := n.cfg.Metrics.Sample(ctx, now, n.period)
	switch {
	case errors.Is(err, metricsrc.ErrDegraded):
		// A usable sample from a fallback: decide on it, report the error.
		n.fail(ComponentMetrics, err)
	case err != nil:
		n.fail(ComponentMetrics, err)
		n.announce(ctx, n.appliedAnnouncement())
		return n.current(), fmt.Errorf("dfaas: metrics: %w", err)
	default:
		n.setHealth(ComponentMetrics, nil)
	}

	snap := n.buildSnapshot(now, cycle, fns, sample)
	n.m.setFunctions(snap.Functions, sample.Window > 0)
	if err := snap.Validate(); err != nil {
		// A bug or a source returning garbage: never hand it to a strategy.
		n.fail(ComponentMetrics, err)
		n.announce(ctx, n.appliedAnnouncement())
		return n.current(), fmt.Errorf("dfaas: snapshot: %w", err)
	}
	if n.cfg.Advisor != nil {
		snap.Advice = n.advise(ctx, snap)
	}
	d, err := strategy.SafeDecide(n.cfg.Strategy, snap)
	if err == nil {
		completeDecision(&d, snap)
		err = d.Validate(snap)
	}
	n.mu.Lock()
	n.snapshot = snap
	n.mu.Unlock()
	if err != nil {
		n.fail(ComponentStrategy, err)
		n.announce(ctx, n.appliedAnnouncement())
		return n.current(), fmt.Errorf("dfaas: strategy: %w", err)
	}
	n.setHealth(ComponentStrategy, nil)

	state := n.proxyState(snap, fns, d)
	actx, cancel := context.WithTimeout(ctx, n.period)
	err = n.cfg.Proxy.Apply(actx, state)
	cancel()
	if err != nil {
		n.fail(ComponentProxy, err)
		n.announce(ctx, n.appliedAnnouncement())
		return n.current(), fmt.Errorf("dfaas: proxy: %w", err)
	}
	n.setHealth(ComponentProxy, nil)
	n.mu.Lock()
	n.applied, n.hasApplied = state, true
	n.mu.Unlock()
	n.m.setDecision(d)
	n.announce(ctx, d.Announce)
	return d.Clone(), nil
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

func (n *Node) appliedAnnouncement() strategy.Announcement {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.hasApplied {
		return n.applied.Decision.Announce.Clone()
	}
	// Nothing applied yet: announce at least the deployed functions.
	return strategy.BaseAnnouncement(n.snapshot)
}

func (n *Node) fail(component string, err error) {
	n.setHealth(component, err)
	n.mu.Lock()
	n.errs[component]++
	n.mu.Unlock()
	n.m.cycleErrors.WithLabelValues(component).Inc()
	n.log.Warn("component failed", "component", component, "err", err)
}

func (n *Node) setHealth(component string, err error) {
	n.mu.Lock()
	n.health[component] = err
	n.mu.Unlock()
	up := 1.0
	if err != nil {
		up = 0
	}
	n.m.componentUp.WithLabelValues(component).Set(up)
}

// drain handles the messages already waiting, without blocking.
func (n *Node) drain(now time.Time) {
	for {
		select {
		case msg, ok := <-n.cfg.Peers.Recv():
			if !ok {
				n.setHealth(ComponentPeers, errors.New("transport closed"))
				return
			}
			n.handle(msg, now)
		default:
			return
		}
	}
}

// handle decodes and stores one peer message. A bad message is dropped and
// counted; it never changes the node's state.
func (n *Node) handle(msg peer.Message, now time.Time) {
	err := n.accept(msg, now)
	if err == nil {
		n.m.received.Inc()
		return
	}
	reason := DropMalformed
	var me *MessageError
	if errors.As(err, &me) {
		reason = me.Reason
	}
	n.mu.Lock()
	n.dropped[reason]++
	n.mu.Unlock()
	n.m.dropped.WithLabelValues(reason).Inc()
	n.log.Debug("dropped peer message", "from", string(msg.From), "reason", reason, "err", err)
}

func (n *Node) accept(msg peer.Message, now time.Time) error {
	if strategy.NodeID(msg.From) == n.id || msg.From == "" {
		return &MessageError{DropSelf, fmt.Errorf("sender %q", msg.From)}
	}
	m, err := DecodeMessage(msg.Data, n.cfg.MaxMessageSize)
	if err != nil {
		return err
	}
	// Keep only the grants addressed to this node.
	m.Announcement.Grants = slices.DeleteFunc(m.Announcement.Grants, func(g strategy.Grant) bool { return g.To != n.id })
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.neighbours[msg.From]; ok && old.msg.Seq >= m.Seq {
		return &MessageError{DropStale, fmt.Errorf("sequence %d, have %d", m.Seq, old.msg.Seq)}
	}
	n.neighbours[msg.From] = &neighbourState{msg: m, received: now}
	n.received++
	return nil
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

// splitmix64 derives well-mixed per-cycle seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// buildSnapshot assembles what the node knows into a strategy snapshot. It
// also expires stale neighbours and feeds the forecasters.
func (n *Node) buildSnapshot(now time.Time, cycle uint64, fns []faas.Function, sample metricsrc.Sample) strategy.Snapshot {
	var rtts map[peer.ID]time.Duration
	down := map[peer.ID]bool{}
	if dir, ok := n.cfg.Peers.(peer.Directory); ok {
		infos := dir.Peers()
		rtts = make(map[peer.ID]time.Duration, len(infos))
		for _, p := range infos {
			rtts[p.ID] = p.RTT
			down[p.ID] = !p.Up
		}
		n.m.setPeers(infos)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	for id, ns := range n.neighbours {
		if now.Sub(ns.received) > n.expiry {
			delete(n.neighbours, id)
			n.log.Info("neighbour expired", "peer", string(id))
		}
	}
	s := strategy.Snapshot{
		Self:   n.id,
		Now:    now,
		Period: n.period,
		Seed:   splitmix64(n.cfg.Seed ^ splitmix64(cycle)),
		Prev:   n.applied.Decision.Clone(),
		Resources: strategy.Resources{
			CPU: sample.Node.CPU, CPUCores: sample.Node.CPUCores,
			Memory: sample.Node.Memory, MemoryTotal: sample.Node.MemoryTotal, Power: sample.Node.Power,
		},
	}
	for _, id := range n.dataNetwork(rtts, down) {
		ns := n.neighbours[id]
		s.Neighbours = append(s.Neighbours, strategy.Neighbour{
			ID:           strategy.NodeID(id),
			Age:          max(0, now.Sub(ns.received)),
			RTT:          rtts[id],
			Announcement: ns.msg.Announcement.Clone(),
		})
	}
	slices.SortFunc(s.Neighbours, func(a, b strategy.Neighbour) int { return cmp.Compare(a.ID, b.ID) })

	byName := map[string]*strategy.Function{}
	get := func(name string) *strategy.Function {
		if f := byName[name]; f != nil {
			return f
		}
		f := &strategy.Function{Name: name}
		byName[name] = f
		return f
	}
	for _, fn := range fns {
		f := get(fn.Name)
		f.Deployed = true
		f.Replicas = fn.AvailableReplicas
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
	}
	for _, r := range sample.Functions {
		if strategy.ValidName(r.Name) != nil {
			continue
		}
		f := get(r.Name)
		f.Offered, f.Local, f.FromNeighbours = sanitize(r.Offered), sanitize(r.Local), sanitize(r.FromNeighbours)
		f.Forwarded, f.Rejected, f.Failed = sanitize(r.Forwarded), sanitize(r.Rejected), sanitize(r.Failed)
		f.Latency = max(0, r.Latency)
		// Per-function usage measured per container (metricsrc/cadvisor);
		// 0 (unknown) from the other sources.
		f.CPU, f.Memory = sanitize(r.CPU), sanitize(r.Memory)
	}
	for _, nb := range s.Neighbours {
		for _, fs := range nb.Announcement.Functions {
			if fs.Deployed {
				get(fs.Name)
			}
		}
	}
	for name, f := range byName {
		f.Forecast = f.Offered
		if n.cfg.Forecaster != nil {
			fc := n.forecasts[name]
			if fc == nil {
				fc = n.cfg.Forecaster()
				n.forecasts[name] = fc
			}
			if sample.Window > 0 {
				fc.Observe(f.Offered)
			}
			f.Forecast = sanitize(fc.Forecast())
		}
		s.Functions = append(s.Functions, *f)
	}
	for name := range n.forecasts {
		if byName[name] == nil {
			delete(n.forecasts, name)
		}
	}
	slices.SortFunc(s.Functions, func(a, b strategy.Function) int { return cmp.Compare(a.Name, b.Name) })
	n.m.neighbours.Set(float64(len(s.Neighbours)))
	return s
}

func sanitize(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// dataNetwork returns the fresh neighbours this node may forward to: all of
// them, or those within MaxRTT, or the Nearest by RTT (unknown RTT last),
// leaving out those the transport reports down (without waiting for their
// announcements to expire) and those that gave this node no credential yet.
// n.mu must be held.
func (n *Node) dataNetwork(rtts map[peer.ID]time.Duration, down map[peer.ID]bool) []peer.ID {
	ids := make([]peer.ID, 0, len(n.neighbours))
	for id, ns := range n.neighbours {
		if ns.msg.Token == "" {
			continue // it does not accept requests from this node yet
		}
		if r, ok := rtts[id]; down[id] || n.cfg.MaxRTT > 0 && ok && r > n.cfg.MaxRTT {
			continue
		}
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b peer.ID) int {
		ra, rb := rtts[a], rtts[b]
		if ra == 0 {
			ra = math.MaxInt64
		}
		if rb == 0 {
			rb = math.MaxInt64
		}
		return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(a, b))
	})
	if n.cfg.Nearest > 0 && len(ids) > n.cfg.Nearest {
		ids = ids[:n.cfg.Nearest]
	}
	return ids
}

// completeDecision fills what a strategy may leave out: routes for
// functions it did not route (deployed: local; else even among the
// neighbours running it), and the generic part of the announcement.
func completeDecision(d *strategy.Decision, s strategy.Snapshot) {
	// Look routes up in the strategy's routes only (sorted, as Route's
	// binary search needs), and add the missing ones afterwards.
	strategy.SortRoutes(d.Routes)
	var missing []strategy.Route
	for _, f := range s.Functions {
		if _, ok := d.Route(f.Name); ok {
			continue
		}
		if f.Deployed {
			missing = append(missing, strategy.Route{Function: f.Name, Local: 1})
			continue
		}
		runners := s.Running(f.Name)
		if len(runners) == 0 {
			continue // the proxy answers 404
		}
		even := map[strategy.NodeID]float64{}
		for _, nb := range runners {
			even[nb.ID] = 1
		}
		missing = append(missing, strategy.NewRoute(f.Name, 0, 0, even))
	}
	d.Routes = append(d.Routes, missing...)
	strategy.SortRoutes(d.Routes)
	base := strategy.BaseAnnouncement(s)
	if d.Announce.Functions == nil {
		d.Announce.Functions = base.Functions
	}
	if d.Announce.Resources == (strategy.Resources{}) {
		d.Announce.Resources = base.Resources
	}
}

// proxyState builds the proxy's state for decision d. It includes every
// fresh neighbour (any of them may forward here), marking those in the
// data network as forwarding targets.
func (n *Node) proxyState(s strategy.Snapshot, fns []faas.Function, d strategy.Decision) proxyctl.State {
	st := proxyctl.State{Self: n.id, Decision: d}
	for _, fn := range fns {
		f := proxyctl.Function{Name: fn.Name}
		if sf, ok := s.Function(fn.Name); ok {
			f.Capacity, f.Concurrency = sf.Capacity, sf.Concurrency
		}
		if t, err := fn.Timeout(); err == nil {
			f.Timeout = t
		}
		st.Functions = append(st.Functions, f)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, ns := range n.neighbours {
		nb := proxyctl.Neighbour{
			ID:       strategy.NodeID(id),
			URL:      ns.msg.Proxy,
			TokenOut: ns.msg.Token,
			TokenIn:  n.tokenIn(id),
		}
		_, nb.Forward = s.Neighbour(nb.ID)
		for _, fs := range ns.msg.Announcement.Functions {
			if fs.Deployed {
				nb.Functions = append(nb.Functions, fs.Name)
			}
		}
		st.Neighbours = append(st.Neighbours, nb)
	}
	slices.SortFunc(st.Neighbours, func(a, b proxyctl.Neighbour) int { return cmp.Compare(a.ID, b.ID) })
	return st
}

// tokenIn returns the credential peer id must present when forwarding to
// this node, creating it. n.mu must be held.
func (n *Node) tokenIn(id peer.ID) string {
	if t, ok := n.tokensIn[id]; ok {
		return t
	}
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	t := hex.EncodeToString(b[:])
	n.tokensIn[id] = t
	return t
}

// acceptedToken returns the credential of peer id if the proxy state in
// force accepts it, else "": a peer is told its credential only once the
// proxy would accept it, so it never forwards a request that would be
// refused as coming from an unknown node. n.mu must be held.
func (n *Node) acceptedToken(id peer.ID) string {
	if _, ok := n.applied.Neighbour(strategy.NodeID(id)); ok {
		return n.tokensIn[id]
	}
	return ""
}

// announce sends a to every peer this node knows: those of the transport's
// directory, those heard from, and the bootstrap list.
func (n *Node) announce(ctx context.Context, a strategy.Announcement) {
	targets := map[peer.ID]bool{}
	if dir, ok := n.cfg.Peers.(peer.Directory); ok {
		for _, p := range dir.Peers() {
			targets[p.ID] = true
		}
	}
	n.mu.Lock()
	for id := range n.neighbours {
		targets[id] = true
	}
	for _, id := range n.cfg.Bootstrap {
		targets[id] = true
	}
	delete(targets, peer.ID(n.id))
	ids := make([]peer.ID, 0, len(targets))
	for id := range targets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	msgs := make([]StateMessage, len(ids))
	for i, id := range ids {
		n.seq++
		pa := a.Clone()
		pa.Grants = slices.DeleteFunc(pa.Grants, func(g strategy.Grant) bool { return g.To != strategy.NodeID(id) })
		msgs[i] = StateMessage{Version: WireVersion, Type: "state", Seq: n.seq, Proxy: n.cfg.ProxyURL, Token: n.acceptedToken(id), Announcement: pa}
	}
	n.mu.Unlock()

	var failed int
	var lastErr error
	for i, id := range ids {
		data, err := EncodeMessage(msgs[i])
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, n.period/2)
			err = n.cfg.Peers.Send(sctx, id, data)
			cancel()
		}
		if err != nil {
			failed++
			lastErr = err
			n.log.Debug("announcement not sent", "peer", string(id), "err", err)
			continue
		}
		n.m.sent.Inc()
		n.mu.Lock()
		n.sent++
		n.mu.Unlock()
	}
	if errors.Is(lastErr, peer.ErrClosed) {
		n.setHealth(ComponentPeers, lastErr)
	} else {
		n.setHealth(ComponentPeers, nil)
	}
	if failed > 0 {
		n.m.sendErrors.Add(float64(failed))
	}
}
