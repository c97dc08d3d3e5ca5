package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// FamilyConfig describes a family of random federations (GenerateFamily).
type FamilyConfig struct {
	// Size is the number of federations, 1 to MaxFamily.
	Size int
	// Seed seeds the family: federation i is generated from (Seed, i)
	// alone, so it is the same in a family of any size.
	Seed uint64
	// Duration of each federation's run. If zero, 120s.
	Duration time.Duration
	// Period is the control period. If zero, DefaultPeriod.
	Period time.Duration
}

// MaxFamily bounds FamilyConfig.Size.
const MaxFamily = 100_000

// Topologies of the family generator.
var familyTopologies = [...]string{"ring", "tree", "star", "two-clusters"}

// GenerateFamily returns cfg.Size random federations, federation i being
// GenerateFederation(cfg.Seed, i, ...). The generator (documented in
// docs/scenarios.md) varies everything a strategy must cope with: 4 to 16
// nodes; a ring, a random tree, a star (whose hub runs nothing half of the
// time) or two clusters joined by one or two slow links; 1 to 3 functions,
// none deployed everywhere, with capacities from 20 to 200 req/s and
// concurrencies from 2 to 16; loads that step, spike or wander; and a
// total load from 0.4 to 1.3 times the capacity.
func GenerateFamily(cfg FamilyConfig) ([]*Scenario, error) {
	if cfg.Size < 1 || cfg.Size > MaxFamily {
		return nil, fmt.Errorf("sim: family: size %d is not in [1, %d]", cfg.Size, MaxFamily)
	}
	out := make([]*Scenario, cfg.Size)
	for i := range out {
		s, err := GenerateFederation(cfg, i)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// GenerateFederation returns federation i of the family of cfg (whose Size
// is not read), named "family-<seed>-<i>":
//
//   - nodes: 4 to 16 (uniform);
//   - topology (uniform): a ring; a random recursive tree (node k links to
//     a uniform earlier node); a star (half of the time its hub runs no
//     function, a gateway); or two clusters of at least two nodes, each
//     fully linked, joined by one or two links. RTTs are uniform in 2-20
//     ms, 1-5 ms inside a cluster and 20-40 ms between clusters;
//   - functions: 1 to 3, each deployed on a uniform number of nodes from 1
//     to all but one (all but the gateway), chosen at random; capacity
//     log-uniform in 20-200 req/s, concurrency uniform in 2-16, time-out 1s;
//   - load: each node that runs a function or links to a node that does
//     receives load for it with probability 0.6 (at least one node does),
//     with a weight uniform in 0.3-1 and a shape, drawn per entry, with a
//     rate per second: steps (a new level, uniform in 0.3-1.7, every 15-60
//     s), spikes (a flat level with 1 to 4 spikes of 2 to 5 times it,
//     lasting 3-15 s) or a random walk (the log of the rate reverts to 0
//     by a tenth a second plus Gaussian noise of deviation 0.1);
//   - level: uniform in 0.4-1.3; each function's load is scaled so that
//     its mean over the run is the level times the function's total
//     capacity, split among its entries by weight.
func GenerateFederation(cfg FamilyConfig, i int) (*Scenario, error) {
	if cfg.Duration == 0 {
		cfg.Duration = 120 * time.Second
	}
	if cfg.Period == 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Duration < time.Second || cfg.Duration > 24*time.Hour || cfg.Period < 0 {
		return nil, fmt.Errorf("sim: family: duration %v is not in [1s, 24h] or period %v is negative", cfg.Duration, cfg.Period)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
	g := &federation{rng: rng, n: 4 + rng.IntN(13), topology: familyTopologies[rng.IntN(len(familyTopologies))]}
	s := &Scenario{
		Name:     fmt.Sprintf("family-%d-%d", cfg.Seed, i),
		Duration: Duration(cfg.Duration),
		Period:   Duration(cfg.Period),
		Seed:     rng.Uint64(),
	}
	for k := range g.n {
		s.Nodes = append(s.Nodes, Node{ID: fmt.Sprintf("n%02d", k), Functions: []Function{}})
	}
	s.Links = g.links(s.Nodes)
	level := 0.4 + 0.9*rng.Float64()
	fns := 1 + rng.IntN(3)
	for f := range fns {
		g.function(s, fmt.Sprintf("fn%d", f), level)
	}
	s.Description = fmt.Sprintf("family %d member %d: %d nodes, %s, %d functions, load %.2f of capacity", cfg.Seed, i, g.n, g.topology, fns, level)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("sim: family: %w", err)
	}
	s.fillDefaults()
	return s, nil
}

// federation is the state of GenerateFederation.
type federation struct {
	rng      *rand.Rand
	n        int
	topology string
	gateway  bool // the star's hub runs nothing
	adj      [][]int
}

func (g *federation) rtt(lo, hi int) Duration {
	return Duration(time.Duration(lo+g.rng.IntN(hi-lo+1)) * time.Millisecond)
}

// links draws the topology.
func (g *federation) links(nodes []Node) []Link {
	g.adj = make([][]int, g.n)
	var ls []Link
	link := func(a, b int, rtt Duration) {
		ls = append(ls, Link{A: nodes[a].ID, B: nodes[b].ID, RTT: rtt})
		g.adj[a] = append(g.adj[a], b)
		g.adj[b] = append(g.adj[b], a)
	}
	switch g.topology {
	case "ring":
		for k := range g.n {
			link(k, (k+1)%g.n, g.rtt(2, 20))
		}
	case "tree":
		for k := 1; k < g.n; k++ {
			link(g.rng.IntN(k), k, g.rtt(2, 20))
		}
	case "star":
		g.gateway = g.rng.IntN(2) == 0
		for k := 1; k < g.n; k++ {
			link(0, k, g.rtt(2, 20))
		}
	default: // two clusters
		split := 2 + g.rng.IntN(g.n-3)
		for a := range g.n {
			for b := a + 1; b < g.n; b++ {
				if (a < split) == (b < split) {
					link(a, b, g.rtt(1, 5))
				}
			}
		}
		bridges := 1 + g.rng.IntN(2)
		for range bridges {
			a, b := g.rng.IntN(split), split+g.rng.IntN(g.n-split)
			if !slices.Contains(g.adj[a], b) {
				link(a, b, g.rtt(20, 40))
			}
		}
	}
	return ls
}

// function deploys function name and draws its load.
func (g *federation) function(s *Scenario, name string, level float64) {
	hosts := make([]int, 0, g.n)
	for k := range g.n {
		if !(g.gateway && k == 0) {
			hosts = append(hosts, k)
		}
	}
	g.rng.Shuffle(len(hosts), func(a, b int) { hosts[a], hosts[b] = hosts[b], hosts[a] })
	hosts = hosts[:1+g.rng.IntN(len(hosts)-1)]
	runs := make([]bool, g.n)
	var capacity float64
	for _, h := range hosts {
		c := 20 * math.Pow(10, g.rng.Float64())
		s.Nodes[h].Functions = append(s.Nodes[h].Functions, Function{Name: name, Capacity: round2(c), Concurrency: 2 + g.rng.IntN(15)})
		runs[h] = true
		capacity += round2(c)
	}
	var loaded []int
	for k := range g.n {
		reach := runs[k] || slices.ContainsFunc(g.adj[k], func(v int) bool { return runs[v] })
		if reach && g.rng.Float64() < 0.6 {
			loaded = append(loaded, k)
		}
	}
	if len(loaded) == 0 {
		loaded = append(loaded, hosts[0])
	}
	weights := make([]float64, len(loaded))
	var total float64
	for k := range weights {
		weights[k] = 0.3 + 0.7*g.rng.Float64()
		total += weights[k]
	}
	secs := int(s.Duration.D() / time.Second)
	for k, node := range loaded {
		shape := g.shape(secs)
		mean := level * capacity * weights[k] / total
		for t := range shape {
			shape[t] = round2(shape[t] * mean)
		}
		s.Load = append(s.Load, Load{Node: s.Nodes[node].ID, Function: name, Step: Duration(time.Second), Rates: shape})
	}
}

// shape draws a load shape of secs one-second rates with mean 1.
func (g *federation) shape(secs int) []float64 {
	r := make([]float64, secs)
	switch g.rng.IntN(3) {
	case 0: // steps
		for t := 0; t < secs; {
			level, hold := 0.3+1.4*g.rng.Float64(), 15+g.rng.IntN(46)
			for end := min(secs, t+hold); t < end; t++ {
				r[t] = level
			}
		}
	case 1: // spikes
		for t := range r {
			r[t] = 1
		}
		for range 1 + g.rng.IntN(4) {
			height, length := 2+3*g.rng.Float64(), 3+g.rng.IntN(13)
			start := g.rng.IntN(max(1, secs-length))
			for t := start; t < min(secs, start+length); t++ {
				r[t] = height
			}
		}
	default: // random walk of the log
		x := 0.0
		for t := range r {
			x += -0.1*x + 0.1*g.rng.NormFloat64()
			r[t] = math.Exp(x)
		}
	}
	var sum float64
	for _, v := range r {
		sum += v
	}
	for t := range r {
		r[t] *= float64(secs) / sum
	}
	return r
}

// round2 rounds to two decimals, to keep scenario files readable.
func round2(x float64) float64 { return math.Round(x*100) / 100 }
