package sim

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/proxyctl/routing"
	"github.com/dfaas-go/dfaas/strategy"
)

// ClairvoyantName is the strategy name of Clairvoyant's results.
const ClairvoyantName = "clairvoyant"

// Clairvoyant simulates scenario s under the clairvoyant reference
// controller and returns its result (Strategy ClairvoyantName, with the
// oracle bound). It is what a controller that decides once a period can
// reach when it knows the future of that period and decides for every
// node at once; the gap between it and the fluid oracle is what the
// granularity of a period and the queues cost (spikes inside a period,
// Poisson noise in finite queues), which no such controller can win back.
//
// The run is Run's, with the same arrivals, service times, proxies,
// queues, links and RTTs, but no agents: at every period boundary (time 0,
// Period, 2·Period, ...) a central controller computes, for every
// function, the mean rate of each node's users over the coming period
// (the scenario's load integrated over the period), places that load by
// balancedFlow (of the maximum flows the oracle computes, the one that
// levels the nodes' utilizations, preferring local service then the
// nearest neighbours), and gives every node's proxy the route that
// realises it: local and forwarding shares in proportion to the flow, the
// rest rejected. Where a region's capacity is full (every maximum flow
// leaves some of its users unserved), the users beyond the flow are not
// rejected but sent along the same shares: the servers there never idle
// for want of a request, so more are served than if the excess were
// rejected (they time out in the queues instead, at a latency cost). It
// sets no rate limits.
func Clairvoyant(ctx context.Context, s *Scenario) (Result, error) {
	return clairvoyantRun(ctx, s, true)
}

// clairvoyantRun runs the clairvoyant controller; without overcommit it
// rejects what the flow does not place, also in full regions.
func clairvoyantRun(ctx context.Context, s *Scenario, overcommit bool) (Result, error) {
	if err := s.Validate(); err != nil {
		return Result{}, err
	}
	sc := s.clone()
	sc.fillDefaults()
	cfg := Config{Strategy: ClairvoyantName, New: func() (strategy.Strategy, error) { return strategy.AllLocal{}, nil }}
	e, err := newEngine(sc, cfg)
	if err != nil {
		return Result{}, err
	}
	e.central = newClairvoyant(e)
	e.central.overcommit = overcommit
	if err := e.run(ctx); err != nil {
		return Result{}, err
	}
	r := e.result()
	r.OracleSuccessRate = OracleSuccessRate(sc)
	return r, nil
}

// clairvoyant is the central controller of a Clairvoyant run.
type clairvoyant struct {
	e *engine
	// adj[u] lists the nodes u's users may reach: u, then its linked
	// neighbours by RTT (then ID).
	adj       [][]int
	capacity  [][]float64 // per function, per node (0: not deployed)
	fnStreams [][]int32   // per function, the load streams
	demand    []float64
	// overcommit sends the users of full regions along the flow's shares
	// instead of rejecting those beyond it.
	overcommit bool
}

func newClairvoyant(e *engine) *clairvoyant {
	c := &clairvoyant{e: e, adj: make([][]int, len(e.nodes)), demand: make([]float64, len(e.nodes))}
	for u, n := range e.nodes {
		ls := slices.Clone(n.links)
		slices.SortStableFunc(ls, func(a, b link) int { return cmp.Compare(a.rtt, b.rtt) })
		c.adj[u] = append(c.adj[u], u)
		for _, l := range ls {
			c.adj[u] = append(c.adj[u], int(l.peer))
		}
	}
	c.capacity = make([][]float64, len(e.fnNames))
	c.fnStreams = make([][]int32, len(e.fnNames))
	for fi := range e.fnNames {
		c.capacity[fi] = make([]float64, len(e.nodes))
		for u, n := range e.nodes {
			if n.stations[fi] != nil {
				c.capacity[fi][u] = n.deployed[fi].Capacity
			}
		}
	}
	for i, st := range e.streams {
		c.fnStreams[st.fn] = append(c.fnStreams[st.fn], int32(i))
	}
	return c
}

