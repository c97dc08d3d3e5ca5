package strategytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// federation is a small random federation whose nodes each run the control
// core the agent runs (package strategy/control): random functions,
// capacities, loads that drift, links with RTTs (some unknown), peers that
// go down, announcements delivered a period late (some lost), advice of
// every shape.
type federation struct {
	rng      *rand.Rand
	ids      []strategy.NodeID
	fns      []string
	capacity map[strategy.NodeID]map[string]float64 // deployed functions
	load     map[strategy.NodeID]map[string]float64
	links    map[strategy.NodeID][]strategy.NodeID
	rtt      map[[2]strategy.NodeID]time.Duration
	cores    map[strategy.NodeID]*control.Core
	inflight []envelope // sent in the previous step
}

// envelope is a message in flight.
type envelope struct {
	from, to strategy.NodeID
	msg      control.Message
}

const period = 5 * time.Second

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newFederation(seed uint64) (*federation, error) {
	rng := rand.New(rand.NewPCG(seed, 0x57a7))
	f := &federation{
		rng:      rng,
		capacity: map[strategy.NodeID]map[string]float64{},
		load:     map[strategy.NodeID]map[string]float64{},
		links:    map[strategy.NodeID][]strategy.NodeID{},
		rtt:      map[[2]strategy.NodeID]time.Duration{},
		cores:    map[strategy.NodeID]*control.Core{},
	}
	n := 2 + rng.IntN(6)
	for i := range n {
		f.ids = append(f.ids, strategy.NodeID(fmt.Sprintf("node-%d", i)))
	}
	for i := range 1 + rng.IntN(4) {
		f.fns = append(f.fns, fmt.Sprintf("fn-%d", i))
	}
	for _, id := range f.ids {
		f.capacity[id] = map[string]float64{}
		f.load[id] = map[string]float64{}
		for _, fn := range f.fns {
			switch r := rng.Float64(); {
			case r < 0.55:
				f.capacity[id][fn] = 1 + rng.Float64()*300
			case r < 0.65:
				f.capacity[id][fn] = 0 // deployed, capacity unknown
			}
			if rng.Float64() < 0.7 {
				f.load[id][fn] = rng.Float64() * 400
			}
		}
		core, err := control.New(control.Config{Self: id, Period: period, Seed: rng.Uint64(), Nearest: rng.IntN(3), Forecaster: newNoisy})
		if err != nil {
			return nil, err
		}
		f.cores[id] = core
	}
	// Links: a random connected graph (a chain plus random chords).
	for i := 1; i < n; i++ {
		f.link(f.ids[i-1], f.ids[i])
	}
	for range rng.IntN(n + 1) {
		a, b := f.ids[rng.IntN(n)], f.ids[rng.IntN(n)]
		if a != b && !slices.Contains(f.links[a], b) {
			f.link(a, b)
		}
	}
	return f, nil
}

func (f *federation) link(a, b strategy.NodeID) {
	f.links[a] = append(f.links[a], b)
	f.links[b] = append(f.links[b], a)
	d := time.Duration(f.rng.IntN(50)) * time.Millisecond // 0: unknown
	f.rtt[[2]strategy.NodeID{a, b}] = d
	f.rtt[[2]strategy.NodeID{b, a}] = d
}

// noisy forecasts the last value times a factor in [0.8, 1.2) drawn from
// the series itself, so that forecasts are deterministic whatever the
// order in which the core consults its forecasters.
type noisy struct {
	last float64
	n    uint64
}

func newNoisy() forecast.Forecaster { return &noisy{} }

func (f *noisy) Observe(v float64) { f.last, f.n = v, f.n+1 }

func (f *noisy) Forecast() float64 {
	h := rand.New(rand.NewPCG(math.Float64bits(f.last), f.n)).Float64()
	return f.last * (0.8 + 0.4*h)
}

// deliver hands node id the messages sent to it in the previous step, each
// received at a random time within the last period; one in twenty is lost.
func (f *federation) deliver(id strategy.NodeID, now time.Time) error {
	core := f.cores[id]
	for _, e := range f.inflight {
		if e.to != id || f.rng.Float64() < 0.05 {
			continue
		}
		at := now.Add(-time.Duration(f.rng.Int64N(int64(period))))
		if _, err := core.Receive(e.from, e.msg, at); err != nil {
			return fmt.Errorf("a message of the federation was dropped (a bug in strategytest): %w", err)
		}
	}
	return nil
}

