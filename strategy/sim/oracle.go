package sim

import (
	"math"
	"slices"
	"time"
)

// OracleSuccessRate returns the fluid upper bound of the success rate of
// scenario s, as docs/scenarios.md defines it: for each interval in
// which every rate is constant, the maximum flow of load to capacity when
// each node may serve a request itself or forward it over one link, summed
// over the intervals and divided by the expected offered load. It returns 1
// when nothing is offered.
//
// Functions are independent (capacity is per function and node), so the
// flow is computed per function, on the bipartite graph from the nodes
// where the function's load arrives to the nodes that run it.
func OracleSuccessRate(s *Scenario) float64 {
	d := s.Duration.D()
	cuts := []time.Duration{0, d}
	for _, l := range s.Load {
		cuts = append(cuts, l.changes(d)...)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)

	idx := make(map[string]int, len(s.Nodes))
	for i, n := range s.Nodes {
		idx[n.ID] = i
	}
	adj := make([][]int, len(s.Nodes))
	for i := range adj {
		adj[i] = []int{i}
	}
	links := s.Links
	if len(links) == 0 {
		// Parsed scenarios have their links filled in; a hand-built one
		// may not.
		sc := s.clone()
		sc.fillDefaults()
		links = sc.Links
	}
	for _, l := range links {
		a, b := idx[l.A], idx[l.B]
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
	}

	var served, offered float64
	for _, fn := range s.Functions() {
		capacity := make([]float64, len(s.Nodes))
		for i, n := range s.Nodes {
			for _, f := range n.Functions {
				if f.Name == fn {
					capacity[i] = f.Capacity
				}
			}
		}
		var loads []Load
		for _, l := range s.Load {
			if l.Function == fn {
				loads = append(loads, l)
			}
		}
		if len(loads) == 0 {
			continue
		}
		for k := 0; k+1 < len(cuts); k++ {
			secs := (cuts[k+1] - cuts[k]).Seconds()
			demand := make([]float64, len(s.Nodes))
			var total float64
			for _, l := range loads {
				r := l.RateAt(cuts[k])
				demand[idx[l.Node]] += r
				total += r
			}
			if total == 0 {
				continue
			}
			offered += total * secs
			served += maxFlow(demand, capacity, adj) * secs
		}
	}
	if offered == 0 {
		return 1
	}
	return math.Min(1, served/offered)
}

// maxFlow returns the maximum flow from the demands to the capacities when
// the demand of node u may go to any node of adj[u] (which includes u).
// It runs Dinic's algorithm on source -> demand nodes -> capacity nodes ->
// sink.
func maxFlow(demand, capacity []float64, adj [][]int) float64 {
	n := len(demand)
	// Vertices: 0 source, 1 sink, 2+i demand side of node i, 2+n+i
	// capacity side of node i.
	g := newFlowGraph(2 + 2*n)
	for u := range n {
		if demand[u] <= 0 {
			continue
		}
		g.add(0, 2+u, demand[u])
		for _, v := range adj[u] {
			if capacity[v] > 0 {
				g.add(2+u, 2+n+v, math.Inf(1))
			}
		}
	}
	for v := range n {
		if capacity[v] > 0 {
			g.add(2+n+v, 1, capacity[v])
		}
	}
	return g.dinic(0, 1)
}

// flowEps is the residual capacity below which an edge counts as full.
const flowEps = 1e-9

type flowEdge struct {
	to  int
	cap float64
}

type flowGraph struct {
	edges []flowEdge // edge i and i^1 are a pair
	adj   [][]int
	level []int
	next  []int
}

func newFlowGraph(n int) *flowGraph {
	return &flowGraph{adj: make([][]int, n), level: make([]int, n), next: make([]int, n)}
}

func (g *flowGraph) add(u, v int, c float64) {
	g.adj[u] = append(g.adj[u], len(g.edges))
	g.edges = append(g.edges, flowEdge{v, c})
	g.adj[v] = append(g.adj[v], len(g.edges))
	g.edges = append(g.edges, flowEdge{u, 0})
}

func (g *flowGraph) dinic(s, t int) float64 {
	var flow float64
	queue := make([]int, 0, len(g.adj))
	for {
		for i := range g.level {
			g.level[i] = -1
		}
		g.level[s] = 0
		queue = append(queue[:0], s)
		for h := 0; h < len(queue); h++ {
			u := queue[h]
			for _, e := range g.adj[u] {
				if ed := g.edges[e]; ed.cap > flowEps && g.level[ed.to] < 0 {
					g.level[ed.to] = g.level[u] + 1
					queue = append(queue, ed.to)
				}
			}
		}
		if g.level[t] < 0 {
			return flow
		}
		clear(g.next)
		for {
			f := g.augment(s, t, math.Inf(1))
			if f <= flowEps {
				break
			}
			flow += f
		}
	}
}

// augment pushes flow along one path of the level graph. Paths may go back
// through reverse edges, so their length is bounded by the number of
// vertices, not by 3.
func (g *flowGraph) augment(u, t int, limit float64) float64 {
	if u == t {
		return limit
	}
	for ; g.next[u] < len(g.adj[u]); g.next[u]++ {
		e := g.adj[u][g.next[u]]
		ed := g.edges[e]
		if ed.cap <= flowEps || g.level[ed.to] != g.level[u]+1 {
			continue
		}
		if f := g.augment(ed.to, t, math.Min(limit, ed.cap)); f > flowEps {
			g.edges[e].cap -= f
			g.edges[e^1].cap += f
			return f
		}
	}
	return 0
}
