package sim

import (
	"math/rand/v2"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/routing"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// simNode is one node of a run: its proxy (routes, limits, counters), its
// functions (stations) and its agent, which is the control core the live
// agent runs (package strategy/control) fed from the proxy's counters.
type simNode struct {
	e    *engine
	idx  int32
	id   strategy.NodeID
	st   strategy.Strategy
	core *control.Core

	links   []link // sorted by peer ID
	linkOf  map[int32]int32
	members []strategy.NodeID // the linked peers, as the agent's directory lists them
	peers   []control.Peer

	// Per function index.
	stations []*station // nil where not deployed
	deployed []Function
	cnt      []counters
	routes   []route

	// ans counts, per function and link (index fn*len(links)+link), the
	// answers of the neighbour at the link's end to the user requests
	// forwarded to it, as the embedded proxy does
	// (metricsrc.FunctionCounters.AddAnswer).
	ans     []answers
	lastAns []answers

	// The agent's observation of its proxy and functions.
	last     []counters // the previous reading of the counters
	hasLast  bool
	obs      control.Observation
	applyErr error // if set, applying a decision fails as a failing proxy does (tests)

	stats   nodeStats
	latency histogram
}

// link is a link of the data network as one of its ends sees it.
type link struct {
	peer int32
	rtt  time.Duration
	half int64 // one-way delay, ns
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

// answers are the cumulative counts of a neighbour's answers for a
// function: succeeded and failed, and the sum (seconds) and count of the
// times to the succeeded ones.
type answers struct {
	succeeded, failed uint64
	latencySum        float64
	latencyCount      uint64
}

// answer counts, at origin node o, an answer of neighbour from for
// function fn.
func (o *simNode) answer(fn, from int32, ok bool, latency int64) {
	li, linked := o.linkOf[from]
	if !linked {
		return
	}
	a := &o.ans[int(fn)*len(o.links)+int(li)]
	if !ok {
		a.failed++
		return
	}
	a.succeeded++
	a.latencySum += float64(latency) / 1e9
	a.latencyCount++
}

// succeeded counts, at origin node o, a successful answer of neighbour
// from for function fn at time now in its route's forwarding cap
// (routing.Route.Succeeded), as the proxy counts it.
func (o *simNode) succeeded(fn, from int32, now int64) {
	li, linked := o.linkOf[from]
	r := &o.routes[fn]
	if !linked || !r.ok {
		return
	}
	for i, l := range r.fwdLink {
		if l == li {
			r.r.Succeeded(i, wallClock(now))
			return
		}
	}
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
	maxq           int // the most requests waiting; 0: no cap
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

// full reports whether a request arriving now would find every server
// busy and the queue at its cap.
func (s *station) full() bool {
	return s.maxq > 0 && s.busy >= s.k && s.n >= s.maxq
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

// route is a decision's route compiled for the proxy, by the embedded
// proxy's routing algorithm (package proxyctl/routing), with the links its
// forwarding destinations are.
type route struct {
	ok      bool
	r       routing.Route
	fwdLink []int32
}

func newSimNode(e *engine, idx int32, n Node, st strategy.Strategy, seed uint64) (*simNode, error) {
	nf := len(e.fnNames)
	sn := &simNode{
		e:        e,
		idx:      idx,
		id:       strategy.NodeID(n.ID),
		st:       st,
		linkOf:   map[int32]int32{},
		stations: make([]*station, nf),
		deployed: make([]Function, nf),
		cnt:      make([]counters, nf),
		last:     make([]counters, nf),
		routes:   make([]route, nf),
	}
	core, err := control.New(e.coreConfig(sn.id, seed, 1))
	if err != nil {
		return nil, err
	}
	sn.core = core
	for _, f := range n.Functions {
		i := e.fnIdx[f.Name]
		sn.deployed[i] = f
		sn.stations[i] = &station{
			k:       f.Concurrency,
			mean:    float64(f.Concurrency) / f.Capacity * 1e9,
			timeout: int64(f.Timeout),
			maxq:    proxyctl.QueueCap(e.sc.QueueDepth, f.Concurrency),
			rng:     rand.New(rand.NewPCG(e.sc.Seed, 0x5e41<<40|uint64(idx)<<20|uint64(i))),
		}
		// Before its first decision the proxy serves locally.
		sn.routes[i].r, sn.routes[i].ok = routing.Default(true, 0)
	}
	return sn, nil
}

// coreConfig configures the control core of node id, in its incarnation,
// as the agent's defaults do (expiry 3 periods, no data-network limits).
func (e *engine) coreConfig(id strategy.NodeID, seed, incarnation uint64) control.Config {
	return control.Config{
		Self: id, Period: time.Duration(e.period), Expiry: time.Duration(e.expiry), Seed: seed,
		Forecaster: e.cfg.Forecaster, Incarnation: incarnation, Trust: e.cfg.Trust,
	}
}

func (n *simNode) addLink(peer int32, rtt time.Duration) {
	n.links = append(n.links, link{peer: peer, rtt: rtt, half: int64(rtt / 2)})
}

// --- Data plane ---

// userRequest routes a user request for function fn arriving now, as the
// proxy does (see strategy.Decision and package proxyctl/routing).
func (n *simNode) userRequest(now int64, fn int32) {
	c := &n.cnt[fn]
	c.exists = true
	c.offered++
	n.stats.offered++
	r := &n.routes[fn]
	if !r.ok {
		n.reject(fn, n.idx) // no route: nobody runs it
		return
	}
	switch choice, i := r.r.Pick(wallClock(now)); choice {
	case routing.Local:
		n.admitLocal(now, fn, n.idx, now, 0)
	case routing.Forward:
		n.forward(now, fn, r.fwdLink[i])
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
		o.answer(fn, n.idx, false, 0)
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
		o.answer(fn, n.idx, false, 0)
	}
}

// remoteRequest handles a request forwarded by a neighbour: admitted within
// the route's Admit limit for that neighbour, then served locally (never
// forwarded again).
func (n *simNode) remoteRequest(ev event) {
	c := &n.cnt[ev.fn]
	c.exists = true
	if r := &n.routes[ev.fn]; r.ok && !r.r.Admit(n.e.nodes[ev.aux].id, wallClock(ev.t)) {
		n.reject(ev.fn, ev.aux)
		return
	}
	n.admitLocal(ev.t, ev.fn, ev.aux, ev.t0, ev.half)
}

// admitLocal hands a request to the local function.
func (n *simNode) admitLocal(now int64, fn, origin int32, t0, half int64) {
	st := n.stations[fn]
	if st == nil {
		// Forwarded to a node without the function: the embedded proxy
		// answers 404, which neither end counts as a rate; the request is
		// lost, a failed answer for the origin.
		o := n.e.nodes[origin]
		o.stats.failed++
		if o != n {
			o.answer(fn, n.idx, false, 0)
		}
		return
	}
	if st.full() {
		n.expire(now, fn, st) // what timed out leaves the queue first
		if st.full() {
			n.reject(fn, origin) // 429 queue-full, as the proxies
			return
		}
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
	lat := time.Duration(ev.t - ev.t0 + ev.half)
	origin.latency.add(lat)
	if f := n.e.cfg.Served; f != nil {
		f(string(origin.id), lat)
	}
	if origin != n {
		origin.answer(ev.fn, n.idx, true, ev.t-ev.t0+ev.half)
		origin.succeeded(ev.fn, n.idx, ev.t)
	}
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
		if st != nil {
			n.expire(now, int32(fn), st)
		}
	}
}

// expire fails the requests at the head of st's queue that have waited
// longer than their time-out at now.
func (n *simNode) expire(now int64, fn int32, st *station) {
	for st.n > 0 && now-st.q[st.head].enq > st.timeout {
		n.fail(fn, st.pop().origin)
	}
}

// --- Control plane (the agent) ---

// receive hands a message from neighbour from to the agent's core (which
// keeps only the grants addressed to this node, as in the agent). With
// the handshake modelled, a node greets a peer it first hears from, or
// that restarted, at once, as the agent does (dfaas.Node's out-of-cycle
// greeting): it accepts it and tells it so, unless its data plane refuses
// decisions (the agent's proxy apply would fail).
func (n *simNode) receive(now int64, from int32, m control.Message) {
	// The engine delivers only well-formed messages, in order: the core
	// drops nothing here but the stale messages of a restarted node.
	id := n.e.nodes[from].id
	heard, err := n.core.Receive(id, m, wallClock(now))
	if err != nil || !heard.Greets() || !n.e.cfg.Handshake || n.applyErr != nil {
		return
	}
	if out, ok := n.core.Greet(id); ok {
		n.sendOut(now, out)
	}
}

// tick is one control cycle, as the agent's (dfaas.Node.Step): observe,
// snapshot, decide, apply, announce.
func (n *simNode) tick(now int64) {
	n.purge(now)
	snap, err := n.core.Observe(n.observe(now))
	var d strategy.Decision
	if err == nil {
		d, err = control.Decide(n.st, snap)
	}
	if err == nil {
		n.core.Bound(&d, snap) // as the agent: no neighbour beyond what its answers support
	}
	if obs := n.e.cfg.Observe; obs != nil {
		obs(snap, d, err)
	}
	switch {
	case err != nil:
		n.e.strategyErrors++
	case n.applyErr == nil:
		n.apply(now, d, snap)
		var accepted []strategy.NodeID
		if n.e.cfg.Handshake {
			accepted = n.heard()
		}
		n.core.Commit(d, accepted)
	}
	for _, out := range n.core.Outbox(n.members) {
		n.sendOut(now, out)
	}
}

// sendOut sends a message of the core to its recipient over their link.
func (n *simNode) sendOut(now int64, out control.Outgoing) {
	li, ok := n.linkByID(out.To)
	if !ok {
		return // the core announces only to linked peers here
	}
	l := n.links[li]
	accepts := out.Accepted || !n.e.cfg.Handshake
	n.e.send(now, n.idx, l.peer, l.half, control.Message{
		Incarnation: out.Incarnation, Seq: out.Seq, Accepts: accepts, Announcement: out.Announcement,
	})
}

// heard returns the neighbours the core keeps: those the proxy accepts
// requests from once a decision is applied.
func (n *simNode) heard() []strategy.NodeID {
	nbs := n.core.Neighbours()
	ids := make([]strategy.NodeID, len(nbs))
	for i, nb := range nbs {
		ids[i] = nb.ID
	}
	return ids
}

// observe reads what the agent observes at now, as the live agent's parts
// report it: the deployed functions with their stated capacity and
// concurrency (as the dfaas.maxrate and dfaas.concurrency labels give
// them), the rates from the difference of the proxy's cumulative counters
// over the period (zero, with no window, on the first cycle, as
// metricsrc.Delta gives them), the node's CPU usage (see NodeCores) and the
// links as the transport's directory lists them.
func (n *simNode) observe(now int64) control.Observation {
	e := n.e
	o := &n.obs // reused: the core keeps none of it
	*o = control.Observation{Now: wallClock(now), Deployed: o.Deployed[:0], Rates: o.Rates[:0], Answers: o.Answers[:0], Measured: n.hasLast, Peers: n.peers}
	if !e.cfg.NoResources {
		o.Resources.CPUCores = NodeCores
	}
	for i, st := range n.stations {
		if st == nil {
			continue
		}
		// The node's CPU usage, as node_exporter would report it: a
		// function's busy servers each use NodeCores/Concurrency cores.
		if u := st.utilization(now, e.period); n.hasLast && !e.cfg.NoResources {
			o.Resources.CPU += u * NodeCores
		}
		o.Deployed = append(o.Deployed, strategy.Function{
			Name: e.fnNames[i], Replicas: 1, Capacity: n.deployed[i].Capacity, Concurrency: n.deployed[i].Concurrency,
		})
	}
	o.Resources.CPU = min(o.Resources.CPU, NodeCores)
	secs := float64(e.period) / 1e9
	for i, c := range n.cnt {
		if !c.exists {
			continue
		}
		f := strategy.Function{Name: e.fnNames[i]}
		if n.hasLast {
			old := n.last[i]
			f.Offered = float64(c.offered-old.offered) / secs
			f.Local = float64(c.local-old.local) / secs
			f.FromNeighbours = float64(c.fromNeighbours-old.fromNeighbours) / secs
			f.Forwarded = float64(c.forwarded-old.forwarded) / secs
			f.Rejected = float64(c.rejected-old.rejected) / secs
			f.Failed = float64(c.failed-old.failed) / secs
			if k := c.latencyCount - old.latencyCount; k > 0 {
				f.Latency = time.Duration((c.latencySum - old.latencySum) / float64(k) * 1e9)
			}
		}
		o.Rates = append(o.Rates, f)
	}
	o.Answers, o.AnswersMeasured = n.observeAnswers(o.Answers, secs), n.hasLast
	copy(n.last, n.cnt)
	copy(n.lastAns, n.ans)
	n.hasLast = true
	return *o
}

// observeAnswers appends to out the neighbours' answers over the period
// (secs seconds), per function and link, as the agent reads them from
// the proxy's counters (metricsrc.Delta, then per function and neighbour).
func (n *simNode) observeAnswers(out []control.Answer, secs float64) []control.Answer {
	if !n.hasLast || len(n.links) == 0 {
		return out
	}
	for i := range n.e.fnNames {
		for li, l := range n.links {
			k := i*len(n.links) + li
			cur, old := n.ans[k], n.lastAns[k]
			a := control.Answer{
				ID: n.e.nodes[l.peer].id, Function: n.e.fnNames[i],
				Succeeded: float64(cur.succeeded-old.succeeded) / secs, Failed: float64(cur.failed-old.failed) / secs,
			}
			if c := cur.latencyCount - old.latencyCount; c > 0 {
				a.Latency = time.Duration((cur.latencySum - old.latencySum) / float64(c) * float64(time.Second))
			}
			if a.Succeeded > 0 || a.Failed > 0 {
				out = append(out, a)
			}
		}
	}
	return out
}

// apply makes the proxy route by decision d, decided on snapshot s: the
// routes compiled by the routing algorithm (the limits' buckets carried
// over), and default routes over the neighbours of s that run a function
// the decision does not route, as the embedded proxy compiles them.
func (n *simNode) apply(now int64, d strategy.Decision, s strategy.Snapshot) {
	e := n.e
	t := wallClock(now)
	for i := range n.routes {
		old := &n.routes[i]
		r, ok := d.Route(e.fnNames[i])
		if !ok {
			var runners []int32
			for _, nb := range s.Running(e.fnNames[i]) {
				if li, ok := n.linkByID(nb.ID); ok {
					runners = append(runners, li)
				}
			}
			nr := route{fwdLink: runners}
			nr.r, nr.ok = routing.Default(n.stations[i] != nil, len(runners))
			n.capRoute(&nr, old, t)
			n.routes[i] = nr
			continue
		}
		nr := route{ok: true}
		for _, sh := range r.Forward {
			li, _ := n.linkByID(sh.Node) // validated: a neighbour, so a link
			nr.fwdLink = append(nr.fwdLink, li)
		}
		var prev *routing.Route
		if old.ok {
			prev = &old.r
		}
		nr.r = routing.Compile(r, prev, t)
		n.capRoute(&nr, old, t)
		n.routes[i] = nr
	}
}

// capRoute caps what route nr forwards to each destination as the core's
// ForwardCap says, as the agent sets proxyctl.Neighbour.Cap, the counts
// carried over from old.
func (n *simNode) capRoute(nr *route, old *route, t time.Time) {
	nodes := make([]strategy.NodeID, len(nr.fwdLink))
	caps := make([]routing.Cap, len(nr.fwdLink))
	for i, li := range nr.fwdLink {
		nodes[i] = n.e.nodes[n.links[li].peer].id
		if share, rate, growth, ok := n.core.ForwardCap(nodes[i]); ok {
			caps[i] = routing.Cap{On: true, Share: share, Rate: rate, Growth: growth}
		}
	}
	var prev *routing.Route
	if old.ok {
		prev = &old.r
	}
	nr.r.SetCaps(nodes, caps, prev, t)
}

func (n *simNode) linkByID(id strategy.NodeID) (int32, bool) {
	o, ok := n.e.nodeIdx[id]
	if !ok {
		return 0, false
	}
	li, ok := n.linkOf[o]
	return li, ok
}
