package report

import (
	"math"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Result is the result object dfaas bench prints and writes, for one run
// of a strategy or for all its runs: the result object every mode shares
// (sim.Result) with per-node success rates that are null, not 100 %, at
// nodes that were offered nothing, and, over repeated runs, 95 %
// confidence intervals.
//
// Over K runs (Repeats, Seeds), the counts are sums over the runs, and
// success_rate and latency_ms (total and per node) are the means of the
// runs' values: the centres of success_rate_ci95 and latency_ms_ci95,
// Student-t intervals of those means (present for K ≥ 2), clipped to the
// values the quantity can take ([0, 1] for rates, ≥ 0 for latencies), so
// a clipped interval is not centred on its mean.
type Result struct {
	sim.Result
	// Nodes replace sim.Result's in JSON (the shallower field wins).
	Nodes []NodeResult `json:"nodes"`
	// Run (1..K) and Seed identify a single run; Repeats and Seeds a
	// result over runs.
	Run     int      `json:"run,omitempty"`
	Seed    *uint64  `json:"seed,omitempty"`
	Repeats int      `json:"repeats,omitempty"`
	Seeds   []uint64 `json:"seeds,omitempty"`
	// SuccessRateCI95 is the 95 % confidence interval of the mean success
	// rate over the runs, [low, high].
	SuccessRateCI95 *Interval `json:"success_rate_ci95,omitempty"`
	// LatencyCI95 are the 95 % confidence intervals of the means of the
	// runs' latency quantiles, ms.
	LatencyCI95 *QuantilesCI `json:"latency_ms_ci95,omitempty"`
}

// QuantilesCI are confidence intervals of latency quantiles, ms.
type QuantilesCI struct {
	P50 Interval `json:"p50"`
	P95 Interval `json:"p95"`
	P99 Interval `json:"p99"`
}

// NodeResult are the counts of the requests that arrived at one node, as
// sim.NodeStat, with a success rate that is null when nothing was
// offered.
type NodeResult struct {
	ID        string `json:"id"`
	Offered   int64  `json:"offered"`
	Served    int64  `json:"served"`
	Forwarded int64  `json:"forwarded"`
	Rejected  int64  `json:"rejected"`
	Failed    int64  `json:"failed"`
	// SuccessRate is served/offered, null when nothing was offered (over
	// runs: the mean over the runs that offered the node something).
	SuccessRate *float64      `json:"success_rate"`
	Latency     sim.Quantiles `json:"latency_ms"`
	// SuccessRateCI95 is present over two runs or more that offered the
	// node something.
	SuccessRateCI95 *Interval `json:"success_rate_ci95,omitempty"`
}

// NA reports whether the node was offered nothing.
func (n NodeResult) NA() bool { return n.SuccessRate == nil }

// RunResult returns the result object of a single run.
func RunResult(r sim.Result, run int, seed uint64) Result {
	return Aggregate([]sim.Result{r}, []uint64{seed}, run)
}

// Aggregate returns the result object over runs of one strategy in one
// mode (results and seeds in the same order), with nodes in the order of
// the first. run is the run number of a single run, 0 for a result over
// runs.
func Aggregate(rs []sim.Result, seeds []uint64, run int) Result {
	if len(rs) == 0 {
		return Result{}
	}
	out := Result{Result: rs[0]}
	out.Result.Nodes = nil
	out.Offered, out.Served, out.Forwarded, out.Rejected, out.Failed, out.StrategyErrors = 0, 0, 0, 0, 0, 0
	if run > 0 {
		out.Run, out.Seed = run, &seeds[0]
	} else {
		out.Repeats, out.Seeds = len(rs), seeds
	}
	var rates []float64
	var lats [3][]float64
	for _, r := range rs {
		out.Offered += r.Offered
		out.Served += r.Served
		out.Forwarded += r.Forwarded
		out.Rejected += r.Rejected
		out.Failed += r.Failed
		out.StrategyErrors += r.StrategyErrors
		if r.Offered > 0 {
			rates = append(rates, r.SuccessRate)
		}
		if r.Served > 0 {
			for i, v := range [3]float64{r.Latency.P50, r.Latency.P95, r.Latency.P99} {
				lats[i] = append(lats[i], v)
			}
		}
	}
	var ok bool
	var ci Interval
	if out.SuccessRate, ci, ok = MeanCI95(rates); ok {
		ci = ci.Clip(0, 1)
		out.SuccessRateCI95 = &ci
	}
	if len(rates) == 0 {
		out.SuccessRate = 0
	}
	out.Latency, out.LatencyCI95 = meanQuantiles(lats)
	for i, n := range rs[0].Nodes {
		out.Nodes = append(out.Nodes, aggregateNode(rs, i, n.ID))
	}
	return out
}

// meanQuantiles returns the means of the quantiles and, with two values
// or more, their intervals.
func meanQuantiles(lats [3][]float64) (sim.Quantiles, *QuantilesCI) {
	var q [3]float64
	var cis [3]Interval
	all := true
	for i := range lats {
		var ok bool
		if q[i], cis[i], ok = MeanCI95(lats[i]); !ok {
			all = false
		}
		cis[i] = cis[i].Clip(0, math.Inf(1))
		if len(lats[i]) == 0 {
			q[i] = 0
		}
	}
	m := sim.Quantiles{P50: q[0], P95: q[1], P99: q[2]}
	if !all {
		return m, nil
	}
	return m, &QuantilesCI{P50: cis[0], P95: cis[1], P99: cis[2]}
}

// aggregateNode returns node i (named id) over the runs.
func aggregateNode(rs []sim.Result, i int, id string) NodeResult {
	nr := NodeResult{ID: id}
	var rates []float64
	var lats [3][]float64
	for _, r := range rs {
		if i >= len(r.Nodes) || r.Nodes[i].ID != id {
			continue
		}
		n := r.Nodes[i]
		nr.Offered += n.Offered
		nr.Served += n.Served
		nr.Forwarded += n.Forwarded
		nr.Rejected += n.Rejected
		nr.Failed += n.Failed
		if n.Offered > 0 {
			rates = append(rates, float64(n.Served)/float64(n.Offered))
		}
		if n.Served > 0 {
			for j, v := range [3]float64{n.Latency.P50, n.Latency.P95, n.Latency.P99} {
				lats[j] = append(lats[j], v)
			}
		}
	}
	if mean, ci, ok := MeanCI95(rates); len(rates) > 0 {
		nr.SuccessRate = &mean
		if ok {
			ci = ci.Clip(0, 1)
			nr.SuccessRateCI95 = &ci
		}
	}
	nr.Latency, _ = meanQuantiles(lats)
	return nr
}
