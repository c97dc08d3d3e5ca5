package sim

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/golden"
)

// TestBalancedFlow checks the placement of the clairvoyant controller on
// small cases worked by hand: local service first, leveled utilizations,
// a gateway that runs nothing, a region that is full.
func TestBalancedFlow(t *testing.T) {
	tests := []struct {
		name      string
		demand    []float64
		capacity  []float64
		adj       [][]int
		flow      [][]float64
		saturated []bool
	}{
		{"alone, light", []float64{5}, []float64{10}, [][]int{{0}}, [][]float64{{5}}, []bool{false}},
		{"alone, full", []float64{15}, []float64{10}, [][]int{{0}}, [][]float64{{10}}, []bool{true}},
		{"leveled pair", []float64{12, 4}, []float64{10, 10}, [][]int{{0, 1}, {1, 0}},
			[][]float64{{8, 4}, {4, 0}}, []bool{false, false}},
		{"neighbour full, local light", []float64{30, 0}, []float64{10, 10}, [][]int{{0, 1}, {1, 0}},
			[][]float64{{10, 10}, {0, 0}}, []bool{true, false}},
		{"gateway", []float64{20, 0, 0}, []float64{0, 10, 30}, [][]int{{0, 1, 2}, {1, 0}, {2, 0}},
			[][]float64{{0, 5, 15}, {0, 0}, {0, 0}}, []bool{false, false, false}},
		{"not linked", []float64{20, 0}, []float64{10, 10}, [][]int{{0}, {1}},
			[][]float64{{10}, {0}}, []bool{true, false}},
		{"chain: the far node levels too", []float64{0, 0, 27}, []float64{10, 10, 10}, [][]int{{0, 1}, {1, 0, 2}, {2, 1}},
			// node 2 reaches only 1: both at 1.0 is the max flow (20);
			// node 0 reaches no demand.
			[][]float64{{0, 0}, {0, 0, 0}, {10, 10}}, []bool{false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flow, saturated := balancedFlow(tt.demand, tt.capacity, tt.adj)
			for u := range flow {
				for k := range flow[u] {
					if math.Abs(flow[u][k]-tt.flow[u][k]) > 1e-6 {
						t.Fatalf("flow %v, want %v", flow, tt.flow)
					}
				}
			}
			if !slices.Equal(saturated, tt.saturated) {
				t.Fatalf("saturated %v, want %v", saturated, tt.saturated)
			}
		})
	}
}

// TestBalancedFlowIsMaximal checks balancedFlow on random graphs: it is a
// feasible flow (along links, within demands and capacities) as large as
// the oracle's maximum flow, and no node is fuller than it must be (the
// busiest utilization is the smallest a maximum flow allows).
func TestBalancedFlowIsMaximal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 300 {
		n := 1 + rng.IntN(8)
		demand, capacity := make([]float64, n), make([]float64, n)
		adj := make([][]int, n)
		for u := range n {
			adj[u] = []int{u}
			if rng.IntN(3) > 0 {
				demand[u] = float64(rng.IntN(50))
			}
			if rng.IntN(4) > 0 {
				capacity[u] = float64(1 + rng.IntN(40))
			}
		}
		for u := range n {
			for v := u + 1; v < n; v++ {
				if rng.IntN(2) == 0 {
					adj[u], adj[v] = append(adj[u], v), append(adj[v], u)
				}
			}
		}
		flow, _ := balancedFlow(demand, capacity, adj)
		load := make([]float64, n)
		var total float64
		for u := range n {
			var out float64
			for k, v := range adj[u] {
				if flow[u][k] < -1e-9 {
					t.Fatalf("trial %d: negative flow %v", trial, flow)
				}
				out += flow[u][k]
				load[v] += flow[u][k]
			}
			if out > demand[u]+1e-6 {
				t.Fatalf("trial %d: node %d sends %v of a demand %v", trial, u, out, demand[u])
			}
			total += out
		}
		var busiest float64
		for v := range n {
			if load[v] > capacity[v]+1e-6 {
				t.Fatalf("trial %d: node %d serves %v over its capacity %v", trial, v, load[v], capacity[v])
			}
			if capacity[v] > 0 {
				busiest = max(busiest, load[v]/capacity[v])
			}
		}
		want := maxFlow(demand, capacity, adj)
		if math.Abs(total-want) > 1e-6*max(1, want) {
			t.Fatalf("trial %d: flow %v, max flow %v", trial, total, want)
		}
		// At the busiest utilization minus a little, no maximum flow
		// fits: the busiest node is as idle as it can be.
		if busiest > 1e-6 {
			scaled := make([]float64, n)
			for v := range n {
				scaled[v] = capacity[v] * (busiest - 1e-6)
			}
			if maxFlow(demand, scaled, adj) >= want-1e-9 && want > 0 {
				t.Fatalf("trial %d: busiest utilization %v is not the least (demand %v, capacity %v, adj %v, flow %v)", trial, busiest, demand, capacity, adj, flow)
			}
		}
	}
}

// referenceScenarios are the public scenarios (shipped in testdata) the
// clairvoyant controller is checked against.
var referenceScenarios = []string{
	"testbed-1-light-overload", "testbed-2-mid-multi", "testbed-3-three-loaded", "ring-partial",
	"overload-step", "overload-mixed", "overload-uniform",
}

