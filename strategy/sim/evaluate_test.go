package sim

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const pairScenario = `{"name": "pair", "duration": "60s", "seed": 5,
	"nodes": [{"id": "a", "functions": [{"name": "f", "capacity": 50}]},
	          {"id": "b", "functions": [{"name": "f", "capacity": 50}]}],
	"links": [{"a": "a", "b": "b", "rtt": "5ms"}],
	"load": [{"node": "a", "function": "f", "step": "20s", "rates": [30, 90, 40]},
	         {"node": "b", "function": "f", "rates": [20]}]}`

// TestEvaluate: every result carries the references and a decomposition
// that adds up; with Repeat, the means carry intervals that hold them and
// the counts add up over the runs; the results do not depend on
// Parallel.
func TestEvaluate(t *testing.T) {
	sc := mustParse(t, pairScenario)
	cfgs := []Config{builtin("alllocal"), builtin("flow")}
	one, err := Evaluate(context.Background(), sc, cfgs, EvalConfig{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range one {
		g := r.Gap
		if g == nil || r.ClairvoyantSuccessRate == 0 || r.PerfectForecastSuccessRate == 0 {
			t.Fatalf("%s: no references: %+v", r.Strategy, r)
		}
		if d := r.OracleSuccessRate - r.SuccessRate - g.Granularity - g.Strategy; math.Abs(d) > 1e-12 {
			t.Errorf("%s: oracle - success != granularity + strategy (by %v)", r.Strategy, d)
		}
		if d := g.Strategy - g.Forecasting - g.Coordination; math.Abs(d) > 1e-12 {
			t.Errorf("%s: strategy gap != forecasting + coordination (by %v)", r.Strategy, d)
		}
	}
	if one[0].ClairvoyantSuccessRate != one[1].ClairvoyantSuccessRate {
		t.Error("the strategies do not share the clairvoyant run")
	}
	direct := run(t, sc, "flow")
	if one[1].SuccessRate != direct.SuccessRate || one[1].Offered != direct.Offered {
		t.Errorf("Evaluate's flow %v differs from Run's %v", one[1].SuccessRate, direct.SuccessRate)
	}

	reps, err := Evaluate(context.Background(), sc, cfgs, EvalConfig{Parallel: 2, Repeat: 3})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Evaluate(context.Background(), sc, cfgs, EvalConfig{Parallel: 1, Repeat: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range reps {
		reps[i].Wall, again[i].Wall = 0, 0 // wall-clock time: the one field that may differ
	}
	if !reflect.DeepEqual(reps, again) {
		t.Fatal("results depend on Parallel")
	}
	for j, r := range reps {
		if r.Repeats != 3 {
			t.Fatalf("%s: Repeats %d", r.Strategy, r.Repeats)
		}
		ci := r.SuccessRateCI95
		if !(ci[0] <= r.SuccessRate && r.SuccessRate <= ci[1]) || ci[0] == ci[1] {
			t.Errorf("%s: success %v, interval %v", r.Strategy, r.SuccessRate, ci)
		}
		if r.Offered <= 2*one[j].Offered || r.Offered >= 4*one[j].Offered {
			t.Errorf("%s: offered %d over 3 runs, %d in one", r.Strategy, r.Offered, one[j].Offered)
		}
		var served int64
		for _, n := range r.Nodes {
			served += n.Served
		}
		if served != r.Served {
			t.Errorf("%s: nodes serve %d, the result %d", r.Strategy, served, r.Served)
		}
	}
}

// TestEvaluateErrors: bad configurations are refused with the field named.
func TestEvaluateErrors(t *testing.T) {
	sc := mustParse(t, pairScenario)
	for _, tt := range []struct {
		cfgs []Config
		ec   EvalConfig
		want string
	}{
		{[]Config{builtin("flow")}, EvalConfig{Repeat: -1}, "Repeat"},
		{[]Config{builtin("flow")}, EvalConfig{Repeat: MaxRepeat + 1}, "Repeat"},
		{[]Config{builtin("flow")}, EvalConfig{Parallel: -1}, "Parallel"},
		{nil, EvalConfig{}, "no configuration"},
		{slices.Repeat([]Config{builtin("flow")}, 60), EvalConfig{Repeat: MaxRepeat}, "more than"}, // 1.21 million runs
	} {
		_, err := Evaluate(context.Background(), sc, tt.cfgs, tt.ec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one naming %s", tt.ec, err, tt.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, sc, []Config{builtin("flow")}, EvalConfig{}); err == nil {
		t.Error("a canceled evaluation returned no error")
	}
}

// TestAggregate checks the means, sums and intervals of repetitions on
// numbers worked by hand.
func TestAggregate(t *testing.T) {
	rs := []Result{
		{Strategy: "s", Offered: 100, Served: 90, Rejected: 10, SuccessRate: 0.9, OracleSuccessRate: 1, Latency: Quantiles{P99: 10},
			ClairvoyantSuccessRate: 0.95, PerfectForecastSuccessRate: 0.92, Gap: &Gap{}, Nodes: []NodeStat{{ID: "a", Offered: 100, Served: 90, Rejected: 10}}},
		{Strategy: "s", Offered: 100, Served: 80, Rejected: 20, SuccessRate: 0.8, OracleSuccessRate: 1, Latency: Quantiles{P99: 20},
			ClairvoyantSuccessRate: 0.85, PerfectForecastSuccessRate: 0.84, Gap: &Gap{}, Nodes: []NodeStat{{ID: "a", Offered: 100, Served: 80, Rejected: 20}}},
	}
	r := aggregate(rs)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// Two values 0.9 and 0.8: mean 0.85, s = 0.0707, t(0.975, 1) = 12.706.
	half := 12.7062047 * math.Sqrt(0.005) / math.Sqrt(2)
	switch {
	case r.Repeats != 2 || r.Offered != 200 || r.Served != 170 || r.Rejected != 30:
		t.Fatalf("counts %+v", r)
	case !near(r.SuccessRate, 0.85) || !near(r.ClairvoyantSuccessRate, 0.9) || !near(r.PerfectForecastSuccessRate, 0.88):
		t.Fatalf("means %v %v %v", r.SuccessRate, r.ClairvoyantSuccessRate, r.PerfectForecastSuccessRate)
	case math.Abs(r.SuccessRateCI95[0]-(0.85-half)) > 1e-6 || math.Abs(r.SuccessRateCI95[1]-(0.85+half)) > 1e-6:
		t.Fatalf("interval %v, want 0.85 ± %v", r.SuccessRateCI95, half)
	case !near(r.Latency.P99, 15) || r.LatencyCI95 == nil:
		t.Fatalf("latency %+v, interval %+v", r.Latency, r.LatencyCI95)
	case !near(r.Gap.Granularity, 0.1) || !near(r.Gap.Strategy, 0.05) || !near(r.Gap.Forecasting, 0.03) || !near(r.Gap.Coordination, 0.02):
		t.Fatalf("gap %+v", *r.Gap)
	case len(r.Nodes) != 1 || r.Nodes[0].Served != 170 || !near(r.Nodes[0].SuccessRate, 0.85):
		t.Fatalf("nodes %+v", r.Nodes)
	}
}

// TestFamilyReport checks the distribution and the best counts on results
// made by hand.
func TestFamilyReport(t *testing.T) {
	mk := func(name string, success, clair float64) Result {
		r := Result{Strategy: name, SuccessRate: success, OracleSuccessRate: 1, ClairvoyantSuccessRate: clair, PerfectForecastSuccessRate: success}
		r.Gap = gapOf(r)
		return r
	}
	rows := [][]Result{
		{mk("a", 0.9, 0.95), mk("b", 0.8, 0.95)},
		{mk("a", 0.7, 0.9), mk("b", 0.7, 0.9)},
		{mk("a", 0.5, 1), mk("b", 0.6, 1)},
	}
	f := NewFamilyReport(4, rows)
	if f.Size != 3 || f.Seed != 4 || len(f.Strategies) != 2 {
		t.Fatalf("report %+v", f)
	}
	a, b := f.Strategies[0], f.Strategies[1]
	if a.Best != 2 || b.Best != 2 {
		t.Errorf("best a %d, b %d; want 2 and 2 (a tie counts for both)", a.Best, b.Best)
	}
	if a.OfOracle.Min != 0.5 || a.OfOracle.Median != 0.7 || math.Abs(a.OfClairvoyant.Median-0.7/0.9) > 1e-12 {
		t.Errorf("a: of oracle %+v, of clairvoyant %+v", a.OfOracle, a.OfClairvoyant)
	}
	if f.ClairvoyantOfOracle.Median != 0.95 {
		t.Errorf("clairvoyant of oracle %+v", f.ClairvoyantOfOracle)
	}
	var sb strings.Builder
	if err := f.WriteTable(&sb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"family of 3 scenarios (seed 4)", "success / clairvoyant", "coordination"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}
}
