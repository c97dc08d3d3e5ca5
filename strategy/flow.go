package strategy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Flow is our strategy: a distributed approximation of the maximum flow of
// load to capacity over one-hop links (the bound the simulator calls the
// oracle), built on explicit asks and grants so that two loaded nodes never
// count on the same spare capacity, and on shedding load at the edge
// rather than in queues.
//
// Every period, for each function, a node places the load it is
// responsible for: its own users' requests and what its neighbours asked
// it to take (asks travel in Announcement.Data). Its own users' load is
// the forecast, but never less than the rate observed over the last
// period: a forecast that lags a rise (a forecaster still learning, or
// smoothing over a step) would otherwise be rejected, which costs more
// than planning for a little too much.
//
//   - Up to Balance of its capacity it keeps everything: forwarding below
//     that gains nothing and costs a round trip.
//   - Above that it water-fills: it raises one utilization level over
//     itself and the neighbours running the function, each neighbour
//     starting at the level of the load it already carries for others
//     (announced) plus its link RTT as a cost (RTTCost), up to Utilization
//     of every capacity. What falls on a neighbour is asked of it. Only its
//     own users' requests can be passed on (forwarding is one hop), so a
//     node asked for capacity makes room by passing its own users on to
//     its other neighbours: load moves several hops away without any
//     request being forwarded twice. When the whole neighbourhood is full,
//     the shortfall is still asked of the neighbours, in proportion to
//     their capacity, which tells a full neighbour to look further.
//   - It never asks a neighbour that asks it (load would be swapped, not
//     moved), unless its own demand (its users' load and the asks of the
//     others) exceeds Utilization of its capacity while that neighbour's
//     demand leaves it room: then it asks that neighbour and grants it
//     nothing, so that a relay through a chain of full nodes is not held
//     up a period by a neighbour that asked only to balance (Flow nodes
//     announce their demand). Asks move only Damping of the way to their
//     new split each period, so that nodes turning to the same free
//     neighbour do not oscillate (hysteresis).
//
// It then grants: its own users first (those it does not pass on), the
// askers the rest, pro rata. Half of the spare capacity nobody asked for
// is granted in advance to the neighbours that may need it (those without
// the function, or loaded above half of their capacity), so that a surge
// there can overflow here at once. A grant is what a neighbour may count
// on, not what it may send: short of full pressure, every neighbour is
// admitted up to the planned capacity this node's own users do not take,
// so that one forwarding on its own before its first grant, or while the
// capacity granted to another idles, is not refused (the queue cap bounds
// what a surge on several sides costs). A neighbour granted capacity is
// admitted up to at least Slack times its grant plus its advance grant
// (or its previous grant, which it may still be using, if larger), plus
// about two standard deviations of a Poisson count over the proxy's
// half-second burst, so that random arrivals within a grant are not
// refused; under full pressure, up to that only.
//
// Finally it routes its own users: to each neighbour at most what that
// neighbour granted it (or, before any grant arrived, what it asks, to the
// neighbours with room, whose admission limits decide); locally what it
// planned, plus what it could not forward while it stays under
// Utilization. The rest is not rejected in advance but tried locally or on
// the neighbours that granted capacity (their admission limits and
// LocalLimit refuse what there is no room for), except under pressure
// (below), when it is rejected with an explicit reject share, less the part
// within two standard deviations of the forecast (a node running the
// function with nowhere to forward tries it all, and its LocalLimit rejects
// what exceeds the plan). LocalLimit caps its own users' local service at their
// plan plus the capacity granted to no neighbour on request (what it
// grants in advance is not held back from a surge of its own users):
// above it, requests overflow to the neighbours (a trickle of traffic, about 2%,
// keeps that path open towards the neighbours that granted capacity, or
// else those with room, also while the node has no load), or are
// rejected. A node with nowhere to forward (no neighbour granted it
// capacity or has room, as it last heard) lets its own users take the
// capacity it granted on request too, and, short of full pressure, sends
// what exceeds its LocalLimit to the neighbours running the function
// (a path of negligible weight), whose admission limits decide: a load
// that moves from one node to its neighbour turns both around within a
// period, before either hears of it.
//
// Under pressure (what cannot be placed anywhere exceeds 60% of the
// capacity) the load will be shed anyway, and whatever is admitted beyond
// the capacity only queues: the node plans for ShedUtilization instead of
// Utilization (fully at 90% of the way), admits neighbours exactly up to
// their grants, and, when its queue has built up (the observed latency
// exceeds twice the service time Concurrency/Capacity), plans lower until
// it has drained.
//
// Flow relies on the proxies' queue cap (proxyctl.Function.MaxQueue, the
// agent's --queue-depth, 4 waiting requests per concurrency slot by
// default) to keep the latency of what is served bounded under overload:
// its limits are rates, set once a period, and let a surge through until
// the next decision; the cap refuses at once what would only wait. Without
// the cap, plan lower under overload (ShedUtilization) to keep the queues
// short (docs/evaluation.md measures both).
//
// The state needed between periods (the asks sent, the grants given) is
// read back from Snapshot.Prev, so Flow itself is stateless. Nodes running
// another strategy are understood through the generic announcement
// (capacity, offered rate).
type Flow struct {
	// Utilization is the share of each capacity that may be planned for,
	// in (0, 1]. If zero, DefaultFlowUtilization.
	Utilization float64 `json:"utilization"`
	// ShedUtilization is the share planned for when load must be shed
	// (the node and its neighbours cannot take everything), in (0, 1];
	// values above Utilization mean Utilization. It is the trade-off
	// between success and latency under overload: planning lower keeps
	// the queues, and so the latency of the requests served, short, at
	// the price of serving that much less of the capacity; planning at
	// Utilization serves nearly all of it. With the proxies' default
	// queue cap (depth 4) the default, 0.99, keeps the served p99 of the
	// shipped overload scenarios within twice that of an unloaded run;
	// 0.9 lowers it further and serves 5-8% less there; without a queue
	// cap, 0.99 lets the queues run to the time-out (docs/evaluation.md).
	// If zero, DefaultShedUtilization.
	ShedUtilization float64 `json:"shed_utilization"`
	// Balance is the utilization up to which a node keeps its load
	// locally before spreading it over its neighbours, in [0, 1]; values
	// above Utilization mean Utilization (forward only what exceeds
	// Utilization). If zero, DefaultBalance.
	Balance float64 `json:"balance"`
	// Damping is the weight of a newly computed split of the asks
	// against the previous one, in (0, 1]. If zero, DefaultDamping.
	Damping float64 `json:"damping"`
	// Slack is how much more than its grant a neighbour may send before
	// it is refused, as a factor ≥ 1. If zero, DefaultSlack.
	Slack float64 `json:"slack"`
	// RTTCost is the utilization a second of link RTT is worth when
	// choosing neighbours (1 makes a 10 ms link cost 1% of utilization).
	// Zero means DefaultRTTCost; a negative value means no cost.
	RTTCost float64 `json:"rtt_cost"`
}