func loadTestdata(t testing.TB, name string) *Scenario {
	t.Helper()
	sc, err := LoadScenario(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestClairvoyantBounds: on the public scenarios the clairvoyant
// controller is never above the fluid oracle (beyond the Poisson noise of
// the arrivals) and never below any built-in strategy by more than noise.
// Noise is three standard deviations of a binomial success count. Under
// the race detector (or -short), every run stops after its first two
// minutes.
func TestClairvoyantBounds(t *testing.T) {
	for _, name := range referenceScenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc := loadTestdata(t, name)
			if raceEnabled || testing.Short() {
				sc.Duration = min(sc.Duration, Duration(2*time.Minute))
			}
			c, err := Clairvoyant(context.Background(), sc)
			if err != nil {
				t.Fatal(err)
			}
			noise := 3 * math.Sqrt(c.SuccessRate*(1-c.SuccessRate)/float64(c.Offered))
			noise = max(noise, 0.002)
			// The run serves what is still queued at its end, which the
			// fluid bound does not count: at most a time-out's worth of
			// every capacity.
			if c.SuccessRate > c.OracleSuccessRate+noise+drain(sc)/float64(c.Offered) {
				t.Errorf("clairvoyant %.4f above the oracle %.4f", c.SuccessRate, c.OracleSuccessRate)
			}
			for _, s := range []string{"alllocal", "static", "recalc", "flow", "nodemargin"} {
				r := run(t, sc, s)
				if r.SuccessRate > c.SuccessRate+noise {
					t.Errorf("%s %.4f beats the clairvoyant %.4f by more than noise (%.4f)", s, r.SuccessRate, c.SuccessRate, noise)
				}
			}
		})
	}
}

// drain returns how many requests the queues of s hold at most at the end
// of a run: every function's capacity times its time-out, plus its
// concurrency.
func drain(s *Scenario) float64 {
	var n float64
	for _, node := range s.Nodes {
		for _, f := range node.Functions {
			timeout := f.Timeout.D()
			if timeout == 0 {
				timeout = DefaultTimeout
			}
			n += f.Capacity*timeout.Seconds() + float64(max(f.Concurrency, DefaultConcurrency))
		}
	}
	return n
}

// TestClairvoyantSimple: where a period-level controller loses nothing
// (constant loads, ample queues), the clairvoyant controller reaches the
// oracle, and it serves everything a federation with enough capacity can
// while alllocal cannot.
func TestClairvoyantSimple(t *testing.T) {
	sc := mustParse(t, `{"name": "pair", "duration": "120s", "seed": 3,
		"nodes": [{"id": "a", "functions": [{"name": "f", "capacity": 50}]},
		          {"id": "b", "functions": [{"name": "f", "capacity": 50}]}],
		"links": [{"a": "a", "b": "b", "rtt": "5ms"}],
		"load": [{"node": "a", "function": "f", "rates": [60]}, {"node": "b", "function": "f", "rates": [10]}]}`)
	c, err := Clairvoyant(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if c.OracleSuccessRate != 1 || c.SuccessRate < 0.995 {
		t.Fatalf("clairvoyant %.4f, oracle %.4f; want both about 1", c.SuccessRate, c.OracleSuccessRate)
	}
	if c.Forwarded == 0 {
		t.Fatal("the clairvoyant controller forwarded nothing")
	}
	if a := run(t, sc, "alllocal"); a.SuccessRate > 0.9 {
		t.Fatalf("alllocal %.4f: the case does not need forwarding", a.SuccessRate)
	}
	for _, s := range []string{"alllocal", "static", "recalc", "flow", "nodemargin"} {
		if r := run(t, sc, s); r.SuccessRate > c.SuccessRate {
			t.Errorf("%s %.4f beats the clairvoyant %.4f", s, r.SuccessRate, c.SuccessRate)
		}
	}
}

// TestClairvoyantGolden pins the clairvoyant controller's result on a
// public scenario (the run is deterministic): a change to the controller
// or the engine shows here. Rewrite with -update (or UPDATE_GOLDEN=1)
// after checking the change is meant.
func TestClairvoyantGolden(t *testing.T) {
	sc := loadTestdata(t, "testbed-2-mid-multi")
	c, err := Clairvoyant(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes = nil
	got, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "golden", "clairvoyant-testbed-2.json"), append(got, '\n'))
}

// TestPerfectForecast: with a perfect forecast, a strategy sees the coming
// period's true rate, so on a load that steps at period boundaries it
// loses nothing to forecasting: it does at least as well as with the
// default forecast (the last period's rate), beyond noise.
func TestPerfectForecast(t *testing.T) {
	sc := loadTestdata(t, "overload-step")
	plain := run(t, sc, "flow")
	cfg := builtin("flow")
	cfg.PerfectForecast = true
	pf, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	noise := max(0.002, 3*math.Sqrt(plain.SuccessRate*(1-plain.SuccessRate)/float64(plain.Offered)))
	if pf.SuccessRate < plain.SuccessRate-noise {
		t.Fatalf("flow with a perfect forecast %.4f, with the last rate %.4f", pf.SuccessRate, plain.SuccessRate)
	}
}
