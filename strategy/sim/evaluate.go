package sim

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim/stats"
)

// Gap splits the distance between the fluid oracle and a strategy's
// success rate, in success-rate points (fractions of the offered
// requests):
//
//	oracle - success = Granularity + Strategy
//	Strategy         = Forecasting + Coordination
//
// A component may come out slightly negative: the runs it compares draw
// the same arrivals but not the same queues, so each is a noisy estimate
// (see Repeat for intervals).
type Gap struct {
	// Granularity is oracle - clairvoyant: what deciding once a period
	// and serving from finite queues cost (spikes inside a period,
	// Poisson noise), which no controller that decides once a period wins
	// back.
	Granularity float64 `json:"granularity_queueing"`
	// Strategy is clairvoyant - success: what the strategy loses to the
	// clairvoyant controller.
	Strategy float64 `json:"strategy"`
	// Forecasting is perfect forecast - success: the part of Strategy
	// that a perfect forecast of the coming period wins back.
	Forecasting float64 `json:"forecasting"`
	// Coordination is clairvoyant - perfect forecast: the rest of
	// Strategy, what deciding node by node from announcements costs.
	Coordination float64 `json:"coordination"`
}

// gapOf returns the gap of r from its reference rates.
func gapOf(r Result) *Gap {
	return &Gap{
		Granularity:  r.OracleSuccessRate - r.ClairvoyantSuccessRate,
		Strategy:     r.ClairvoyantSuccessRate - r.SuccessRate,
		Forecasting:  r.PerfectForecastSuccessRate - r.SuccessRate,
		Coordination: r.ClairvoyantSuccessRate - r.PerfectForecastSuccessRate,
	}
}

// EvalConfig says how Evaluate and EvaluateFamily run.
type EvalConfig struct {
	// Parallel is how many simulations run at once; if 0, GOMAXPROCS.
	// Each run is single-threaded and deterministic, so the results do
	// not depend on it. With more than one, a Config's Observe and New
	// are called from several goroutines.
	Parallel int
	// Repeat, if at least 2, runs each scenario that many times with the
	// seeds Seed, Seed+1, ..., Seed+Repeat-1 (other arrivals, service
	// times and phases) and reports the mean with 95% confidence
	// intervals (see Result).
	Repeat int
	// NoReferences skips the clairvoyant and perfect-forecast runs (the
	// results then carry only the oracle bound).
	NoReferences bool
}

// MaxRepeat bounds EvalConfig.Repeat, and MaxRuns the simulations one
// evaluation makes (scenarios × repetitions × (1 + 2 × configurations)).
const (
	MaxRepeat = 10_000
	MaxRuns   = 1_000_000
)

func (c EvalConfig) parallel() int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return runtime.GOMAXPROCS(0)
}

func (c EvalConfig) validate() error {
	switch {
	case c.Parallel < 0:
		return fmt.Errorf("sim: EvalConfig.Parallel: negative (%d)", c.Parallel)
	case c.Repeat < 0 || c.Repeat > MaxRepeat:
		return fmt.Errorf("sim: EvalConfig.Repeat: %d is not in [0, %d]", c.Repeat, MaxRepeat)
	}
	return nil
}

