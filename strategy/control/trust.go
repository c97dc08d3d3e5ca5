package control

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// Trust bounds what one neighbour can attract of this node's traffic
// (Core.Bound). A neighbour may receive, per period, at most
//
//	max(FloorShare × R, Growth × S)
//
// req/s of this node's user requests, where R is the node's user request
// rate (the sum over its functions of the larger of forecast and offered
// rate) and S the rate of answers the neighbour returned successfully to
// this node's proxy in one period, the best of its last TrustMemory
// periods with answers, counted in full when their mean latency is within
// Latency and in proportion Latency/mean beyond it. Periods in which a
// neighbour answered nothing (it was down, unreachable, or sent nothing)
// do not count, so a neighbour keeps its record over a restart; a record
// not added to for 20 cycles is forgotten. A
// neighbour that has served nothing yet (new, or lying about its capacity
// and answering with errors or not at all) gets at most the floor; one
// that serves what it is sent may triple it every period, so a legitimate
// ramp-up beyond the floor takes a period more than the strategy asked
// for. With the defaults, the simulator's success rates on the shipped
// scenarios move by at most 0.2 percentage points (ring-partial, where a
// node must send all of a function to its one neighbour that runs it).
type Trust struct {
	// Off disables the cap (grants are bounded by the grantor's
	// announced capacity all the same).
	Off bool
	// FloorShare is the share of the node's user request rate any
	// neighbour may receive whatever its answers, in [0, 1]. If zero,
	// DefaultFloorShare.
	FloorShare float64
	// Growth is how many times the rate a neighbour served successfully
	// last period it may receive, at least 1. If zero, DefaultGrowth.
	Growth float64
	// Latency is the mean answer latency above which successes count in
	// proportion. If zero, DefaultTrustLatency.
	Latency time.Duration
}

// TrustMemory is how many periods with answers of a neighbour Bound
// remembers.
const TrustMemory = 3

// Defaults of Trust.
const (
	DefaultFloorShare   = 1.0 / 3
	DefaultGrowth       = 3
	DefaultTrustLatency = 2 * time.Second
)

func (t Trust) validate() error {
	switch {
	case !(t.FloorShare >= 0 && t.FloorShare <= 1):
		return fmt.Errorf("control: Trust.FloorShare: %v is not in [0, 1]", t.FloorShare)
	case t.Growth != 0 && !(t.Growth >= 1 && t.Growth <= 1e6):
		return fmt.Errorf("control: Trust.Growth: %v is not in [1, 1e6]", t.Growth)
	case t.Latency < 0:
		return fmt.Errorf("control: Trust.Latency: negative (%v)", t.Latency)
	}
	return nil
}

func (t Trust) withDefaults() Trust {
	if t.FloorShare == 0 {
		t.FloorShare = DefaultFloorShare
	}
	if t.Growth == 0 {
		t.Growth = DefaultGrowth
	}
	if t.Latency == 0 {
		t.Latency = DefaultTrustLatency
	}
	return t
}

// Anomalies counts what the core bounded of its neighbours' claims.
type Anomalies struct {
	// GrantsBounded counts the grants addressed to this node that
	// exceeded the grantor's announced capacity for the function (they
	// are clamped to it) or were for a function it does not announce as
	// deployed (they are dropped), and the announced spare rates above
	// the announced capacity (clamped).
	GrantsBounded uint64
	// SharesCapped counts the times Bound reduced what a neighbour would
	// have received (once per neighbour and decision).
	SharesCapped uint64
	// ByNeighbour counts both per neighbour the core keeps.
	ByNeighbour map[strategy.NodeID]uint64
}

// Anomalies returns the anomalies counted so far.
func (c *Core) Anomalies() Anomalies {
	a := c.anomalies
	a.ByNeighbour = make(map[strategy.NodeID]uint64, len(c.anomalies.ByNeighbour))
	for id, n := range c.anomalies.ByNeighbour {
		if _, ok := c.neighbours[id]; ok {
			a.ByNeighbour[id] = n
		}
	}
	return a
}

func (c *Core) anomaly(from strategy.NodeID, counter *uint64, n uint64) {
	*counter += n
	if _, ok := c.neighbours[from]; !ok && len(c.anomalies.ByNeighbour) >= 4*len(c.neighbours)+64 {
		// Bound the map: drop the counts of peers no longer kept.
		for id := range c.anomalies.ByNeighbour {
			if _, ok := c.neighbours[id]; !ok {
				delete(c.anomalies.ByNeighbour, id)
			}
		}
	}
	c.anomalies.ByNeighbour[from] += n
}

