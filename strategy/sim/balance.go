package sim

import (
	"math"
	"slices"
)

// balancedFlow returns how one function's load is best placed in one
// period, as the clairvoyant controller places it: flow[u][k] is the rate
// of node u's users served by node adj[u][k] (adj[u] lists the nodes u's
// users may reach: u itself and its linked neighbours, in order of
// preference), with demand[u] the rate of u's users and capacity[v] the
// rate v sustains. saturated[u] reports that u's users are in a region
// where every max flow leaves some of them unserved (the capacities they
// reach are full).
//
// Of all the maximum flows (the fluid oracle's, maxFlow), it is the one
// whose vector of utilizations (load / capacity), sorted in decreasing
// order, is lexicographically smallest: no node is busier than it must be
// for the most load to be served, and then the next busiest, and so on.
// It is computed by rounds of parametric max-flow: each round finds the
// smallest common utilization λ at which the remaining nodes still carry
// the remaining maximum flow (by Newton's method on the minimum cut), and
// the set of demand and capacity nodes that the minimum cut at λ proves
// tight, fixes their flow and removes them. Flows in both directions over
// a link are then cancelled (each node serves its own users instead), which
// changes no utilization.
func balancedFlow(demand, capacity []float64, adj [][]int) (flow [][]float64, saturated []bool) {
	n := len(demand)
	flow = make([][]float64, n)
	for u := range flow {
		flow[u] = make([]float64, len(adj[u]))
	}
	saturated = make([]bool, n)
	activeD, activeC := make([]bool, n), make([]bool, n)
	for u := range n {
		activeD[u] = demand[u] > 0
		activeC[u] = capacity[u] > 0
	}
	b := &flowBuilder{demand: demand, capacity: capacity, adj: adj, activeD: activeD, activeC: activeC}
	for range n + 1 {
		full := b.build(1, false)
		total := full.g.dinic(0, 1)
		if total <= flowEps {
			break
		}
		lambda, inD, inC := b.tightest(total)
		// Fix the tight region's flow at lambda.
		region := flowBuilder{demand: demand, capacity: capacity, adj: adj, activeD: inD, activeC: inC}
		region.place(lambda).read(flow)
		for u := range n {
			if inD[u] {
				activeD[u] = false
				saturated[u] = lambda >= 1-1e-9 && demand[u] > 0
			}
			if inC[u] {
				activeC[u] = false
			}
		}
	}
	cancelCycles(flow, adj)
	return flow, saturated
}

// flowBuilder builds the flow graphs of one function and period over the
// active demand and capacity nodes.
type flowBuilder struct {
	demand, capacity []float64
	adj              [][]int
	activeD, activeC []bool
}

// builtFlow is a flow graph with the index of each demand edge.
type builtFlow struct {
	g    *flowGraph
	edge [][]int // edge[u][k]: index of the edge u -> adj[u][k], or -1
	n    int
}

// build returns the graph source -> demand nodes -> capacity nodes -> sink
// with the capacities scaled by lambda (vertices as in maxFlow). With
// local, the demand edges are only those from a node to itself; addRemote
// adds the others.
func (b *flowBuilder) build(lambda float64, local bool) builtFlow {
	n := len(b.demand)
	bf := builtFlow{g: newFlowGraph(2 + 2*n), edge: make([][]int, n), n: n}
	for u := range n {
		bf.edge[u] = make([]int, len(b.adj[u]))
		for k := range bf.edge[u] {
			bf.edge[u][k] = -1
		}
		if b.activeD[u] {
			bf.g.add(0, 2+u, b.demand[u])
		}
	}
	for v := range n {
		if b.activeC[v] {
			bf.g.add(2+n+v, 1, lambda*b.capacity[v])
		}
	}
	b.addDemandEdges(bf, true)
	if !local {
		b.addDemandEdges(bf, false)
	}
	return bf
}