// Evaluate simulates scenario s with every configuration of cfgs and
// returns one result per configuration, in order, each with its reference
// figures: the oracle bound, the clairvoyant controller's success rate
// (ClairvoyantSuccessRate, from one run of Clairvoyant shared by all) and
// the strategy's with a perfect forecast (PerfectForecastSuccessRate, a
// second run of the configuration with PerfectForecast set), and the Gap
// they split. With ec.Repeat, every run is repeated and the results are
// the means over the repetitions, with intervals. Runs go ec.Parallel at a
// time.
func Evaluate(ctx context.Context, s *Scenario, cfgs []Config, ec EvalConfig) ([]Result, error) {
	rs, err := EvaluateFamily(ctx, []*Scenario{s}, cfgs, ec)
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// EvaluateFamily is Evaluate over several scenarios, with every run of
// every scenario in one pool: results[i][j] is scenario i's result with
// cfgs[j].
func EvaluateFamily(ctx context.Context, scs []*Scenario, cfgs []Config, ec EvalConfig) ([][]Result, error) {
	if err := ec.validate(); err != nil {
		return nil, err
	}
	if len(cfgs) == 0 {
		return nil, errors.New("sim: no configuration to evaluate")
	}
	for _, s := range scs {
		if err := s.Validate(); err != nil {
			return nil, err
		}
	}
	reps := max(1, ec.Repeat)
	if runs := len(scs) * reps * (1 + 2*len(cfgs)); runs > MaxRuns {
		return nil, fmt.Errorf("sim: EvalConfig.Repeat: %d scenarios × %d repetitions × %d configurations make %d runs, more than %d", len(scs), reps, len(cfgs), runs, MaxRuns)
	}
	// runs[i][k] holds scenario i's repetition k: its clairvoyant result,
	// then per configuration its result and its perfect-forecast result.
	runs := make([][][]Result, len(scs))
	var jobs []func(context.Context) error
	for i, s := range scs {
		runs[i] = make([][]Result, reps)
		for k := range reps {
			sc := s
			if k > 0 {
				sc = s.clone()
				sc.Seed += uint64(k)
			}
			slot := make([]Result, 1+2*len(cfgs))
			runs[i][k] = slot
			jobs = append(jobs, referenceJobs(sc, cfgs, slot, ec.NoReferences)...)
		}
	}
	if err := runJobs(ctx, ec.parallel(), jobs); err != nil {
		return nil, err
	}
	out := make([][]Result, len(scs))
	for i := range scs {
		out[i] = make([]Result, len(cfgs))
		for j := range cfgs {
			reps := make([]Result, len(runs[i]))
			for k, slot := range runs[i] {
				reps[k] = withReferences(slot, j, ec.NoReferences)
			}
			out[i][j] = aggregate(reps)
		}
	}
	return out, nil
}

// referenceJobs returns the runs of one scenario: the clairvoyant into
// slot[0], configuration j into slot[1+2j] and its perfect-forecast run
// into slot[2+2j].
func referenceJobs(sc *Scenario, cfgs []Config, slot []Result, noRefs bool) []func(context.Context) error {
	var jobs []func(context.Context) error
	if !noRefs {
		jobs = append(jobs, func(ctx context.Context) (err error) {
			slot[0], err = Clairvoyant(ctx, sc)
			return err
		})
	}
	for j, cfg := range cfgs {
		jobs = append(jobs, func(ctx context.Context) (err error) {
			start := time.Now()
			slot[1+2*j], err = Run(ctx, sc, cfg)
			slot[1+2*j].Wall = time.Since(start)
			return err
		})
		if noRefs {
			continue
		}
		jobs = append(jobs, func(ctx context.Context) (err error) {
			pf := cfg
			pf.PerfectForecast = true
			slot[2+2*j], err = Run(ctx, sc, pf)
			return err
		})
	}
	return jobs
}

// withReferences returns configuration j's result of slot with its
// reference figures.
func withReferences(slot []Result, j int, noRefs bool) Result {
	r := slot[1+2*j]
	if noRefs {
		return r
	}
	r.ClairvoyantSuccessRate = slot[0].SuccessRate
	r.PerfectForecastSuccessRate = slot[2+2*j].SuccessRate
	r.Gap = gapOf(r)
	return r
}

// runJobs runs jobs, parallel at a time, and returns the first error (the
// other jobs are then canceled, and those not started are not run).
func runJobs(ctx context.Context, parallel int, jobs []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	next := make(chan func(context.Context) error)
	for range min(parallel, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range next {
				if err := job(ctx); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for _, job := range jobs {
		select {
		case next <- job:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrCanceled, context.Cause(ctx))
	}
	return nil
}

// aggregate returns the result of repetitions rs of one run: rs[0] itself
// if there is one; else the counts summed, the rates and latency quantiles
// the means over the repetitions, with 95% Student-t intervals.
func aggregate(rs []Result) Result {
	if len(rs) == 1 {
		return rs[0]
	}
	r := Result{Scenario: rs[0].Scenario, Strategy: rs[0].Strategy, Mode: rs[0].Mode, Repeats: len(rs)}
	pick := func(f func(Result) float64) []float64 {
		xs := make([]float64, len(rs))
		for i, x := range rs {
			xs[i] = f(x)
		}
		return xs
	}
	ci := func(xs []float64) [2]float64 { c, _ := stats.CI95(xs); return c }
	success := pick(func(x Result) float64 { return x.SuccessRate })
	r.SuccessRate, r.SuccessRateCI95 = stats.Mean(success), ci(success)
	r.OracleSuccessRate = stats.Mean(pick(func(x Result) float64 { return x.OracleSuccessRate }))
	if rs[0].Gap != nil {
		cl := pick(func(x Result) float64 { return x.ClairvoyantSuccessRate })
		pf := pick(func(x Result) float64 { return x.PerfectForecastSuccessRate })
		r.ClairvoyantSuccessRate, r.ClairvoyantSuccessRateCI95 = stats.Mean(cl), ci(cl)
		r.PerfectForecastSuccessRate, r.PerfectForecastSuccessRateCI95 = stats.Mean(pf), ci(pf)
		r.Gap = gapOf(r)
	}
	p50 := pick(func(x Result) float64 { return x.Latency.P50 })
	p95 := pick(func(x Result) float64 { return x.Latency.P95 })
	p99 := pick(func(x Result) float64 { return x.Latency.P99 })
	r.Latency = Quantiles{P50: stats.Mean(p50), P95: stats.Mean(p95), P99: stats.Mean(p99)}
	r.LatencyCI95 = &QuantilesCI{P50: ci(p50), P95: ci(p95), P99: ci(p99)}
	for _, x := range rs {
		r.Offered += x.Offered
		r.Served += x.Served
		r.Forwarded += x.Forwarded
		r.Rejected += x.Rejected
		r.Failed += x.Failed
		r.StrategyErrors += x.StrategyErrors
		r.Wall += x.Wall
	}
	r.Nodes = aggregateNodes(rs)
	return r
}

// aggregateNodes sums the per-node counts of repetitions rs; a node's
// success rate is that of the sums, its latency quantiles the means.
func aggregateNodes(rs []Result) []NodeStat {
	nodes := make([]NodeStat, len(rs[0].Nodes))
	for i := range nodes {
		n := &nodes[i]
		n.ID = rs[0].Nodes[i].ID
		for _, x := range rs {
			o := x.Nodes[i]
			n.Offered += o.Offered
			n.Served += o.Served
			n.Forwarded += o.Forwarded
			n.Rejected += o.Rejected
			n.Failed += o.Failed
			n.Latency.P50 += o.Latency.P50 / float64(len(rs))
			n.Latency.P95 += o.Latency.P95 / float64(len(rs))
			n.Latency.P99 += o.Latency.P99 / float64(len(rs))
		}
		n.SuccessRate = Rate(n.Served, n.Offered)
	}
	return nodes
}