// boundAnnouncement bounds the claims of an announcement received (with
// only the grants addressed to this node): a grant for a function the
// sender does not announce as deployed is dropped; a grant or a spare rate
// above the capacity it announces for the function (when it announces
// one) is clamped to it. It returns how many claims it bounded.
func boundAnnouncement(a *strategy.Announcement) uint64 {
	var n uint64
	a.Grants = slices.DeleteFunc(a.Grants, func(g strategy.Grant) bool {
		fs, ok := a.Function(g.Function)
		if !ok || !fs.Deployed {
			n++
			return true
		}
		return false
	})
	for i, g := range a.Grants {
		if fs, _ := a.Function(g.Function); fs.Capacity > 0 && g.Rate > fs.Capacity {
			a.Grants[i].Rate = fs.Capacity
			n++
		}
	}
	for i, f := range a.Functions {
		if f.Capacity > 0 && f.Spare > f.Capacity {
			a.Functions[i].Spare = f.Capacity
			n++
		}
	}
	return n
}

// record is what a neighbour's answers earned: its credits of the last
// TrustMemory periods in which it answered, newest last, and the cycle of
// the last one.
type record struct {
	credits []float64
	cycle   uint64
}

// recordTTL is how many cycles the record of a neighbour that answered
// nothing, or is no longer kept, is remembered: a neighbour that restarts,
// or is down or silent for a while, keeps what it earned.
const recordTTL = 20

// observeAnswers records, if the observation measured answers, the credit
// of each neighbour that answered in the period: its succeeded answers
// summed over functions (in the observation's order), weighted down by
// their mean latency beyond Trust.Latency. Answers are what the neighbour
// gave once it had a request: a neighbour that could not be reached (its
// requests went elsewhere) answered nothing and keeps its record.
func (c *Core) observeAnswers(o Observation) {
	c.measured = o.AnswersMeasured
	if !c.measured {
		return
	}
	succeeded := map[strategy.NodeID]float64{}
	answered := map[strategy.NodeID]bool{}
	weighted := map[strategy.NodeID]float64{} // latency × succeeded
	for _, a := range o.Answers {
		s := sanitize(a.Succeeded)
		succeeded[a.ID] += s
		if s > 0 || sanitize(a.Failed) > 0 {
			answered[a.ID] = true
		}
		if a.Latency > 0 {
			weighted[a.ID] += s * float64(a.Latency)
		}
	}
	for id := range c.neighbours {
		if !answered[id] {
			continue
		}
		credit := succeeded[id]
		if lim := c.cfg.Trust.Latency; credit > 0 {
			if mean := time.Duration(weighted[id] / credit); mean > lim {
				credit *= float64(lim) / float64(mean)
			}
		}
		r := c.credits[id]
		if r == nil {
			r = &record{}
			c.credits[id] = r
		}
		r.credits = append(r.credits, credit)
		if len(r.credits) > TrustMemory {
			r.credits = r.credits[len(r.credits)-TrustMemory:]
		}
		r.cycle = c.cycle
	}
	for id, r := range c.credits {
		if c.cycle-r.cycle > recordTTL {
			delete(c.credits, id)
		}
	}
}

// ForwardCap returns what a proxy may forward to neighbour id of each
// function's user requests, counted as it routes them
// (proxyctl.ForwardCap): share of them (Trust.FloorShare), or rate req/s
// (Trust.Growth times the best credit of its record: what its answers
// support), or growth (Trust.Growth) times the successful answers the
// proxy sees it return, whichever is most. Unlike Bound, which caps what a decision expects from the
// forecast, this holds per request, from the first second of a load onset.
// ok is false when Bound caps nothing (Trust.Off, or the last observation
// did not measure answers).
func (c *Core) ForwardCap(id strategy.NodeID) (share, rate, growth float64, ok bool) {
	if c.cfg.Trust.Off || !c.measured {
		return 0, 0, 0, false
	}
	t := c.cfg.Trust
	return t.FloorShare, t.Growth * c.credit(id), t.Growth, true
}

// credit returns the best credit of neighbour id's record (0 without one).
func (c *Core) credit(id strategy.NodeID) float64 {
	var credit float64
	if r := c.credits[id]; r != nil {
		for _, v := range r.credits {
			credit = max(credit, v)
		}
	}
	return credit
}

// Cap is what Bound computed for one neighbour the decision forwards to.
type Cap struct {
	ID strategy.NodeID
	// Allowance is the rate (req/s) the neighbour may receive; Estimate
	// the rate the strategy's decision would have sent it.
	Allowance, Estimate float64
	// Capped reports whether Bound reduced its shares.
	Capped bool
}