// Defaults of Flow.
const (
	DefaultFlowUtilization = 0.99
	DefaultShedUtilization = 0.99
	DefaultBalance         = 0.7
	DefaultDamping         = 0.5
	DefaultSlack           = 2
	DefaultRTTCost         = 1.0
)

// flowVersion is the version of the Data that Flow announces.
const flowVersion = 1

// flowData is what Flow announces in Announcement.Data.
type flowData struct {
	V   int               `json:"v"`
	Fns map[string]flowFn `json:"fns,omitempty"`
}

// flowFn is Flow's announced state for one function.
type flowFn struct {
	// Load is the rate the node plans to serve locally: its own users'
	// requests and what it granted.
	Load float64 `json:"load,omitempty"`
	// Asks are the rates the node asks of its neighbours, by neighbour.
	Asks map[NodeID]float64 `json:"asks,omitempty"`
	// Demand is the load the node is responsible for: its own users'
	// and every ask it received (also one it then declines, out-asking
	// the asker: see outAsks).
	Demand float64 `json:"demand,omitempty"`
}

// flowPreGrant is the share of a node's unasked spare capacity that it
// grants to its neighbours in advance. Its own users may take all of it
// above their plan (LocalLimit).
const flowPreGrant = 0.5

// A node is under pressure when what it cannot place (its shortage) is
// more than flowPressureFrom of its capacity, and under full pressure from
// flowPressureFrom+flowPressureSpan (see Flow.ShedUtilization).
//
// Below the threshold a node tries all of its users' load (its LocalLimit
// and the neighbours' admission limits refuse what there is no room for):
// a shortage of up to 60% of the capacity is as often the noise of a
// forecast, or a neighbour's room not yet granted, as lasting overload.
// When the threshold was chosen (before the queue cap: docs/evaluation.md,
// "Before the queue cap"), flow served at 0.3 instead of 0.6 a median of
// 0.950 instead of 0.954 of the clairvoyant controller over the seed-1
// family; at 1.0, 0.959, but overload-mixed lost 4.7 points.
const (
	flowPressureFrom = 0.6
	flowPressureSpan = 0.3
)

// flowNeedy is the load, as a share of its capacity, above which a
// neighbour gets a part of this node's unasked spare capacity in advance
// (a neighbour without the function always does).
const flowNeedy = 0.5