// addDemandEdges adds the edges from each active demand node to the active
// capacity nodes it reaches, in the order of adj: to itself (self) or to
// the others.
func (b *flowBuilder) addDemandEdges(bf builtFlow, self bool) {
	for u := range bf.n {
		if !b.activeD[u] {
			continue
		}
		for k, v := range b.adj[u] {
			if b.activeC[v] && (v == u) == self {
				bf.edge[u][k] = len(bf.g.edges)
				bf.g.add(2+u, 2+bf.n+v, math.Inf(1))
			}
		}
	}
}

// place computes a maximum flow at lambda that keeps as much load local as
// a maximum flow can: a maximum flow over the local edges first, then
// augmented over every edge (augmenting paths move local load elsewhere
// only where that lets more be served).
func (b *flowBuilder) place(lambda float64) builtFlow {
	bf := b.build(lambda, true)
	bf.g.dinic(0, 1)
	b.addDemandEdges(bf, false)
	bf.g.dinic(0, 1)
	return bf
}

// read adds the flow on each demand edge to flow.
func (bf builtFlow) read(flow [][]float64) {
	for u, es := range bf.edge {
		for k, e := range es {
			if e >= 0 {
				flow[u][k] += bf.g.edges[e^1].cap // the reverse edge holds the flow
			}
		}
	}
}

// cut returns the demand and capacity nodes on the source side of the
// minimum cut of a graph dinic has just run on: those its last search
// reached.
func (bf builtFlow) cut() (inD, inC []bool) {
	inD, inC = make([]bool, bf.n), make([]bool, bf.n)
	for u := range bf.n {
		inD[u] = bf.g.level[2+u] >= 0
		inC[u] = bf.g.level[2+bf.n+u] >= 0
	}
	return inD, inC
}

// tightest returns the smallest utilization lambda at which the active
// nodes still carry flow total, and the demand and capacity nodes that are
// tight there: in every such flow the capacity nodes are full at lambda and
// serve only those demand nodes, and all the other active demand is
// served. Newton's method: the cut that is minimum at an infeasible lambda
// gives the next lambda, where that cut carries total; the iterates
// increase to the answer in a few steps.
func (b *flowBuilder) tightest(total float64) (lambda float64, inD, inC []bool) {
	var capSum float64
	for v, ok := range b.activeC {
		if ok {
			capSum += b.capacity[v]
		}
	}
	lambda = min(1, total/capSum) // no flow is larger than lambda × the capacity
	inD, inC = slices.Clone(b.activeD), slices.Clone(b.activeC)
	for range 100 {
		bf := b.build(lambda, false)
		if f := bf.g.dinic(0, 1); f >= total*(1-1e-9)-flowEps || lambda >= 1 {
			return lambda, inD, inC
		}
		inD, inC = bf.cut()
		var out, in float64 // demand outside the cut, capacity inside
		for u := range b.demand {
			if b.activeD[u] && !inD[u] {
				out += b.demand[u]
			}
			if b.activeC[u] && inC[u] {
				in += b.capacity[u]
			}
		}
		next := min(1, (total-out)/in)
		if !(next > lambda) { // no progress: rounding; take the cut as tight
			return lambda, inD, inC
		}
		lambda = next
	}
	return lambda, inD, inC
}

// cancelCycles removes flow that goes both ways over a link: if u's users
// are served by v and v's by u, each serves its own instead (by the
// smaller rate), which leaves every node's load as it was.
func cancelCycles(flow [][]float64, adj [][]int) {
	for u := range adj {
		for k, v := range adj[u] {
			if v <= u || flow[u][k] <= 0 {
				continue
			}
			back := indexOf(adj[v], u)
			self, vself := indexOf(adj[u], u), indexOf(adj[v], v)
			if back < 0 || self < 0 || vself < 0 || flow[v][back] <= 0 {
				continue
			}
			d := min(flow[u][k], flow[v][back])
			flow[u][k] -= d
			flow[v][back] -= d
			flow[u][self] += d
			flow[v][vself] += d
		}
	}
}

func indexOf(xs []int, x int) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}