// Bound caps, in decision d decided on snapshot s, the rate of user
// requests sent to each neighbour at its allowance (see Trust), moving the
// share it removes to local service as far as this node's spare capacity
// for the function allows (see spare), and the rest to Reject: a node
// refuses no request for want of a trusted neighbour while it can serve
// it itself. It keeps d valid and returns what it
// computed per neighbour forwarded to, by ID. The embedder calls it after
// Decide and before applying d, so that whatever the strategy, no neighbour
// receives more than its answers support. It caps nothing when Trust.Off is
// set or when the last observation did not measure answers.
//
// A route's rate is the larger of the function's forecast and offered
// rate; what a LocalLimit makes overflow to the forwarding shares counts
// as sent to them in proportion.
func (c *Core) Bound(d *strategy.Decision, s strategy.Snapshot) []Cap {
	if c.cfg.Trust.Off || !c.measured {
		return nil
	}
	rate := map[string]float64{}
	fns := map[string]strategy.Function{}
	var total float64
	for _, f := range s.Functions {
		r := max(f.Forecast, f.Offered)
		rate[f.Name] = r
		fns[f.Name] = f
		total += r
	}
	t := c.cfg.Trust
	allowance := func(id strategy.NodeID) float64 {
		return max(t.FloorShare*total, t.Growth*c.credit(id))
	}
	est := estimates(d, rate)
	caps := make([]Cap, 0, len(est))
	for _, id := range sortedIDs(est) {
		caps = append(caps, Cap{ID: id, Allowance: allowance(id), Estimate: est[id]})
	}
	// Capping one neighbour's share sends more of a LocalLimit's overflow
	// to the others: a few passes reach the fixed point.
	for range 4 {
		again := false
		for i := range caps {
			cp := &caps[i]
			e := estimates(d, rate)[cp.ID]
			if e <= cp.Allowance*(1+1e-9) {
				continue
			}
			if !cp.Capped {
				cp.Capped = true
				c.anomaly(cp.ID, &c.anomalies.SharesCapped, 1)
			}
			capTo(d, cp.ID, cp.Allowance/e, rate, fns)
			again = true
		}
		if !again {
			break
		}
	}
	return caps
}

// estimates returns the rate d sends to each neighbour it forwards to.
func estimates(d *strategy.Decision, rate map[string]float64) map[strategy.NodeID]float64 {
	est := map[strategy.NodeID]float64{}
	for _, r := range d.Routes {
		fwd := r.Forwarded()
		o := overflow(r, rate[r.Function])
		for _, sh := range r.Forward {
			if sh.Share > 0 {
				est[sh.Node] += rate[r.Function] * effective(sh.Share, fwd-sh.Share, o)
			}
		}
	}
	return est
}

// overflow returns the share of route r's requests that its LocalLimit
// makes overflow from local service, at rate.
func overflow(r strategy.Route, rate float64) float64 {
	if r.LocalLimit <= 0 || rate <= 0 {
		return 0
	}
	return max(0, r.Local-r.LocalLimit/rate)
}

// effective returns the share of requests a neighbour with forwarding share
// s receives when the other forwarding shares sum to others and a share o
// overflows from local service to the forwarding shares in proportion.
func effective(s, others, o float64) float64 {
	if s <= 0 {
		return 0
	}
	return s * (1 + o/(others+s))
}

// capTo scales what d sends neighbour id by k in (0, 1) in every route,
// moving the share removed to Local within the node's spare capacity for
// the route's function (fns, by name), and the rest to Reject.
func capTo(d *strategy.Decision, id strategy.NodeID, k float64, rate map[string]float64, fns map[string]strategy.Function) {
	for ri := range d.Routes {
		r := &d.Routes[ri]
		i := slices.IndexFunc(r.Forward, func(sh strategy.Share) bool { return sh.Node == id })
		if i < 0 || r.Forward[i].Share <= 0 {
			continue
		}
		s := r.Forward[i].Share
		others := r.Forwarded() - s
		o := overflow(*r, rate[r.Function])
		target := k * effective(s, others, o)
		// effective grows with the share: bisect. With no other
		// forwarding share, even a tiny one receives the whole overflow:
		// then the share goes if the overflow alone exceeds the target.
		lo, hi := 0.0, s
		if others <= 0 && o > target {
			hi = 0
		}
		for range 50 {
			mid := (lo + hi) / 2
			if effective(mid, others, o) > target {
				hi = mid
			} else {
				lo = mid
			}
		}
		local := min(s-lo, spare(*r, fns[r.Function], rate[r.Function]))
		r.Local += local
		r.Reject = min(1, r.Reject+s-lo-local)
		if lo > 0 {
			r.Forward[i].Share = lo
		} else {
			r.Forward = slices.Delete(r.Forward, i, i+1)
		}
	}
}

// spare returns the share of route r's requests, at rate, that this node
// can serve locally beyond r.Local: what the function's capacity f.Capacity,
// less the rate neighbours sent it (f.FromNeighbours), and the route's
// LocalLimit leave. It is 0 for a function not deployed here or of unknown
// capacity: the node cannot tell that it has room.
func spare(r strategy.Route, f strategy.Function, rate float64) float64 {
	if !f.Deployed || !(f.Capacity > 0) || !(rate > 0) {
		return 0
	}
	room := f.Capacity - sanitize(f.FromNeighbours)
	if r.LocalLimit > 0 {
		room = min(room, r.LocalLimit)
	}
	return max(0, room/rate-r.Local)
}

func sortedIDs(m map[strategy.NodeID]float64) []strategy.NodeID {
	ids := make([]strategy.NodeID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b strategy.NodeID) int { return cmp.Compare(a, b) })
	return ids
}
