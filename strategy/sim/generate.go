package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// GenerateConfig describes a random federation for Generate.
type GenerateConfig struct {
	// Name of the scenario. If empty, "generated-<nodes>".
	Name string
	// Nodes is the number of nodes, at least 2.
	Nodes int
	// Degree is the number of links per node: the topology is a random
	// Degree-regular graph. Nodes·Degree must be even and Degree less than
	// Nodes. If zero, 4.
	Degree int
	// Rate is the user load of each node, in req/s, split evenly among
	// the functions. If zero, 100.
	Rate float64
	// Functions is the number of functions. If zero, 2.
	Functions int
	// Duration of the run. If zero, 120s.
	Duration time.Duration
	// Period is the control period. If zero, DefaultPeriod.
	Period time.Duration
	// Seed seeds the generation and the scenario.
	Seed uint64
}

// Generate returns a random scenario: a random regular topology with link
// RTTs between 1 and 20 ms; each node runs each function with probability
// 3/4, with a capacity drawn between 0.4 and 2 times its share of the load
// (so some nodes are overloaded and their neighbours have room); each node
// receives Rate req/s of user load, whose split among the functions
// changes every 30 s. The same configuration gives the same scenario.
func Generate(cfg GenerateConfig) (*Scenario, error) {
	if cfg.Degree == 0 {
		cfg.Degree = 4
	}
	if cfg.Rate == 0 {
		cfg.Rate = 100
	}
	if cfg.Functions == 0 {
		cfg.Functions = 2
	}
	if cfg.Duration == 0 {
		cfg.Duration = 120 * time.Second
	}
	if cfg.Period == 0 {
		cfg.Period = DefaultPeriod
	}
	switch {
	case cfg.Nodes < 2 || cfg.Nodes > MaxNodes:
		return nil, fmt.Errorf("sim: generate: nodes %d not in [2, %d]", cfg.Nodes, MaxNodes)
	case cfg.Degree < 1 || cfg.Degree >= cfg.Nodes:
		return nil, fmt.Errorf("sim: generate: degree %d not in [1, nodes-1]", cfg.Degree)
	case cfg.Nodes*cfg.Degree%2 != 0:
		return nil, fmt.Errorf("sim: generate: nodes×degree (%d×%d) must be even", cfg.Nodes, cfg.Degree)
	case !(cfg.Rate > 0 && cfg.Rate <= MaxRate):
		return nil, fmt.Errorf("sim: generate: rate %v not in (0, %v]", cfg.Rate, MaxRate)
	case cfg.Functions < 1 || cfg.Functions > 100:
		return nil, fmt.Errorf("sim: generate: functions %d not in [1, 100]", cfg.Functions)
	case cfg.Duration < 0 || cfg.Period < 0:
		return nil, errors.New("sim: generate: negative duration or period")
	}
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("generated-%d", cfg.Nodes)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6e4e))
	s := &Scenario{
		Name:        cfg.Name,
		Description: fmt.Sprintf("generated: %d nodes, random %d-regular topology, %g req/s per node over %d functions", cfg.Nodes, cfg.Degree, cfg.Rate, cfg.Functions),
		Duration:    Duration(cfg.Duration),
		Period:      Duration(cfg.Period),
		Seed:        cfg.Seed,
	}
	width := len(fmt.Sprint(cfg.Nodes - 1))
	fns := make([]string, cfg.Functions)
	for j := range fns {
		fns[j] = fmt.Sprintf("fn%d", j)
	}
	share := cfg.Rate / float64(cfg.Functions)
	step := 30 * time.Second
	steps := max(1, int((cfg.Duration+step-1)/step))
	for i := range cfg.Nodes {
		id := fmt.Sprintf("n%0*d", width, i)
		n := Node{ID: id, Functions: []Function{}}
		for _, fn := range fns {
			if rng.Float64() < 0.75 {
				n.Functions = append(n.Functions, Function{Name: fn, Capacity: share * (0.4 + 1.6*rng.Float64())})
			}
		}
		s.Nodes = append(s.Nodes, n)
		// The load moves between the functions every step.
		weights := make([][]float64, cfg.Functions)
		for range steps {
			var total float64
			w := make([]float64, cfg.Functions)
			for j := range w {
				w[j] = 0.5 + rng.Float64()
				total += w[j]
			}
			for j := range w {
				weights[j] = append(weights[j], cfg.Rate*w[j]/total)
			}
		}
		for j, fn := range fns {
			l := Load{Node: id, Function: fn, Rates: weights[j]}
			if len(l.Rates) > 1 {
				l.Step = Duration(step)
			}
			s.Load = append(s.Load, l)
		}
	}
	pairs, err := regularGraph(cfg.Nodes, cfg.Degree, rng)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		s.Links = append(s.Links, Link{A: s.Nodes[p[0]].ID, B: s.Nodes[p[1]].ID, RTT: Duration(time.Duration(1+rng.IntN(20)) * time.Millisecond)})
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("sim: generate: %w", err)
	}
	s.fillDefaults()
	return s, nil
}

// regularGraph returns the edges of a random d-regular simple graph on n
// vertices, by random pairing of the vertices' d stubs, avoiding loops and
// repeated edges, and starting again when it gets stuck.
func regularGraph(n, d int, rng *rand.Rand) ([][2]int, error) {
	for range 1000 {
		stubs := make([]int, 0, n*d)
		for v := range n {
			for range d {
				stubs = append(stubs, v)
			}
		}
		adj := make([]map[int]bool, n)
		for v := range adj {
			adj[v] = map[int]bool{}
		}
		var edges [][2]int
		stuck := false
		for len(stubs) > 0 && !stuck {
			// Pick two stubs that make a new edge, trying a few times.
			found := false
			for range 100 {
				i, j := rng.IntN(len(stubs)), rng.IntN(len(stubs))
				a, b := stubs[i], stubs[j]
				if i == j || a == b || adj[a][b] {
					continue
				}
				adj[a][b], adj[b][a] = true, true
				edges = append(edges, [2]int{min(a, b), max(a, b)})
				// Remove the two stubs (the larger index first).
				for _, k := range []int{max(i, j), min(i, j)} {
					stubs[k] = stubs[len(stubs)-1]
					stubs = stubs[:len(stubs)-1]
				}
				found = true
				break
			}
			stuck = !found
		}
		if !stuck {
			return edges, nil
		}
	}
	return nil, fmt.Errorf("sim: generate: no %d-regular graph on %d nodes found", d, n)
}