// observation is what node id observes at step k: its functions, random
// rates around its load, random resources half the time, its links with
// their RTTs (one in twenty peers down).
func (f *federation) observation(id strategy.NodeID, k int) control.Observation {
	rng := f.rng
	o := control.Observation{Now: epoch.Add(time.Duration(k) * period), Measured: k > 0 || rng.Float64() < 0.5}
	if rng.Float64() < 0.5 {
		o.Resources = strategy.Resources{CPU: rng.Float64() * 8, CPUCores: 8, Memory: rng.Float64() * 16e9, MemoryTotal: 16e9}
	}
	for _, fn := range sortedKeys(f.capacity[id]) {
		d := strategy.Function{Name: fn, Capacity: f.capacity[id][fn], Replicas: 1}
		if rng.Float64() < 0.8 {
			d.Concurrency = 1 + rng.IntN(20)
		}
		o.Deployed = append(o.Deployed, d)
	}
	for _, fn := range sortedKeys(f.load[id]) {
		l := f.load[id][fn]
		r := strategy.Function{Name: fn, Offered: l}
		if _, deployed := f.capacity[id][fn]; deployed {
			r.Local = l * rng.Float64()
			r.FromNeighbours = r.Local * rng.Float64() * 0.5
			r.Latency = time.Duration(rng.IntN(2000)) * time.Millisecond
		}
		r.Forwarded = l * rng.Float64() * 0.5
		r.Rejected = l * rng.Float64() * 0.1
		r.Failed = l * rng.Float64() * 0.05
		o.Rates = append(o.Rates, r)
	}
	for _, nb := range f.links[id] {
		o.Peers = append(o.Peers, control.Peer{ID: nb, RTT: f.rtt[[2]strategy.NodeID{id, nb}], Up: rng.Float64() >= 0.05})
	}
	return o
}

// advice returns advice of every shape: none, garbage, valid and invalid
// route advice.
func (f *federation) advice(s strategy.Snapshot) json.RawMessage {
	rng := f.rng
	switch r := rng.Float64(); {
	case r < 0.4:
		return nil
	case r < 0.5:
		return json.RawMessage(`{"something": "else", "n": [1, 2.5e300, null]}`)
	case r < 0.55:
		return json.RawMessage(`"just a string"`)
	}
	routes := map[string]strategy.AdviceRoute{}
	for _, fn := range s.Functions {
		if rng.Float64() < 0.3 {
			continue
		}
		var local float64
		if fn.Deployed {
			local = rng.Float64()
		}
		ar := strategy.AdviceRoute{Local: local, Forward: map[strategy.NodeID]float64{}}
		rest := 1 - local
		for _, nb := range s.Running(fn.Name) {
			share := rest * rng.Float64()
			ar.Forward[nb.ID] = share
			rest -= share
		}
		ar.Reject = rest
		if rng.Float64() < 0.1 {
			ar.Forward["stranger"] = 0.5 // invalid: not a neighbour
		}
		routes[fn.Name] = ar
	}
	b, _ := json.Marshal(strategy.Advice{Routes: routes})
	return b
}

// drift moves the loads and deployments a little.
func (f *federation) drift() {
	rng := f.rng
	for _, id := range f.ids {
		for _, fn := range sortedKeys(f.load[id]) {
			switch r := rng.Float64(); {
			case r < 0.1:
				f.load[id][fn] = 0
			case r < 0.2:
				f.load[id][fn] *= 3
			default:
				f.load[id][fn] *= 0.7 + 0.6*rng.Float64()
			}
		}
		if rng.Float64() < 0.05 {
			fn := f.fns[rng.IntN(len(f.fns))]
			if _, ok := f.capacity[id][fn]; ok {
				delete(f.capacity[id], fn)
			} else {
				f.capacity[id][fn] = 1 + rng.Float64()*200
			}
		}
	}
}

// runFederation runs one federation and returns every decision, in order.
func runFederation(factory strategy.Factory, seed uint64, opts Options) ([]strategy.Decision, error) {
	f, err := newFederation(seed)
	if err != nil {
		return nil, err
	}
	instances := map[strategy.NodeID]strategy.Strategy{}
	for _, id := range f.ids {
		st, err := factory.Build(opts.Params)
		if err != nil {
			return nil, fmt.Errorf("the factory failed: %w", err)
		}
		instances[id] = st
	}
	var out []strategy.Decision
	for k := range opts.Steps {
		var sent []envelope
		for _, id := range f.ids {
			d, err := f.step(id, k, instances[id], opts)
			if err != nil {
				return nil, fmt.Errorf("step %d, node %s: %w", k, id, err)
			}
			out = append(out, d)
			for _, m := range f.cores[id].Outbox(f.links[id]) {
				sent = append(sent, envelope{from: id, to: m.To, msg: control.Message{Seq: m.Seq, Accepts: f.rng.Float64() >= 0.05, Announcement: m.Announcement}})
			}
		}
		f.inflight = sent
		f.drift()
	}
	return out, nil
}

// step runs one control cycle of node id at step k, as the agent does
// around the strategy: deliver, observe, decide (checked), complete,
// commit.
func (f *federation) step(id strategy.NodeID, k int, st strategy.Strategy, opts Options) (strategy.Decision, error) {
	now := epoch.Add(time.Duration(k) * period)
	if err := f.deliver(id, now); err != nil {
		return strategy.Decision{}, err
	}
	core := f.cores[id]
	s, err := core.Observe(f.observation(id, k))
	if err != nil {
		return strategy.Decision{}, fmt.Errorf("strategytest built an invalid snapshot (a bug in strategytest): %w", err)
	}
	s.Advice = f.advice(s)
	d, err := check(st, s, opts)
	switch {
	case errors.Is(err, errDecide):
		return strategy.Decision{}, nil // allowed: the decision in force stays
	case err != nil:
		return d, err
	}
	completed := d.Clone()
	control.Complete(&completed, s)
	if err := completed.Validate(s); err != nil {
		return d, faultf([]any{"snapshot", s, "decision", d}, "the decision is invalid once completed as the agent completes it: %v", err)
	}
	core.Commit(completed, nil)
	return d, nil
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
