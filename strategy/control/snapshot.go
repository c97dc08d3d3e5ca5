package control

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
)

// Observation is what a node observed for one control cycle.
type Observation struct {
	// Now is the time of the cycle.
	Now time.Time
	// Deployed are the functions deployed on this node: Name, Capacity,
	// Concurrency and Replicas are read, the other fields ignored.
	Deployed []strategy.Function
	// Rates are the per-function rates observed over the last period:
	// Offered, Local, FromNeighbours, Forwarded, Rejected, Failed and
	// Latency are read (NaN, infinite or negative values count as 0), the
	// other fields ignored. A function listed here is in the snapshot even
	// when every rate is 0.
	Rates []strategy.Function
	// Other are rates the data plane already aggregated over the names
	// it routes no function for (made-up ones, typically): they go to the
	// Unknown aggregate with the rates of unknown names in Rates. Name is
	// ignored.
	Other strategy.Function
	// Measured reports whether Rates cover a window: false on a first
	// sample, whose rates are zeros. Forecasters are fed only measured
	// rates.
	Measured bool
	// Resources is the node's resource usage over the period.
	Resources strategy.Resources
	// Peers is what the transport knows of the other members of the
	// control network. A neighbour not listed is taken as up with an
	// unknown RTT, unless Directory is set.
	Peers []Peer
	// Directory reports that Peers lists every member of the federation
	// (the transport has a directory): a neighbour not listed has left
	// and is forgotten at once (Forget).
	Directory bool
	// Answers are the answers this node's data plane got from the
	// neighbours over the last period to the user requests it forwarded
	// there, per neighbour and function; Bound reads their sum per
	// neighbour.
	Answers []Answer
	// AnswersMeasured reports whether the data plane measures the
	// neighbours' answers at all. Without it, Bound caps nothing (a
	// neighbour without answers would otherwise look like one that
	// answers none).
	AnswersMeasured bool
}

// Answer is what this node's data plane measured of one neighbour's answers
// to the user requests for one function forwarded to it over the last
// period.
type Answer struct {
	ID       strategy.NodeID
	Function string
	// Succeeded and Failed are rates (req/s) of answers: succeeded are
	// those that reached the user as the function's own answer (not a
	// 5xx, nor a 429 or 403 of the neighbour's proxy); failed the others,
	// time-outs included. A neighbour that could not be reached answered
	// nothing.
	Succeeded, Failed float64
	// Latency is the mean time to a succeeded answer, as this node's
	// proxy measured it (0: unknown).
	Latency time.Duration
}

// Unknown aggregates the observed rates of the names that are neither
// deployed here nor run by a neighbour the core keeps (names that exist
// nowhere, such as a client's made-up ones): the core keeps no state per
// such name, and they reach no snapshot. Rates are req/s.
type Unknown struct {
	// Names is how many such names had rates in Observation.Rates
	// (those in Observation.Other are not counted).
	Names int
	// The rates, summed over those names.
	Offered, Local, FromNeighbours, Forwarded, Rejected, Failed float64
}

// add adds the observed rates of r.
func (u *Unknown) add(r strategy.Function) {
	u.Names++
	u.Offered += sanitize(r.Offered)
	u.Local += sanitize(r.Local)
	u.FromNeighbours += sanitize(r.FromNeighbours)
	u.Forwarded += sanitize(r.Forwarded)
	u.Rejected += sanitize(r.Rejected)
	u.Failed += sanitize(r.Failed)
}

// function is what the core keeps per known function.
type function struct {
	fc    forecast.Forecaster // nil without Config.Forecaster
	bound bool                // fc knows its series (SeriesBinder): no idle rule
	idle  int                 // consecutive measured periods without offered load
}

// Peer is what the transport knows of another member.
type Peer struct {
	ID strategy.NodeID
	// RTT is the measured round-trip time; 0 when unknown.
	RTT time.Duration
	// Up reports whether the peer is reachable now: a neighbour that is
	// down leaves the data network at once, before its announcement
	// expires.
	Up bool
}

// Observe runs the snapshot phase of a control cycle on o: it counts the
// cycle, expires the neighbours not heard from within the expiry, and
// builds the snapshot (see the package documentation), which it returns
// validated. The snapshot must not be modified (give it to strategies
// through Decide, which clones it); on error it must not be used, and the
// cycle should keep the decision in force.
func (c *Core) Observe(o Observation) (strategy.Snapshot, error) {
	c.cycle++
	var members map[strategy.NodeID]bool
	if o.Directory {
		members = make(map[strategy.NodeID]bool, len(o.Peers))
		for _, p := range o.Peers {
			members[p.ID] = true
		}
	}
	c.expire(o.Now, members)
	c.observeAnswers(o)
	s := strategy.Snapshot{
		Self:      c.cfg.Self,
		Now:       o.Now,
		Period:    c.cfg.Period,
		Seed:      splitmix64(c.cfg.Seed ^ splitmix64(c.cycle)),
		Prev:      c.applied.Clone(),
		Resources: o.Resources,
	}
	s.Neighbours = c.dataNetwork(o.Now, o.Peers)
	s.Functions = c.functions(o, s.Neighbours)
	if err := s.Validate(); err != nil {
		return s, err
	}
	c.last = s
	return s, nil
}

