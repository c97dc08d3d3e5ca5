package sim

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
)

// simNode is one node of a run: its proxy (routes, limits, counters), its
// functions (stations) and its agent (snapshots, strategy, announcements).
type simNode struct {
	e    *engine
	idx  int32
	id   strategy.NodeID
	st   strategy.Strategy
	seed uint64
	rng  *rand.Rand // the proxy's routing choices

	links  []link // sorted by peer ID
	linkOf map[int32]int32

	// Per function index.
	stations []*station // nil where not deployed
	deployed []Function
	cnt      []counters
	routes   []route
	runners  [][]int32 // link indices of the neighbours running it, as the proxy knows them

	// Agent state, as in package dfaas's Node.
	cycle      uint64
	last       []counters // the previous reading of the counters
	hasLast    bool
	nbs        map[int32]*neighbourState
	forecasts  map[string]forecast.Forecaster
	applied    strategy.Decision
	hasApplied bool
	snapshot   strategy.Snapshot

	stats   nodeStats
	latency histogram
}

// link is a link of the data network as one of its ends sees it.
type link struct {
	peer int32
	rtt  time.Duration
	half int64 // one-way delay, ns
}

// neighbourState is the latest announcement heard from a neighbour.
type neighbourState struct {
	a        strategy.Announcement
	received int64
}

// nodeStats counts the user requests that arrived at a node, by outcome.
type nodeStats struct {
	offered, served, forwarded, rejected, failed int64
	dbgAdmission, dbgPolicy, dbgOverflow         int64
}

// counters are a node's cumulative per-function counters, kept as the
// embedded proxy keeps them (metricsrc.FunctionCounters): Offered counts
// user requests; Local the requests handed to the local function (users and
// neighbours); FromNeighbours the part of Local forwarded by neighbours;
// Forwarded the user requests sent to neighbours; Rejected the requests
// refused on purpose, by this proxy (a reject share, an overflowing
// LocalLimit without forwarding shares, no route, a neighbour above its
// admission limit) or by the neighbour a user request was forwarded to;
// Failed the requests that timed out in the local queue, and the user
// requests forwarded to a neighbour where they timed out; and the sum and
// count of the local processing times (queue wait plus service) of the
// requests served.
type counters struct {
	exists                                                      bool
	offered, local, fromNeighbours, forwarded, rejected, failed uint64
	latencySum                                                  float64 // seconds
	latencyCount                                                uint64
}

// station is a function deployed on a node: Concurrency servers with
// exponential service times and a FIFO queue with a wait time-out.
type station struct {
	k    int
	busy int
	// area is the integral of busy over time (server·ns) up to areaAt;
	// areaLast is its value at the last control cycle.
	area, areaLast float64
	areaAt         int64
	mean           float64 // mean service time, ns
	timeout        int64
	rng            *rand.Rand
	q              []waiting // ring buffer
	head, n        int
}

// waiting is a request in a function's queue.
type waiting struct {
	origin int32
	t0     int64
	half   int64
	enq    int64
}

// setBusy changes the number of busy servers at time now by delta,
// integrating the busy time for the node's CPU usage.
func (s *station) setBusy(now int64, delta int) {
	s.area += float64(s.busy) * float64(now-s.areaAt)
	s.areaAt = now
	s.busy += delta
}

// utilization returns the mean share of the servers busy since the last
// call (over period ns) and starts a new window at now.
func (s *station) utilization(now, period int64) float64 {
	s.setBusy(now, 0)
	u := (s.area - s.areaLast) / float64(period) / float64(s.k)
	s.areaLast = s.area
	return min(1, max(0, u))
}

func (s *station) push(w waiting) {
	if s.n == len(s.q) {
		grown := make([]waiting, max(16, 2*len(s.q)))
		for i := range s.n {
			grown[i] = s.q[(s.head+i)%len(s.q)]
		}
		s.q, s.head = grown, 0
	}
	s.q[(s.head+s.n)%len(s.q)] = w
	s.n++
}

func (s *station) pop() waiting {
	w := s.q[s.head]
	s.head = (s.head + 1) % len(s.q)
	s.n--
	return w
}