// flowTrickle keeps an overflow path open (keepTrickle): the share of a
// neighbour's grant that a node forwards to it when it plans no
// forwarding there, or, when no neighbour granted anything, the share of
// its own users' load it spreads over the neighbours with room.
const flowTrickle = 0.02

// flowOverflowPath is the weight, as a share of its users' load, of the
// path that a node with no neighbour granting it capacity or having room
// keeps to every neighbour running the function (overflowPath): only the
// requests above its LocalLimit take it.
const flowOverflowPath = 1e-6

// maxFlowAsks bounds the neighbours a node asks per function, which keeps
// the announcement within MaxAnnouncementData on large meshes.
const maxFlowAsks = 32

type flowParams struct {
	u, uShed, bal, damp, slack, rttCost float64
}

func (fl *Flow) params() flowParams {
	p := flowParams{fl.Utilization, fl.ShedUtilization, fl.Balance, fl.Damping, fl.Slack, fl.RTTCost}
	if p.u == 0 {
		p.u = DefaultFlowUtilization
	}
	if p.uShed == 0 {
		p.uShed = DefaultShedUtilization
	}
	p.uShed = math.Min(p.uShed, p.u)
	if p.bal == 0 {
		p.bal = DefaultBalance
	}
	p.bal = math.Min(p.bal, p.u)
	if p.damp == 0 {
		p.damp = DefaultDamping
	}
	if p.slack == 0 {
		p.slack = DefaultSlack
	}
	switch {
	case p.rttCost == 0:
		p.rttCost = DefaultRTTCost
	case p.rttCost < 0:
		p.rttCost = 0
	}
	return p
}

// Validate implements Validator.
func (fl *Flow) Validate() error {
	switch {
	case !(fl.Utilization >= 0 && fl.Utilization <= 1):
		return fmt.Errorf("utilization %v not in (0, 1]", fl.Utilization)
	case !(fl.ShedUtilization >= 0 && fl.ShedUtilization <= 1):
		return fmt.Errorf("shed_utilization %v not in (0, 1]", fl.ShedUtilization)
	case !(fl.Balance >= 0 && fl.Balance <= 1):
		return fmt.Errorf("balance %v not in [0, 1]", fl.Balance)
	case !(fl.Damping >= 0 && fl.Damping <= 1):
		return fmt.Errorf("damping %v not in (0, 1]", fl.Damping)
	case !(fl.Slack == 0 || fl.Slack >= 1 && !math.IsInf(fl.Slack, 0)):
		return fmt.Errorf("slack %v is not a finite factor ≥ 1", fl.Slack)
	case math.IsNaN(fl.RTTCost) || math.IsInf(fl.RTTCost, 0):
		return fmt.Errorf("rtt_cost %v is not finite", fl.RTTCost)
	}
	return nil
}

// decodeFlowData decodes a node's Flow data; ok is false when the node
// does not run Flow (or an incompatible version).
func decodeFlowData(raw json.RawMessage) (flowData, bool) {
	var d flowData
	if len(raw) == 0 || json.Unmarshal(raw, &d) != nil || d.V != flowVersion {
		return flowData{}, false
	}
	return d, true
}

// flowPeer is a neighbour running a function, as this node sees it.
type flowPeer struct {
	id    NodeID
	cap   float64 // capacity
	start float64 // level at which it starts taking load (utilization + RTT cost)
	top   float64 // level at which it is full
	grant float64 // what it granted this node
}

func (p flowPeer) fill(level float64) float64 {
	return p.cap * clamp(level-p.start, 0, p.top-p.start)
}

// Decide implements Strategy.
func (fl *Flow) Decide(s Snapshot) (Decision, error) {
	p := fl.params()
	nbData := make(map[NodeID]flowData, len(s.Neighbours))
	for _, n := range s.Neighbours {
		if d, ok := decodeFlowData(n.Announcement.Data); ok {
			nbData[n.ID] = d
		}
	}
	prevData, _ := decodeFlowData(s.Prev.Announce.Data)
	out := flowData{V: flowVersion, Fns: map[string]flowFn{}}

	var d Decision
	d.Announce = BaseAnnouncement(s)
	for _, f := range s.Functions {
		if f.Deployed && f.Capacity == 0 {
			// Capacity unknown: nothing to plan with.
			d.Routes = append(d.Routes, Route{Function: f.Name, Local: 1})
			continue
		}
		route, st := fl.decideFunction(s, f, p, nbData, prevData.Fns[f.Name], &d.Announce)
		d.Routes = append(d.Routes, route)
		if st.Load > 0 || len(st.Asks) > 0 || st.Demand > 0 {
			out.Fns[f.Name] = st
		}
	}
	SortGrants(d.Announce.Grants)
	data, err := json.Marshal(out)
	if err != nil {
		return Decision{}, fmt.Errorf("flow: encode data: %w", err)
	}
	if len(data) <= MaxAnnouncementData {
		d.Announce.Data = data
	}
	return d, nil
}