// splitmix64 derives well-mixed per-cycle seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// dataNetwork returns the neighbours this node may forward to, by ID: those
// that accept its requests, are not reported down and are within MaxRTT,
// the Nearest of them by RTT (unknown RTTs last), each with its age, RTT and
// a copy of its announcement.
func (c *Core) dataNetwork(now time.Time, peers []Peer) []strategy.Neighbour {
	known := make(map[strategy.NodeID]Peer, len(peers))
	for _, p := range peers {
		p.RTT = max(0, p.RTT) // a negative RTT is a transport's bug: unknown
		known[p.ID] = p
	}
	nbs := make([]strategy.Neighbour, 0, len(c.neighbours))
	for id, nb := range c.neighbours {
		p, ok := known[id]
		switch {
		case !nb.Accepts: // it does not accept requests from this node yet
			continue
		case ok && !p.Up:
			continue
		case ok && c.cfg.MaxRTT > 0 && p.RTT > c.cfg.MaxRTT:
			continue
		}
		nbs = append(nbs, strategy.Neighbour{ID: id, Age: max(0, now.Sub(nb.Received)), RTT: p.RTT, Announcement: nb.Announcement})
	}
	if c.cfg.Nearest > 0 && len(nbs) > c.cfg.Nearest {
		slices.SortFunc(nbs, strategy.CompareRTT)
		nbs = nbs[:c.cfg.Nearest]
	}
	slices.SortFunc(nbs, func(a, b strategy.Neighbour) int { return cmp.Compare(a.ID, b.ID) })
	for i := range nbs {
		nbs[i].Announcement = nbs[i].Announcement.Clone()
	}
	return nbs
}

// functions merges the deployed functions, the observed rates and the
// functions the data network runs, and forecasts each one's offered rate.
// Per-function state exists only for known names: deployed here or run by
// a neighbour the core keeps. The rates of any other name go to the
// Unknown aggregate.
func (c *Core) functions(o Observation, nbs []strategy.Neighbour) []strategy.Function {
	byName := map[string]*strategy.Function{}
	get := func(name string) *strategy.Function {
		if f := byName[name]; f != nil {
			return f
		}
		f := &strategy.Function{Name: name}
		byName[name] = f
		return f
	}
	for _, d := range o.Deployed {
		if strategy.ValidName(d.Name) != nil {
			continue
		}
		f := get(d.Name)
		f.Deployed = true
		f.Replicas, f.Concurrency = max(0, d.Replicas), max(0, d.Concurrency)
		f.Capacity = sanitize(d.Capacity)
	}
	c.unknown = Unknown{}
	c.unknown.add(o.Other)
	c.unknown.Names = 0 // the data plane's aggregate counts no name
	for _, r := range o.Rates {
		if byName[r.Name] == nil && !c.runByNeighbour(r.Name) {
			c.unknown.add(r) // invalid names too: they are no function's
			continue
		}
		observed(get(r.Name), r)
	}
	for _, nb := range nbs {
		for _, fs := range nb.Announcement.Functions {
			if fs.Deployed {
				get(fs.Name)
			}
		}
	}
	fns := make([]strategy.Function, 0, len(byName))
	for name, f := range byName {
		f.Forecast = c.forecast(name, f.Offered, o.Measured)
		fns = append(fns, *f)
	}
	for name := range c.perFunction {
		if byName[name] == nil {
			delete(c.perFunction, name)
		}
	}
	slices.SortFunc(fns, func(a, b strategy.Function) int { return cmp.Compare(a.Name, b.Name) })
	return fns
}

// runByNeighbour reports whether a neighbour the core keeps announces that
// it runs function name.
func (c *Core) runByNeighbour(name string) bool {
	for _, nb := range c.neighbours {
		if nb.Announcement.Runs(name) {
			return true
		}
	}
	return false
}

// observed copies the observed rates of r into f: the one place a new
// observed field is added.
func observed(f *strategy.Function, r strategy.Function) {
	f.Offered, f.Local, f.FromNeighbours = sanitize(r.Offered), sanitize(r.Local), sanitize(r.FromNeighbours)
	f.Forwarded, f.Rejected, f.Failed = sanitize(r.Forwarded), sanitize(r.Rejected), sanitize(r.Failed)
	f.Latency = max(0, r.Latency)
	f.CPU, f.Memory = sanitize(r.CPU), sanitize(r.Memory)
}

// forecast feeds function name's forecaster (made on first use) with the
// offered rate if it was measured, and returns its forecast; without a
// forecaster, the offered rate. Once the offered rate has been 0 over
// IdlePeriods consecutive measured periods, the forecast is exactly 0
// until a request arrives again: forecasters that decay (EWMA, Holt) never
// reach 0 on their own, and a function with no load must announce none. A
// forecaster that knows its series (SeriesBinder, the simulator's
// clairvoyant one) is taken as it forecasts.
func (c *Core) forecast(name string, offered float64, measured bool) float64 {
	fs := c.perFunction[name]
	if fs == nil {
		fs = &function{}
		if c.cfg.Forecaster != nil {
			fs.fc = c.cfg.Forecaster()
			if b, ok := fs.fc.(SeriesBinder); ok {
				b.BindSeries(c.cfg.Self, name)
				fs.bound = true
			}
		}
		c.perFunction[name] = fs
	}
	if measured {
		if offered > 0 {
			fs.idle = 0
		} else if fs.idle < c.cfg.IdlePeriods {
			fs.idle++
		}
		if fs.fc != nil {
			fs.fc.Observe(offered)
		}
	}
	switch {
	case fs.idle >= c.cfg.IdlePeriods && !fs.bound:
		return 0
	case fs.fc == nil:
		return offered
	}
	return sanitize(fs.fc.Forecast())
}

// Unknown returns the aggregate of the rates of unknown names observed by
// the last Observe.
func (c *Core) Unknown() Unknown { return c.unknown }

func sanitize(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}