// route is a decision's route compiled for the proxy, as the embedded
// proxy (proxyctl/embedded) compiles it: a smooth weighted round robin over
// [local, reject, forward...], another over the forwarding shares for
// requests above the local limit, and token buckets for the limits.
type route struct {
	ok       bool
	all      picker
	overflow picker
	fwdLink  []int32
	limit    *bucket           // LocalLimit, nil when none
	admit    map[int32]*bucket // Admit, by origin node
}

// picker realises weights exactly with a smooth weighted round robin (the
// algorithm of nginx, HAProxy and the embedded proxy).
type picker struct {
	weights []float64
	current []float64
	total   float64
}

func newPicker(weights []float64) picker {
	var t float64
	for _, w := range weights {
		t += w
	}
	return picker{weights: weights, current: make([]float64, len(weights)), total: t}
}

// pick returns the index of the next destination, or -1 if every weight is
// zero.
func (p *picker) pick() int {
	if p.total <= 0 {
		return -1
	}
	best := -1
	for i, w := range p.weights {
		if w <= 0 {
			continue
		}
		p.current[i] += w
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= p.total
	return best
}

// bucket is a token bucket: rate tokens per second, at most burst, which
// starts full.
type bucket struct {
	rate, burst, tokens float64
	last                int64
}

func newBucket(rate float64, now int64) *bucket {
	b := math.Max(1, rate*LimiterWindow.Seconds())
	return &bucket{rate: rate, burst: b, tokens: b, last: now}
}

// carry returns the bucket of a limit in a newly applied decision: the old
// one, set to the new rate with the tokens it has left (at most the new
// burst), or a new full one when there was none. (The embedded proxy, at
// the time of writing, starts a full bucket whenever the rate changes,
// which lets a burst through at every decision; see docs/strategies.md.)
func carry(old *bucket, rate float64, now int64) *bucket {
	if old == nil {
		return newBucket(rate, now)
	}
	old.refill(now)
	old.rate = rate
	old.burst = math.Max(1, rate*LimiterWindow.Seconds())
	old.tokens = math.Min(old.tokens, old.burst)
	return old
}

// refill adds the tokens earned up to now.
func (b *bucket) refill(now int64) {
	if now > b.last {
		b.tokens = math.Min(b.burst, b.tokens+b.rate*float64(now-b.last)/1e9)
		b.last = now
	}
}

// take consumes a token at time now and reports whether one was available.
func (b *bucket) take(now int64) bool {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

func newSimNode(e *engine, idx int32, n Node, st strategy.Strategy, seed uint64) *simNode {
	nf := len(e.fnNames)
	sn := &simNode{
		e:         e,
		idx:       idx,
		id:        strategy.NodeID(n.ID),
		st:        st,
		seed:      seed,
		rng:       rand.New(rand.NewPCG(seed, 0x9a0c)),
		linkOf:    map[int32]int32{},
		stations:  make([]*station, nf),
		deployed:  make([]Function, nf),
		cnt:       make([]counters, nf),
		last:      make([]counters, nf),
		routes:    make([]route, nf),
		runners:   make([][]int32, nf),
		nbs:       map[int32]*neighbourState{},
		forecasts: map[string]forecast.Forecaster{},
	}
	for _, f := range n.Functions {
		i := e.fnIdx[f.Name]
		sn.deployed[i] = f
		sn.stations[i] = &station{
			k:       f.Concurrency,
			mean:    float64(f.Concurrency) / f.Capacity * 1e9,
			timeout: int64(f.Timeout),
			rng:     rand.New(rand.NewPCG(e.sc.Seed, 0x5e41<<40|uint64(idx)<<20|uint64(i))),
		}
	}
	return sn
}

func (n *simNode) addLink(peer int32, rtt time.Duration) {
	n.links = append(n.links, link{peer: peer, rtt: rtt, half: int64(rtt / 2)})
}

// --- Data plane ---

// userRequest routes a user request for function fn arriving now, as the
// proxy does (see strategy.Decision).
func (n *simNode) userRequest(now int64, fn int32) {
	c := &n.cnt[fn]
	c.exists = true
	c.offered++
	n.stats.offered++
	r := &n.routes[fn]
	if !r.ok {
		// No route (only before the first decision, or for a function
		// nobody runs): local if deployed, else evenly among the
		// neighbours running it, else 404.
		switch {
		case n.stations[fn] != nil:
			n.admitLocal(now, fn, n.idx, now, 0)
		case len(n.runners[fn]) > 0:
			n.forward(now, fn, n.runners[fn][n.rng.IntN(len(n.runners[fn]))])
		default:
			n.reject(fn, n.idx)
		}
		return
	}
	switch i := r.all.pick(); {
	case i == 0:
		if r.limit == nil || r.limit.take(now) {
			n.admitLocal(now, fn, n.idx, now, 0)
		} else if j := r.overflow.pick(); j >= 0 {
			// Above the local limit: overflow to the forwarding shares.
			n.forward(now, fn, r.fwdLink[j])
		} else {
			n.reject(fn, n.idx)
		}
	case i >= 2:
		n.forward(now, fn, r.fwdLink[i-2])
	default:
		n.reject(fn, n.idx)
	}
}

func (n *simNode) forward(now int64, fn int32, li int32) {
	n.cnt[fn].forwarded++
	n.stats.forwarded++
	l := n.links[li]
	n.e.schedule(event{t: now + l.half, kind: evRemote, node: l.peer, fn: fn, aux: n.idx, t0: now, half: l.half})
}

// reject counts a request refused on purpose by this proxy, in its
// counters and, for a forwarded request, in the origin's (which sees the
// 429).
func (n *simNode) reject(fn int32, origin int32) {
	n.cnt[fn].rejected++
	o := n.e.nodes[origin]
	o.stats.rejected++
	if o != n {
		o.cnt[fn].rejected++
	}
}

// fail counts a request that timed out here, in this node's counters and,
// for a forwarded request, in the origin's.
func (n *simNode) fail(fn int32, origin int32) {
	n.cnt[fn].failed++
	o := n.e.nodes[origin]
	o.stats.failed++
	if o != n {
		o.cnt[fn].failed++
	}
}

// remoteRequest handles a request forwarded by a neighbour: admitted within
// the route's Admit limit for that neighbour, then served locally (never
// forwarded again).
func (n *simNode) remoteRequest(ev event) {
	c := &n.cnt[ev.fn]
	c.exists = true
	if r := &n.routes[ev.fn]; r.ok && r.admit != nil {
		if b := r.admit[ev.aux]; b != nil && !b.take(ev.t) {
			n.reject(ev.fn, ev.aux)
			return
		}
	}
	n.admitLocal(ev.t, ev.fn, ev.aux, ev.t0, ev.half)
}

// admitLocal hands a request to the local function.
func (n *simNode) admitLocal(now int64, fn, origin int32, t0, half int64) {
	st := n.stations[fn]
	if st == nil {
		// Forwarded to a node without the function: the embedded proxy
		// answers 404, which neither end counts; the request is lost.
		n.e.nodes[origin].stats.failed++
		return
	}
	c := &n.cnt[fn]
	c.local++
	if origin != n.idx {
		c.fromNeighbours++
	}
	w := waiting{origin: origin, t0: t0, half: half, enq: now}
	if st.busy < st.k {
		n.start(now, fn, st, w)
		return
	}
	st.push(w)
}

func (n *simNode) start(now int64, fn int32, st *station, w waiting) {
	st.setBusy(now, 1)
	dt := int64(st.rng.ExpFloat64() * st.mean)
	n.e.schedule(event{t: now + dt, kind: evDone, node: n.idx, fn: fn, aux: w.origin, t0: w.t0, half: w.half, enq: w.enq})
}

// done completes a request and starts the next one waiting.
func (n *simNode) done(ev event) {
	origin := n.e.nodes[ev.aux]
	origin.stats.served++
	origin.latency.add(time.Duration(ev.t - ev.t0 + ev.half))
	c := &n.cnt[ev.fn]
	c.latencySum += float64(ev.t-ev.enq) / 1e9
	c.latencyCount++
	st := n.stations[ev.fn]
	st.setBusy(ev.t, -1)
	for st.busy < st.k && st.n > 0 {
		w := st.pop()
		if ev.t-w.enq > st.timeout {
			n.fail(ev.fn, w.origin)
			continue
		}
		n.start(ev.t, ev.fn, st, w)
	}
}

// purge fails the queued requests that have waited longer than their
// time-out, so that the counters read at now are exact.
func (n *simNode) purge(now int64) {
	for fn, st := range n.stations {
		for st != nil && st.n > 0 && now-st.q[st.head].enq > st.timeout {
			n.fail(int32(fn), st.pop().origin)
		}
	}
}

// --- Control plane (the agent) ---

// receive stores an announcement from neighbour from, keeping only the
// grants addressed to this node (as Node.accept does).
func (n *simNode) receive(now int64, from int32, a strategy.Announcement) {
	a.Grants = slices.DeleteFunc(a.Grants, func(g strategy.Grant) bool { return g.To != n.id })
	n.nbs[from] = &neighbourState{a: a, received: now}
}

// tick is one control cycle (Node.Step): sample, snapshot, decide, apply,
// announce.
func (n *simNode) tick(now int64) {
	n.cycle++
	n.purge(now)
	for id, ns := range n.nbs {
		if now-ns.received > n.e.expiry {
			delete(n.nbs, id)
		}
	}
	snap := n.buildSnapshot(now)
	var d strategy.Decision
	err := snap.Validate()
	if err == nil {
		d, err = strategy.SafeDecide(n.st, snap)
		if err == nil {
			completeDecision(&d, snap)
			err = d.Validate(snap)
		}
		n.snapshot = snap
	}
	if obs := n.e.cfg.Observe; obs != nil {
		obs(snap, d, err)
	}
	if err != nil {
		n.e.strategyErrors++
		n.announce(now, n.appliedAnnouncement())
		return
	}
	n.apply(now, d)
	n.announce(now, d.Announce)
}

// buildSnapshot builds the snapshot as Node.buildSnapshot in package dfaas
// does: rates from the difference of the proxy's cumulative counters over
// the period (zero, with no window, on the first cycle), the stated
// capacity and concurrency of the deployed functions, the fresh
// neighbours with their latest announcements, and the functions they run.
func (n *simNode) buildSnapshot(now int64) strategy.Snapshot {
	e := n.e
	s := strategy.Snapshot{
		Self:   n.id,
		Now:    wallClock(now),
		Period: time.Duration(e.period),
		Seed:   splitmix64(n.seed ^ splitmix64(n.cycle)),
		Prev:   n.applied.Clone(),
	}
	for _, l := range n.links {
		ns := n.nbs[l.peer]
		if ns == nil {
			continue
		}
		s.Neighbours = append(s.Neighbours, strategy.Neighbour{
			ID:           e.nodes[l.peer].id,
			Age:          time.Duration(max(0, now-ns.received)),
			RTT:          l.rtt,
			Announcement: ns.a.Clone(),
		})
	}

	byName := map[string]*strategy.Function{}
	get := func(name string) *strategy.Function {
		if f := byName[name]; f != nil {
			return f
		}
		f := &strategy.Function{Name: name}
		byName[name] = f
		return f
	}
	if !e.cfg.NoResources {
		s.Resources.CPUCores = NodeCores
	}
	for i, st := range n.stations {
		if st == nil {
			continue
		}
		// The node's CPU usage, as node_exporter would report it: a
		// function's busy servers each use NodeCores/Concurrency cores.
		if u := st.utilization(now, e.period); n.hasLast && !e.cfg.NoResources {
			s.Resources.CPU += u * NodeCores
		}
		f := get(e.fnNames[i])
		f.Deployed = true
		f.Replicas = 1
		f.Capacity = n.deployed[i].Capacity
		f.Concurrency = n.deployed[i].Concurrency
	}
	s.Resources.CPU = min(s.Resources.CPU, NodeCores)
	window := n.hasLast
	secs := float64(e.period) / 1e9
	for i := range n.cnt {
		c := n.cnt[i]
		if !c.exists {
			continue
		}
		f := get(e.fnNames[i])
		if !window {
			continue
		}
		o := n.last[i]
		f.Offered = float64(c.offered-o.offered) / secs
		f.Local = float64(c.local-o.local) / secs
		f.FromNeighbours = float64(c.fromNeighbours-o.fromNeighbours) / secs
		f.Forwarded = float64(c.forwarded-o.forwarded) / secs
		f.Rejected = float64(c.rejected-o.rejected) / secs
		f.Failed = float64(c.failed-o.failed) / secs
		if k := c.latencyCount - o.latencyCount; k > 0 {
			f.Latency = time.Duration((c.latencySum - o.latencySum) / float64(k) * 1e9)
		}
	}
	copy(n.last, n.cnt)
	n.hasLast = true
	for _, nb := range s.Neighbours {
		for _, fs := range nb.Announcement.Functions {
			if fs.Deployed {
				get(fs.Name)
			}
		}
	}
	for name, f := range byName {
		f.Forecast = f.Offered
		if e.cfg.Forecaster != nil {
			fc := n.forecasts[name]
			if fc == nil {
				fc = e.cfg.Forecaster()
				n.forecasts[name] = fc
			}
			if window {
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
	return s
}

func sanitize(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// splitmix64 derives well-mixed per-cycle seeds, as the agent does.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// completeDecision fills what a strategy may leave out, as the agent's
// completeDecision does: routes for functions it did not route (deployed:
// local; else even among the neighbours running it) and the generic part of
// the announcement.
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
			continue
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

func (n *simNode) appliedAnnouncement() strategy.Announcement {
	if n.hasApplied {
		return n.applied.Announce.Clone()
	}
	return strategy.BaseAnnouncement(n.snapshot)
}

// apply makes the proxy route by decision d: compiled routes (keeping the
// state of limits that stay), and the neighbours running each function.
func (n *simNode) apply(now int64, d strategy.Decision) {
	e := n.e
	n.applied, n.hasApplied = d, true
	for i := range n.routes {
		old := n.routes[i]
		r, ok := d.Route(e.fnNames[i])
		if !ok {
			n.routes[i] = route{}
			continue
		}
		nr := route{ok: true}
		weights := []float64{r.Local, r.Reject}
		var fwd []float64
		for _, sh := range r.Forward {
			li, ok := n.linkByID(sh.Node)
			if !ok {
				continue // cannot happen: the decision was validated
			}
			weights = append(weights, sh.Share)
			fwd = append(fwd, sh.Share)
			nr.fwdLink = append(nr.fwdLink, li)
		}
		nr.all, nr.overflow = newPicker(weights), newPicker(fwd)
		if r.LocalLimit > 0 {
			nr.limit = carry(old.limit, r.LocalLimit, now)
		}
		for _, l := range r.Admit {
			o, ok := e.nodeIdx[l.Node]
			if !ok {
				continue
			}
			if nr.admit == nil {
				nr.admit = map[int32]*bucket{}
			}
			nr.admit[o] = carry(old.admit[o], l.Rate, now)
		}
		n.routes[i] = nr
	}
	for i := range n.runners {
		n.runners[i] = n.runners[i][:0]
	}
	for li, l := range n.links {
		ns := n.nbs[l.peer]
		if ns == nil {
			continue
		}
		for _, fs := range ns.a.Functions {
			if i, ok := e.fnIdx[fs.Name]; ok && fs.Deployed {
				n.runners[i] = append(n.runners[i], int32(li))
			}
		}
	}
}

func (n *simNode) linkByID(id strategy.NodeID) (int32, bool) {
	o, ok := n.e.nodeIdx[id]
	if !ok {
		return 0, false
	}
	li, ok := n.linkOf[o]
	return li, ok
}

// announce sends a to every neighbour, each receiving only the grants
// addressed to it, half an RTT later.
func (n *simNode) announce(now int64, a strategy.Announcement) {
	for _, l := range n.links {
		pa := a.Clone()
		to := n.e.nodes[l.peer].id
		pa.Grants = slices.DeleteFunc(pa.Grants, func(g strategy.Grant) bool { return g.To != to })
		n.e.send(now, n.idx, l.peer, l.half, pa)
	}
}