// flowPlan is one function's plan in the making: Flow.decideFunction runs
// its phases in turn, each reading what the earlier ones computed.
type flowPlan struct {
	s    Snapshot
	f    Function
	p    flowParams
	prev flowFn // what this node announced about f last period

	capacity float64 // f's capacity here, 0 when f is not deployed here
	own      float64 // this node's users' load
	planned  float64 // the most this node plans to serve

	seen   map[NodeID]float64 // the asks this node received and keeps, by asker
	asked  float64            // their sum
	demand float64            // own plus every ask received (before any is dropped)
	peers  []flowPeer         // the neighbours running f that may be asked

	local, pushed float64            // the load placed here and on the peers
	asks          map[NodeID]float64 // what is asked of the peers
	pressure      float64            // in [0, 1] (see placeLoad)

	ownLocal float64            // own users served here
	grants   map[NodeID]float64 // granted to the askers
	given    float64            // their sum

	granted   float64            // what the peers granted this node
	fwd       map[NodeID]float64 // own users forwarded, by neighbour
	reject    float64            // own users rejected
	left      float64            // the planned capacity neither used nor granted
	preGrants map[NodeID]float64 // granted in advance, by neighbour
	noPath    bool               // no neighbour granted capacity or has room
}

// decideFunction plans one function: its route, its grants (added to a)
// and what to announce about it.
func (fl *Flow) decideFunction(s Snapshot, f Function, p flowParams, nbData map[NodeID]flowData, prev flowFn, a *Announcement) (Route, flowFn) {
	pl := &flowPlan{s: s, f: f, p: p, prev: prev}
	if f.Deployed {
		pl.capacity = f.Capacity
	}
	pl.own = math.Max(f.Forecast, f.Offered)
	pl.planned = math.Max(0, p.u*pl.capacity-backlogRate(f, s.Period))

	pl.receiveAsks(nbData)
	pl.findPeers(nbData)
	pl.placeLoad()
	pl.shareLocal()
	pl.forward()
	pl.grantInAdvance()
	pl.keepTrickle()
	pl.overflowPath()
	route := pl.route()
	if f.Deployed {
		pl.admit(&route, a)
	}

	st := flowFn{Load: pl.ownLocal + pl.given, Demand: pl.demand}
	if len(pl.asks) > 0 {
		st.Asks = pl.asks
	}
	return route, st
}

// receiveAsks collects the asks this node received.
func (pl *flowPlan) receiveAsks(nbData map[NodeID]flowData) {
	pl.seen = map[NodeID]float64{}
	if pl.f.Deployed {
		for _, n := range pl.s.Neighbours {
			if v := nbData[n.ID].Fns[pl.f.Name].Asks[pl.s.Self]; v > 0 && isFinite(v) {
				pl.seen[n.ID] = v
			}
		}
	}
	pl.asked = sum(pl.seen)
	pl.demand = pl.own + pl.asked
}

// findPeers lists the neighbours running f, at the level of what they
// carry for others.
func (pl *flowPlan) findPeers(nbData map[NodeID]flowData) {
	s, f := pl.s, pl.f
	for _, n := range s.Running(f.Name) {
		fs, _ := n.Announcement.Function(f.Name)
		if fs.Capacity <= 0 {
			continue
		}
		// Never ask a neighbour that asks this node: load would be
		// swapped, not moved. Either this node asks it instead (and
		// drops its ask), or, when both asked each other last period,
		// the node with the smaller ID keeps asking; else it yields.
		if pl.seen[n.ID] > 0 {
			switch {
			case pl.outAsks(n.ID, fs.Capacity, nbData):
				delete(pl.seen, n.ID)
			case pl.prev.Asks[n.ID] > 0 && s.Self < n.ID:
			default:
				continue
			}
		}
		pr := flowPeer{id: n.ID, cap: fs.Capacity, grant: n.Announcement.GrantTo(s.Self, f.Name)}
		base := math.Min(fs.Capacity, fs.Offered)
		if nd, ok := nbData[n.ID]; ok {
			base = math.Max(0, nd.Fns[f.Name].Load-pr.grant)
		}
		cost := pl.p.rttCost * n.RTT.Seconds()
		pr.start, pr.top = base/pr.cap+cost, pl.p.u+cost
		pl.peers = append(pl.peers, pr)
	}
	pl.asked = sum(pl.seen)
}

