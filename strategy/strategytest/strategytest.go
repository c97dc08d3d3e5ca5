package strategytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// Options tune Run. The zero value is valid.
type Options struct {
	// Federations is how many random federations are run. If zero, 20.
	Federations int
	// Steps is how many periods each federation runs. If zero, 30.
	Steps int
	// Seed seeds the random federations.
	Seed uint64
	// AllowErrors accepts strategies that return errors (the agent then
	// keeps the decision in force). By default an error on a valid
	// snapshot fails the test.
	AllowErrors bool
}

// Run checks the strategies that newStrategy returns (a fresh instance
// each call) with the default options.
func Run(t *testing.T, newStrategy func() strategy.Strategy) {
	t.Helper()
	RunWith(t, newStrategy, Options{})
}

// RunWith checks the strategies that newStrategy returns with opts.
func RunWith(t *testing.T, newStrategy func() strategy.Strategy, opts Options) {
	t.Helper()
	if opts.Federations <= 0 {
		opts.Federations = 20
	}
	if opts.Steps <= 0 {
		opts.Steps = 30
	}
	for i := range opts.Federations {
		seed := opts.Seed ^ uint64(i)*0x9e3779b97f4a7c15
		t.Run(fmt.Sprintf("federation-%d", i), func(t *testing.T) {
			if err := verify(newStrategy, seed, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// verify runs one federation twice and returns the first problem found.
func verify(newStrategy func() strategy.Strategy, seed uint64, opts Options) error {
	first, err := runFederation(newStrategy, seed, opts)
	if err != nil {
		return err
	}
	second, err := runFederation(newStrategy, seed, opts)
	if err != nil {
		return err
	}
	for k := range first {
		if !first[k].Equal(second[k]) {
			return fmt.Errorf("not deterministic: decision %d differs between two runs with fresh instances:\nfirst:  %s\nsecond: %s",
				k, mustJSON(first[k]), mustJSON(second[k]))
		}
	}
	return nil
}

// federation is a small simulated federation: nodes with functions,
// links, loads that drift, and the announcements in flight.
type federation struct {
	rng       *rand.Rand
	ids       []strategy.NodeID
	fns       []string
	capacity  map[strategy.NodeID]map[string]float64 // deployed functions
	load      map[strategy.NodeID]map[string]float64
	links     map[strategy.NodeID][]strategy.NodeID
	rtt       map[[2]strategy.NodeID]time.Duration
	announced map[strategy.NodeID]strategy.Announcement // last, by sender
	prev      map[strategy.NodeID]strategy.Decision
}

func newFederation(seed uint64) *federation {
	rng := rand.New(rand.NewPCG(seed, 0x57a7))
	f := &federation{
		rng:       rng,
		capacity:  map[strategy.NodeID]map[string]float64{},
		load:      map[strategy.NodeID]map[string]float64{},
		links:     map[strategy.NodeID][]strategy.NodeID{},
		rtt:       map[[2]strategy.NodeID]time.Duration{},
		announced: map[strategy.NodeID]strategy.Announcement{},
		prev:      map[strategy.NodeID]strategy.Decision{},
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
	return f
}

func (f *federation) link(a, b strategy.NodeID) {
	f.links[a] = append(f.links[a], b)
	f.links[b] = append(f.links[b], a)
	d := time.Duration(f.rng.IntN(50)) * time.Millisecond
	f.rtt[[2]strategy.NodeID{a, b}] = d
	f.rtt[[2]strategy.NodeID{b, a}] = d
}

const period = 5 * time.Second

// snapshot builds node id's snapshot at step k, as the agent would.
func (f *federation) snapshot(id strategy.NodeID, k int) strategy.Snapshot {
	rng := f.rng
	s := strategy.Snapshot{
		Self:   id,
		Now:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(k) * period),
		Period: period,
		Seed:   rng.Uint64(),
		Prev:   f.prev[id].Clone(),
	}
	if rng.Float64() < 0.5 {
		s.Resources = strategy.Resources{CPU: rng.Float64() * 8, CPUCores: 8, Memory: rng.Float64() * 16e9, MemoryTotal: 16e9}
	}
	fns := map[string]*strategy.Function{}
	get := func(name string) *strategy.Function {
		if fns[name] == nil {
			fns[name] = &strategy.Function{Name: name}
		}
		return fns[name]
	}
	for _, fn := range sortedKeys(f.capacity[id]) {
		c := f.capacity[id][fn]
		g := get(fn)
		g.Deployed, g.Capacity, g.Replicas = true, c, 1
		if rng.Float64() < 0.8 {
			g.Concurrency = 1 + rng.IntN(20)
		}
	}
	for _, fn := range sortedKeys(f.load[id]) {
		l := f.load[id][fn]
		g := get(fn)
		g.Offered = l
		g.Forecast = l * (0.8 + 0.4*rng.Float64())
		if g.Deployed {
			g.Local = l * rng.Float64()
			g.FromNeighbours = g.Local * rng.Float64() * 0.5
			g.Latency = time.Duration(rng.IntN(2000)) * time.Millisecond
		}
		g.Forwarded = l * rng.Float64() * 0.5
		g.Rejected = l * rng.Float64() * 0.1
		g.Failed = l * rng.Float64() * 0.05
	}
	for _, nb := range f.links[id] {
		a, ok := f.announced[nb]
		if !ok || rng.Float64() < 0.05 {
			continue // not heard from yet, or expired
		}
		a = a.Clone()
		a.Grants = slices.DeleteFunc(a.Grants, func(g strategy.Grant) bool { return g.To != id })
		s.Neighbours = append(s.Neighbours, strategy.Neighbour{
			ID:           nb,
			Age:          time.Duration(rng.Int64N(int64(2 * period))),
			RTT:          f.rtt[[2]strategy.NodeID{id, nb}],
			Announcement: a,
		})
		for _, fs := range a.Functions {
			if fs.Deployed {
				get(fs.Name)
			}
		}
	}
	slices.SortFunc(s.Neighbours, func(a, b strategy.Neighbour) int { return strings.Compare(string(a.ID), string(b.ID)) })
	for _, g := range fns {
		s.Functions = append(s.Functions, *g)
	}
	slices.SortFunc(s.Functions, func(a, b strategy.Function) int { return strings.Compare(a.Name, b.Name) })
	s.Advice = f.advice(s)
	return s
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

// step moves the loads and deployments a little.
func (f *federation) step() {
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
func runFederation(newStrategy func() strategy.Strategy, seed uint64, opts Options) ([]strategy.Decision, error) {
	f := newFederation(seed)
	instances := map[strategy.NodeID]strategy.Strategy{}
	for _, id := range f.ids {
		st := newStrategy()
		if st == nil {
			return nil, errors.New("newStrategy returned nil")
		}
		instances[id] = st
	}
	var out []strategy.Decision
	for k := range opts.Steps {
		next := map[strategy.NodeID]strategy.Announcement{}
		for _, id := range f.ids {
			s := f.snapshot(id, k)
			if err := s.Validate(); err != nil {
				return nil, fmt.Errorf("strategytest built an invalid snapshot (a bug in strategytest): %w", err)
			}
			d, err := check(instances[id], s, opts)
			if err != nil {
				return nil, fmt.Errorf("step %d, node %s: %w", k, id, err)
			}
			out = append(out, d)
			if len(d.Routes) > 0 || d.Announce.Functions != nil || len(d.Announce.Grants) > 0 {
				f.prev[id] = d.Clone()
			}
			a := d.Announce.Clone()
			if a.Functions == nil {
				a.Functions = strategy.BaseAnnouncement(s).Functions
			}
			next[id] = a
		}
		f.announced = next
		f.step()
	}
	return out, nil
}

// check calls st on s and checks the decision.
func check(st strategy.Strategy, s strategy.Snapshot, opts Options) (d strategy.Decision, err error) {
	before := s.Clone()
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("Decide panicked: %v\nsnapshot: %s", r, mustJSON(before))
			}
		}()
		d, err = st.Decide(s)
		if err != nil {
			err = fmt.Errorf("%w: %w", errDecide, err)
		}
	}()
	if err != nil && !errors.Is(err, errDecide) {
		return d, err
	}
	if !s.Equal(before) {
		return d, errors.New("Decide modified its snapshot")
	}
	if err != nil {
		if !opts.AllowErrors {
			return d, fmt.Errorf("Decide failed on a valid snapshot: %w\nsnapshot: %s", err, mustJSON(before))
		}
		return strategy.Decision{}, nil
	}
	if err := d.Validate(s); err != nil {
		return d, fmt.Errorf("invalid decision: %w\nsnapshot: %s\ndecision: %s", err, mustJSON(before), mustJSON(d))
	}
	if err := finite(d); err != nil {
		return d, fmt.Errorf("%w\ndecision: %s", err, mustJSON(d))
	}
	// The decision must not share memory with the snapshot: scribble on
	// it and check the snapshot is intact.
	kept := d.Clone()
	scribble(&d)
	if !s.Equal(before) {
		return d, errors.New("the decision shares memory with the snapshot (changing it changed the snapshot)")
	}
	return kept, nil
}

// errDecide marks an error returned by Decide itself.
var errDecide = errors.New("Decide returned an error")

// finite checks the numbers Validate does not: announced function states
// and resources are checked by Validate; this checks every share and limit
// again, and the grants, for NaN and infinity.
func finite(d strategy.Decision) error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	for _, r := range d.Routes {
		if bad(r.Local) || bad(r.Reject) || bad(r.LocalLimit) {
			return fmt.Errorf("route %q has a NaN or infinite number", r.Function)
		}
		for _, sh := range r.Forward {
			if bad(sh.Share) {
				return fmt.Errorf("route %q: NaN or infinite share", r.Function)
			}
		}
		for _, l := range r.Admit {
			if bad(l.Rate) {
				return fmt.Errorf("route %q: NaN or infinite admission limit", r.Function)
			}
		}
	}
	for _, g := range d.Announce.Grants {
		if bad(g.Rate) {
			return fmt.Errorf("grant to %q: NaN or infinite rate", g.To)
		}
	}
	return nil
}

func scribble(d *strategy.Decision) {
	for i := range d.Routes {
		r := &d.Routes[i]
		r.Function = "scribbled"
		for j := range r.Forward {
			r.Forward[j] = strategy.Share{Node: "scribbled", Share: -1}
		}
		for j := range r.Admit {
			r.Admit[j] = strategy.Limit{Node: "scribbled", Rate: -1}
		}
	}
	for i := range d.Announce.Functions {
		d.Announce.Functions[i].Name = "scribbled"
	}
	for i := range d.Announce.Grants {
		d.Announce.Grants[i].To = "scribbled"
	}
	for i := range d.Announce.Data {
		d.Announce.Data[i] = 'x'
	}
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	if len(b) > 4000 {
		return string(b[:4000]) + "..."
	}
	return string(b)
}