// decide sets every node's routes for the period starting at now.
func (c *clairvoyant) decide(now int64) {
	e := c.e
	for fi := range e.fnNames {
		clear(c.demand)
		for _, si := range c.fnStreams[fi] {
			c.demand[e.streams[si].node] += e.meanRate(si, now)
		}
		flow, saturated := balancedFlow(c.demand, c.capacity[fi], c.adj)
		for u, d := range c.demand {
			if d > 0 {
				c.route(now, u, int32(fi), d, flow[u], saturated[u])
			}
		}
	}
}

// route gives node u's proxy the route of function fn that realises flow
// (u's users' rate to each node of adj[u]) for a demand d.
func (c *clairvoyant) route(now int64, u int, fn int32, d float64, flow []float64, saturated bool) {
	n := c.e.nodes[u]
	var served float64
	for _, f := range flow {
		served += f
	}
	if served <= 0 {
		n.routes[fn] = route{ok: true} // the zero route rejects everything
		return
	}
	scale := 1 / d
	if (saturated && c.overcommit) || served > d {
		scale = 1 / served // send every user along the flow's shares
	}
	r := strategy.Route{Function: c.e.fnNames[fn]}
	nr := route{ok: true}
	for k, v := range c.adj[u] {
		share := flow[k] * scale
		switch {
		case share <= 0:
		case v == u:
			r.Local = share
		default:
			r.Forward = append(r.Forward, strategy.Share{Node: c.e.nodes[v].id, Share: share})
			nr.fwdLink = append(nr.fwdLink, n.linkOf[int32(v)])
		}
	}
	r.Reject = max(0, 1-served*scale)
	var prev *routing.Route
	if old := &n.routes[fn]; old.ok {
		prev = &old.r
	}
	nr.r = routing.Compile(r, prev, wallClock(now))
	n.routes[fn] = nr
}

// meanRate returns the mean rate of load stream si over the period that
// starts at t (the part of it within the run; 0 outside).
func (e *engine) meanRate(si int32, t int64) float64 {
	from, to := max(t, 0), min(t+e.period, e.end)
	return e.streams[si].load.integral(time.Duration(from), time.Duration(to)) / (float64(e.period) / 1e9)
}

// integral returns the number of requests l sends in expectation over
// [from, to).
func (l Load) integral(from, to time.Duration) float64 {
	if to <= from {
		return 0
	}
	if l.Step <= 0 || len(l.Rates) == 1 {
		return l.Rates[0] * (to - from).Seconds()
	}
	step := l.Step.D()
	var sum float64
	for t := from; t < to; {
		i, end := int(t/step), to
		rate := l.Rates[len(l.Rates)-1]
		if i < len(l.Rates)-1 {
			rate = l.Rates[i]
			end = min(to, time.Duration(i+1)*step)
		}
		sum += rate * (end - t).Seconds()
		t = end
	}
	return sum
}

// perfectForecaster forecasts the true mean offered rate of the coming
// period of one node and function, read from the scenario's load: the
// forecaster of Config.PerfectForecast. The control core binds it to its
// series (control.SeriesBinder).
type perfectForecaster struct {
	e       *engine
	streams []int32
}

// newPerfectForecaster is the forecast.Factory of a PerfectForecast run.
func (e *engine) newPerfectForecaster() forecast.Forecaster { return &perfectForecaster{e: e} }

func (p *perfectForecaster) Observe(float64) {}

// BindSeries implements control.SeriesBinder.
func (p *perfectForecaster) BindSeries(self strategy.NodeID, function string) {
	node, ok := p.e.nodeIdx[self]
	fn, fok := p.e.fnIdx[function]
	if !ok || !fok {
		return
	}
	for i, st := range p.e.streams {
		if st.node == node && st.fn == fn {
			p.streams = append(p.streams, int32(i))
		}
	}
}

// Forecast returns the mean rate of the node's users for the function over
// the period starting now (the time of the control cycle asking).
func (p *perfectForecaster) Forecast() float64 {
	var r float64
	for _, si := range p.streams {
		r += p.e.meanRate(si, p.e.now)
	}
	return r
}