// outAsks reports whether this node should ask neighbour id (of capacity
// c), which asks it, instead of yielding to it: whether its demand apart
// from id's ask exceeds Utilization of its capacity while id's announced
// demand, apart from what this node asked of it last period, is below
// Utilization of id's capacity. A neighbour that asked only to balance its
// load would otherwise hold up, for a period, a node that must pass its
// own users on to make room for a relay. Demands are announced with every
// ask received counted (also an ask the node then drops), so two nodes
// never both find the other below Utilization by subtracting an ask
// twice. A neighbour that announces no demand (another strategy, a Flow
// of an earlier version, or one with no load at all) is never out-asked.
func (pl *flowPlan) outAsks(id NodeID, c float64, nbData map[NodeID]flowData) bool {
	theirs := nbData[id].Fns[pl.f.Name].Demand
	if pl.capacity <= 0 || !(theirs > 0) || math.IsInf(theirs, 0) {
		return false
	}
	mine := (pl.demand - pl.seen[id]) / pl.capacity
	theirs = math.Max(0, theirs-pl.prev.Asks[id]) / c
	return mine > pl.p.u && theirs < pl.p.u
}

// place places own users and asks up to the level planned: locally up to
// Balance, then water-filling up to the planned level. Levels are
// utilizations of the capacity.
func (pl *flowPlan) place(planned float64) (local, pushed, short float64, asks map[NodeID]float64) {
	asks = map[NodeID]float64{}
	top := 0.0
	if pl.capacity > 0 {
		top = planned / pl.capacity
	}
	bal := math.Min(pl.p.bal, top)
	local = math.Min(pl.own+pl.asked, bal*pl.capacity)
	if rest := pl.own + pl.asked - local; rest > 0 {
		var kept float64
		kept, pushed = flowFill(rest, pl.own, pl.capacity, bal, top, pl.peers, asks)
		local += kept
	}
	return local, pushed, math.Max(0, pl.own+pl.asked-local-pushed), asks
}

// placeLoad places the load, under pressure again at a lower plan, and
// damps the asks.
func (pl *flowPlan) placeLoad() {
	p := pl.p
	var short float64
	pl.local, pl.pushed, short, pl.asks = pl.place(pl.planned)
	// Pressure measures how overloaded the neighbourhood is: 0 while
	// what cannot be placed is at most flowPressureFrom of the capacity,
	// 1 from flowPressureFrom+flowPressureSpan. Under pressure, whatever
	// is admitted beyond the capacity only queues, so the plan moves
	// towards ShedUtilization and the limits hold to it. It moves
	// gradually, so that the plan does not flap.
	if short > 0 && pl.capacity > 0 {
		pl.pressure = clamp((short/pl.capacity-flowPressureFrom)/flowPressureSpan, 0, 1)
		if p.uShed < p.u {
			u := p.u - (p.u-p.uShed)*pl.pressure
			pl.planned = math.Max(0, u*pl.capacity-backlogRate(pl.f, pl.s.Period))
			pl.local, pl.pushed, _, pl.asks = pl.place(pl.planned)
		}
	}
	pl.asks = flowDamp(pl.asks, pl.prev.Asks, p.damp)
}

// shareLocal shares the local plan: own users first (those not pushed to
// neighbours), then the askers, pro rata.
func (pl *flowPlan) shareLocal() {
	pl.ownLocal = math.Min(pl.own-pl.pushed, pl.local)
	scale := 1.0
	if pl.asked > 0 {
		scale = clamp((pl.local-pl.ownLocal)/pl.asked, 0, 1)
	}
	pl.grants = map[NodeID]float64{}
	for id, v := range pl.seen {
		// Under pressure askers get less than they need and send up to
		// their admission limit: size the grant so that the limit, with
		// its allowance for random arrivals, fits their share.
		pl.grants[id] = (1-pl.pressure)*v*scale + pl.pressure*grantWithin(v*scale)
	}
	pl.given = sum(pl.grants)
}

// forward forwards within the grants received (before any grant, to the
// neighbours with room); keeps what could not be forwarded while under
// the plan; rejects the rest.
func (pl *flowPlan) forward() {
	for _, pr := range pl.peers {
		pl.granted += pr.grant
	}
	pl.fwd = map[NodeID]float64{}
	toForward := pl.own - pl.ownLocal
	if forwarded := math.Min(toForward, pl.granted); forwarded > 0 {
		for _, pr := range pl.peers {
			if pr.grant > 0 {
				pl.fwd[pr.id] = forwarded * pr.grant / pl.granted
			}
		}
		toForward -= forwarded
	}
	if pl.granted == 0 && toForward > 0 {
		// No neighbour has granted anything yet (the asks are on their
		// way): try the neighbours with room, in proportion to it, as
		// the asks will; their admission limits refuse what they cannot
		// take. Keeping it all instead (up to the plan) would run this
		// node near its capacity for a period and queue its requests.
		room := pl.room()
		if total := sum(room); total > 0 {
			tried := math.Min(toForward, total)
			for id, r := range room {
				pl.fwd[id] = tried * r / total
			}
			toForward -= tried
		}
	}
	extra := math.Min(toForward, math.Max(0, pl.planned-pl.ownLocal-pl.given))
	pl.ownLocal += extra
	toForward -= extra
	pl.reject = math.Max(0, toForward)
}

// room returns the room the peers have left, by peer, leaving out the
// full ones.
func (pl *flowPlan) room() map[NodeID]float64 {
	room := map[NodeID]float64{}
	for _, pr := range pl.peers {
		if r := pr.cap * (pr.top - pr.start); r > 0 {
			room[pr.id] = r
		}
	}
	return room
}

// grantInAdvance grants part of the capacity nobody asked for in advance,
// evenly, to the neighbours that may need it soon (without the function,
// or loaded above flowNeedy of their capacity), so that a surge there can
// overflow here at once. Own users may take all of left above their plan
// (LocalLimit).
func (pl *flowPlan) grantInAdvance() {
	pl.left = math.Max(0, pl.planned-pl.ownLocal-pl.given)
	pl.preGrants = map[NodeID]float64{}
	if pl.left > 0 && pl.f.Deployed {
		var needy []NodeID
		for _, n := range pl.s.Neighbours {
			fs, ok := n.Announcement.Function(pl.f.Name)
			if ok && (!fs.Deployed || fs.Offered > flowNeedy*fs.Capacity) {
				needy = append(needy, n.ID)
			}
		}
		for _, id := range needy {
			pl.preGrants[id] = flowPreGrant * pl.left / float64(len(needy))
		}
	}
}

// keepTrickle keeps a trickle towards every neighbour that granted
// capacity but gets no planned share, or, when none did and nothing is
// forwarded, towards the neighbours with room: requests above LocalLimit
// overflow to the forwarding shares, so this is the path a sudden surge
// takes before the next decision (admitted there up to the capacity their
// own users do not take: see admit). It costs a round trip on about 2% of
// the requests of a node that would otherwise forward none. A neighbour
// whose room went since its last announcement refuses them at its
// admission limit (429), like any forward beyond it; a Flow of an earlier
// version admits neighbours granted nothing up to its unpromised room
// only.
func (pl *flowPlan) keepTrickle() {
	for _, pr := range pl.peers {
		if pr.grant > 0 && pl.fwd[pr.id] == 0 {
			pl.fwd[pr.id] = flowTrickle * math.Min(pr.grant, pl.own)
		}
	}
	if pl.f.Deployed && sum(pl.fwd) == 0 {
		room := pl.room()
		if total := sum(room); total > 0 {
			for id, r := range room {
				pl.fwd[id] = flowTrickle * pl.own * r / total
			}
		}
	}
}

// overflowPath handles a node that runs f and has nowhere to forward: no
// neighbour granted it capacity or has room, as it last heard. Its users'
// requests above LocalLimit would be rejected, yet the neighbours' room
// may have come back since their last announcement (a load that moved
// from one node to its neighbour turns both around within a period), and
// the capacity this node granted may idle for the same reason. So own
// users may also take the capacity granted on request (the queue cap,
// not LocalLimit, then arbitrates between them and the askers), and
// what exceeds it takes a path of negligible weight to every neighbour
// running f, whose admission limits refuse it (429) until they have room.
// Under full pressure the neighbourhood is full and the excess is shed
// here, at the edge.
func (pl *flowPlan) overflowPath() {
	pl.noPath = pl.f.Deployed && sum(pl.fwd) == 0 && len(pl.room()) == 0
	if !pl.noPath || pl.own <= 0 || pl.pressure >= 1 {
		return
	}
	for _, n := range pl.s.Running(pl.f.Name) {
		pl.fwd[n.ID] = flowOverflowPath * pl.own
	}
}

// route returns the route of f (without its admission limits).
func (pl *flowPlan) route() Route {
	switch {
	case pl.own > 0:
		return pl.userRoute()
	case pl.f.Deployed:
		return pl.idleRoute()
	default:
		return pl.remoteRoute()
	}
}

// userRoute routes own users' load.
func (pl *flowPlan) userRoute() Route {
	// What the plan could not place is not rejected in advance unless
	// the node is under pressure: the forecast is a period's average of a
	// load that moves within the period, and the neighbours' admission
	// limits and this node's LocalLimit refuse what there is no room for
	// anyway. So it is tried locally (LocalLimit then overflows it to the
	// neighbours) or sent to the neighbours that granted capacity. Under
	// pressure (load will be shed anyway) only the part within two
	// standard deviations of the arrival count is tried, fully so at
	// full pressure; the rest is rejected at the edge, so that the
	// queues, and the latency of what is served, stay short.
	//
	// A node that runs f and has nowhere to forward is the exception: it
	// tries everything locally, and its LocalLimit, which holds to the
	// plan under pressure, rejects what exceeds it. The queue is bounded
	// alike, but a rate limit sheds only the arrivals above the plan,
	// where a reject share also sheds a share of those below it while
	// the arrivals dip (docs/evaluation.md, "Where flow loses").
	reject := pl.reject
	soft := math.Min(reject, math.Max(reject*(1-pl.pressure), 2*math.Sqrt(pl.own/pl.s.Period.Seconds())))
	if pl.noPath {
		soft = reject
	}
	localW := pl.ownLocal
	switch {
	case pl.f.Deployed:
		localW += soft
		reject -= soft
	case pl.granted > 0:
		for _, pr := range pl.peers {
			if pr.grant > 0 {
				pl.fwd[pr.id] += soft * pr.grant / pl.granted
			}
		}
		reject -= soft
	}
	return NewRoute(pl.f.Name, localW, reject, pl.fwd)
}

// idleRoute routes a function deployed here without user load: all
// local, with a trickle towards the neighbours with room, so that requests
// above LocalLimit have somewhere to go when load appears before the next
// decision.
func (pl *flowPlan) idleRoute() Route {
	room := pl.room()
	if total := sum(room); total > 0 {
		for id, r := range room {
			room[id] = flowTrickle * r / total
		}
	}
	return NewRoute(pl.f.Name, 1, 0, room)
}

// remoteRoute routes a function not deployed here and without user load
// yet: split by what the neighbours granted, else evenly, so that the
// forwarding set is never empty.
func (pl *flowPlan) remoteRoute() Route {
	w := map[NodeID]float64{}
	for _, pr := range pl.peers {
		w[pr.id] = pr.grant
	}
	if sum(w) == 0 {
		for _, n := range pl.s.Running(pl.f.Name) {
			w[n.ID] = 1
		}
	}
	return NewRoute(pl.f.Name, 0, 0, w)
}

// admit sets the admission limits of route and adds the grants to a.
//
// Grants are what each neighbour may count on, not what it may send.
// Short of full pressure, any neighbour is admitted up to the planned
// capacity this node's own users do not take, whatever it was granted:
// the plan rests on announcements a period old and on forecasts of a load
// that moves within the period, and what the capacity granted to one
// neighbour does not serve another may use (the queue cap bounds what a
// surge on several sides costs). Without pressure a neighbour may also
// send Slack times its grant, or its previous grant if larger, which it
// may still be using. Under full pressure, whoever is admitted beyond the
// plan would only queue, so the limits hold to the grants. Own users may
// take all the capacity not granted on request (and what was, when they
// have nowhere to overflow: see overflowPath).
func (pl *flowPlan) admit(route *Route, a *Announcement) {
	s, f := pl.s, pl.f
	slack, prevGrant := 1+(pl.p.slack-1)*(1-pl.pressure), func(NodeID) float64 { return 0 }
	route.LocalLimit = math.Max(1, pl.ownLocal+pl.left)
	if pl.noPath {
		route.LocalLimit += pl.given
	}
	if pl.pressure == 0 {
		prevGrant = func(id NodeID) float64 { return s.Prev.Announce.GrantTo(id, f.Name) }
	}
	floor := 0.0
	if pl.pressure < 1 {
		floor = math.Max(0, pl.planned-pl.ownLocal)
	}
	for _, n := range s.Neighbours {
		_, announces := n.Announcement.Function(f.Name)
		g, pg := pl.grants[n.ID], pl.preGrants[n.ID]
		if !announces && g == 0 {
			continue
		}
		if g+pg > 0 {
			a.Grants = append(a.Grants, Grant{To: n.ID, Function: f.Name, Rate: g + pg})
		}
		limit := floor
		if m := math.Max(g*slack+pg, prevGrant(n.ID)); m > 0 {
			limit = math.Max(limit, m+poissonAllowance(m))
		}
		route.Admit = append(route.Admit, Limit{Node: n.ID, Rate: limit})
	}
}

// poissonAllowance is what an admission limit adds to a granted rate r:
// arrivals are random and a proxy's limit allows a burst of only half a
// second's worth, so without it a small grant would refuse one request in
// ten. It is about two standard deviations of a Poisson count over half a
// second, plus one request per second.
func poissonAllowance(r float64) float64 { return 2*math.Sqrt(2*r) + 1 }

// grantWithin returns the largest rate r whose admission limit,
// r + poissonAllowance(r), is at most budget.
func grantWithin(budget float64) float64 {
	if budget <= 1 {
		return 0
	}
	x := math.Sqrt(1+budget) - math.Sqrt2 // sqrt(r): x² + 2√2·x + 1 = budget
	return math.Max(0, x*x)
}

// backlogRate estimates how much less than usual a function should take
// in the next period to drain the queue it built up: the requests waiting
// beyond one service time (by Little's law, the local rate times the mean
// wait above the service time Concurrency/Capacity) spread over a period.
// It is 0 when the capacity or concurrency is unknown.
func backlogRate(f Function, period time.Duration) float64 {
	if f.Capacity <= 0 || f.Concurrency <= 0 || period <= 0 || f.Latency <= 0 {
		return 0
	}
	service := float64(f.Concurrency) / f.Capacity
	wait := f.Latency.Seconds() - 2*service
	if wait <= 0 {
		return 0
	}
	return f.Local * wait / period.Seconds()
}

// flowFill water-fills rest (the load above level bal) over this node (from
// level bal to level top of its capacity) and the peers (from their
// start to their top level), of which at most own (its own users'
// requests) can go to peers. It records the peers' parts in asks and
// returns the part this node keeps and the part the peers have room for.
// When everything is full, the own remainder is also asked of the peers,
// in proportion to their capacity: a full peer grants it only if it can
// pass its own users on to its other neighbours, which is how load moves
// more than one hop away without forwarding twice.
func flowFill(rest, own, capacity, bal, top float64, peers []flowPeer, asks map[NodeID]float64) (kept, pushed float64) {
	total := func(level float64) (self, out float64) {
		self = capacity * clamp(level-bal, 0, top-bal)
		for _, pr := range peers {
			out += pr.fill(level)
		}
		return self, math.Min(out, own)
	}
	lo, hi := bal, top
	for _, pr := range peers {
		lo = math.Min(lo, pr.start)
		hi = math.Max(hi, pr.top)
	}
	level := hi
	if self, out := total(hi); self+out > rest {
		for range 64 {
			mid := (lo + hi) / 2
			if self, out := total(mid); self+out >= rest {
				hi = mid
			} else {
				lo = mid
			}
		}
		level = hi
	}
	self, out := total(level)
	var raw, capSum float64
	for _, pr := range peers {
		raw += pr.fill(level)
		capSum += pr.cap
	}
	for _, pr := range peers {
		if v := pr.fill(level); v > 0 {
			asks[pr.id] = v * out / raw // scaled down if own is the limit
		}
	}
	if short := math.Min(rest-self-out, own-out); short > 0 && capSum > 0 {
		for _, pr := range peers {
			asks[pr.id] += short * pr.cap / capSum
		}
	}
	if len(asks) > maxFlowAsks {
		ids := sortedIDs(asks)
		slices.SortStableFunc(ids, func(a, b NodeID) int { return cmp.Compare(asks[b], asks[a]) })
		for _, id := range ids[maxFlowAsks:] {
			delete(asks, id)
		}
	}
	return math.Min(self, rest), out
}

// flowDamp mixes the new asks with the previous ones: the total is the new
// total, the split moves only damp of the way towards the new split.
// Neighbours no longer asked drop out.
func flowDamp(asks, prev map[NodeID]float64, damp float64) map[NodeID]float64 {
	total, prevTotal := sum(asks), sum(prev)
	if total <= 0 || prevTotal <= 0 || damp >= 1 {
		return asks
	}
	out := map[NodeID]float64{}
	for id, v := range asks {
		w := damp * v / total
		if pv := prev[id]; pv > 0 && isFinite(pv) {
			w += (1 - damp) * pv / prevTotal
		}
		out[id] = w
	}
	t := sum(out)
	for id := range out {
		out[id] *= total / t
	}
	return out
}

// sum adds the values of m in key order, so that the result does not
// depend on map iteration order.
func sum(m map[NodeID]float64) float64 {
	var t float64
	for _, id := range sortedIDs(m) {
		t += m[id]
	}
	return t
}

func sortedIDs(m map[NodeID]float64) []NodeID {
	ids := make([]NodeID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Interface guards.
var (
	_ Strategy  = (*Flow)(nil)
	_ Validator = (*Flow)(nil)
)
