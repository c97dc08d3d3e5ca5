package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

func builtin(name string) Config {
	reg := strategy.Builtin()
	return Config{Strategy: name, New: func() (strategy.Strategy, error) { return reg.New(name, nil) }}
}

func mustParse(t testing.TB, s string) *Scenario {
	t.Helper()
	sc, err := ParseScenario([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func run(t testing.TB, sc *Scenario, name string) Result {
	t.Helper()
	r, err := Run(context.Background(), sc, builtin(name))
	if err != nil {
		t.Fatal(err)
	}
	if r.StrategyErrors != 0 {
		t.Fatalf("%s on %s: %d strategy errors", name, sc.Name, r.StrategyErrors)
	}
	for _, n := range r.Nodes {
		if n.Offered != n.Served+n.Rejected+n.Failed {
			t.Fatalf("%s on %s, node %s: offered %d != served %d + rejected %d + failed %d", name, sc.Name, n.ID, n.Offered, n.Served, n.Rejected, n.Failed)
		}
	}
	return r
}

// TestQueueModel checks the function model against queueing theory: an
// M/M/10 queue at half load has (nearly) no wait, so latencies are the
// exponential service times of mean Concurrency/Capacity.
func TestQueueModel(t *testing.T) {
	sc := mustParse(t, `{"name": "mmk", "duration": "400s", "seed": 7,
		"nodes": [{"id": "a", "functions": [{"name": "f", "capacity": 100, "concurrency": 10}]}],
		"load": [{"node": "a", "function": "f", "rates": [50]}]}`)
	r := run(t, sc, "alllocal")
	if math.Abs(float64(r.Offered)-50*400) > 4*math.Sqrt(50*400) {
		t.Fatalf("offered %d, want about %d (Poisson)", r.Offered, 50*400)
	}
	if r.Served != r.Offered {
		t.Fatalf("served %d of %d at half load", r.Served, r.Offered)
	}
	// Exponential with mean 100 ms: median 69.3 ms, 99th percentile 460.5 ms.
	if math.Abs(r.Latency.P50-69.3) > 0.05*69.3 || math.Abs(r.Latency.P99-460.5) > 0.08*460.5 {
		t.Fatalf("latency %+v, want p50 ≈ 69.3 ms and p99 ≈ 460.5 ms", r.Latency)
	}
}

// TestOverloadTimesOut checks that an overloaded function without a queue
// cap serves its capacity and the queue time-out sheds the rest.
func TestOverloadTimesOut(t *testing.T) {
	sc := mustParse(t, `{"name": "over", "duration": "200s", "queue_depth": -1,
		"nodes": [{"id": "a", "functions": [{"name": "f", "capacity": 100}]}],
		"load": [{"node": "a", "function": "f", "rates": [200]}]}`)
	r := run(t, sc, "alllocal")
	if math.Abs(float64(r.Served)-100*200) > 0.03*100*200 {
		t.Fatalf("served %d, want about %d", r.Served, 100*200)
	}
	if r.Failed < r.Offered/3 || r.Rejected != 0 {
		t.Fatalf("failed %d, rejected %d of %d", r.Failed, r.Rejected, r.Offered)
	}
	if r.Latency.P99 < 1000 {
		t.Fatalf("p99 %v ms: queues should wait up to the 1 s time-out", r.Latency.P99)
	}
}

// TestQueueCap checks that the queue cap (the default depth, 4 waiting
// requests per concurrency slot) refuses what would find the queue full,
// at once, so that what is served waits at most about depth × the mean
// service time (100 ms here; the service time's own p99 is 460.5 ms),
// while the capacity is still served. Without the cap the p99 exceeds
// 1,000 ms (TestOverloadTimesOut).
func TestQueueCap(t *testing.T) {
	for _, tc := range []struct {
		depth string
		want  float64 // bound on the p99, ms
	}{
		{"", 950},  // 40 waiting at 100 req/s: ≤ 0.4 s, plus the service time
		{"1", 650}, // 10 waiting: ≤ 0.1 s
	} {
		field := ""
		if tc.depth != "" {
			field = `"queue_depth": ` + tc.depth + `,`
		}
		sc := mustParse(t, `{"name": "over", "duration": "200s", `+field+`
			"nodes": [{"id": "a", "functions": [{"name": "f", "capacity": 100}]}],
			"load": [{"node": "a", "function": "f", "rates": [200]}]}`)
		r := run(t, sc, "alllocal")
		if math.Abs(float64(r.Served)-100*200) > 0.03*100*200 {
			t.Errorf("depth %q: served %d, want about %d", tc.depth, r.Served, 100*200)
		}
		if r.Rejected < r.Offered/3 || r.Failed != 0 {
			t.Errorf("depth %q: rejected %d, failed %d of %d: want the excess refused at the cap, none timed out", tc.depth, r.Rejected, r.Failed, r.Offered)
		}
		if r.Latency.P99 > tc.want {
			t.Errorf("depth %q: p99 %v ms, want at most %v", tc.depth, r.Latency.P99, tc.want)
		}
	}
}

// TestForwardingAddsRTT checks that a forwarded request pays the link's
// round trip.
func TestForwardingAddsRTT(t *testing.T) {
	sc := mustParse(t, `{"name": "rtt", "duration": "60s",
		"nodes": [{"id": "a", "functions": []}, {"id": "b", "functions": [{"name": "f", "capacity": 1000, "concurrency": 100}]}],
		"links": [{"a": "a", "b": "b", "rtt": "100ms"}],
		"load": [{"node": "a", "function": "f", "rates": [20]}]}`)
	// Without the trust caps: a neighbour without a record is held to a
	// third of the requests at the onset until its first answers come
	// back (2 of 1,231 lost here), which is not what this test measures.
	cfg := builtin("alllocal")
	cfg.Trust.Off = true
	r, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Served != r.Offered || r.Forwarded != r.Offered {
		t.Fatalf("served %d, forwarded %d of %d", r.Served, r.Forwarded, r.Offered)
	}
	// Service: exponential of mean 100 ms, plus 100 ms of RTT.
	if r.Latency.P50 < 150 || r.Latency.P50 > 190 {
		t.Fatalf("p50 %v ms, want 100 ms RTT + 69 ms median service", r.Latency.P50)
	}
	if r.Nodes[0].Offered != r.Offered || r.Nodes[1].Offered != 0 {
		t.Fatalf("requests not attributed to the node where they arrived: %+v", r.Nodes)
	}
}

// TestDeterministic checks that a run is a function of its inputs, and that
// strategies see the same arrivals.
func TestDeterministic(t *testing.T) {
	sc, err := LoadScenario("testdata/ring-partial.json")
	if err != nil {
		t.Fatal(err)
	}
	a, b := run(t, sc, "flow"), run(t, sc, "flow")
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs of the same scenario and strategy differ")
	}
	if c := run(t, sc, "static"); c.Offered != a.Offered {
		t.Fatalf("static saw %d requests, flow %d: arrivals depend on the strategy", c.Offered, a.Offered)
	}
	sc.Seed++
	if d := run(t, sc, "flow"); d.Offered == a.Offered && d.Served == a.Served {
		t.Fatal("the seed changes nothing")
	}
}

func TestRunCanceled(t *testing.T) {
	sc, err := LoadScenario("testdata/testbed-3-three-loaded.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, sc, builtin("flow")); !errors.Is(err, ErrCanceled) {
		t.Fatalf("err = %v, want ErrCanceled", err)
	}
}

// TestObserveSeesAgentSnapshots checks that strategies get valid
// snapshots built from counters over the period, with neighbours heard
// half an RTT after they announced.
func TestObserveSeesAgentSnapshots(t *testing.T) {
	sc, err := LoadScenario("testdata/testbed-1-light-overload.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := builtin("recalc")
	var cycles, withLoad int
	cfg.Observe = func(s strategy.Snapshot, d strategy.Decision, err error) {
		cycles++
		if err != nil {
			t.Errorf("cycle error: %v", err)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("invalid snapshot: %v", err)
		}
		if s.Self == "light" && s.Now.After(wallClock(10e9)) {
			f, _ := s.Function("figlet")
			if math.Abs(f.Offered-250) > 25 {
				t.Errorf("light observed %v req/s offered at %v, want about 250", f.Offered, s.Now)
			}
			withLoad++
		}
		if len(s.Neighbours) != 2 && s.Now.After(wallClock(0)) {
			t.Errorf("%s sees %d neighbours", s.Self, len(s.Neighbours))
		}
	}
	if _, err := Run(context.Background(), sc, cfg); err != nil {
		t.Fatal(err)
	}
	// 3 nodes, 300 s of 5 s periods, plus the warm-up.
	if cycles < 3*60 || withLoad < 55 {
		t.Fatalf("%d cycles, %d of light under load", cycles, withLoad)
	}
}

// TestCPUUsage checks the simulated node_exporter: a node's CPU usage is
// NodeCores times the utilization of its function's servers, which at a
// rate r of capacity c is r/c.
func TestCPUUsage(t *testing.T) {
	sc, err := LoadScenario("testdata/overload-unloaded.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := builtin("alllocal")
	cpu, want := map[strategy.NodeID]float64{}, map[strategy.NodeID]float64{}
	cfg.Observe = func(s strategy.Snapshot, _ strategy.Decision, _ error) {
		if s.Resources.CPUCores != NodeCores {
			t.Errorf("%s: %v cores, want %d", s.Self, s.Resources.CPUCores, NodeCores)
		}
		f, _ := s.Function("figlet")
		if f.Local > 0 {
			cpu[s.Self] += s.Resources.CPU
			want[s.Self] += NodeCores * f.Local / f.Capacity
		}
	}
	if _, err := Run(context.Background(), sc, cfg); err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		if got := cpu[id]; math.Abs(got-w) > 0.05*w {
			t.Errorf("%s: CPU usage sums to %.1f over the run, want %.1f (4 × utilization)", id, got, w)
		}
	}
	if len(want) != 3 {
		t.Fatalf("%d nodes had load", len(want))
	}
}

// noResources hides the node's resource usage from a strategy.
type noResources struct{ strategy.Strategy }

func (n noResources) Decide(s strategy.Snapshot) (strategy.Decision, error) {
	s.Resources = strategy.Resources{}
	return n.Strategy.Decide(s)
}

// TestNodeMarginUsesResources checks that Node Margin decides on the CPU
// usage the simulator measures (through its learned resource model), not
// only on the stated capacities: hiding the usage changes its decisions.
func TestNodeMarginUsesResources(t *testing.T) {
	sc, err := LoadScenario("testdata/testbed-3-three-loaded.json")
	if err != nil {
		t.Fatal(err)
	}
	with := run(t, sc, "nodemargin")
	cfg := builtin("nodemargin")
	inner := cfg.New
	cfg.New = func() (strategy.Strategy, error) {
		st, err := inner()
		return noResources{st}, err
	}
	without, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if with.Forwarded == without.Forwarded && with.Served == without.Served {
		t.Fatalf("nodemargin forwards %d and serves %d with and without resource usage: the usage is not used", with.Forwarded, with.Served)
	}
	// Config.NoResources is the same as hiding the usage.
	cfg = builtin("nodemargin")
	cfg.NoResources = true
	none, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if none.Forwarded != without.Forwarded || none.Served != without.Served {
		t.Fatalf("with NoResources: forwarded %d, served %d; with the usage hidden: %d, %d", none.Forwarded, none.Served, without.Forwarded, without.Served)
	}
}

// TestConfigErrors checks that a bad configuration is an error, not a
// panic.
func TestConfigErrors(t *testing.T) {
	sc := mustParse(t, minimal)
	if _, err := Run(context.Background(), sc, Config{}); err == nil {
		t.Error("no strategy accepted")
	}
	_, err := Run(context.Background(), sc, Config{New: func() (strategy.Strategy, error) { return nil, errors.New("nope") }})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("err = %v", err)
	}
	bad := *sc
	bad.Name = ""
	if _, err := Run(context.Background(), &bad, builtin("flow")); !errors.Is(err, ErrInvalidScenario) {
		t.Errorf("err = %v, want ErrInvalidScenario", err)
	}
}

// TestFailingStrategyKeepsDecision checks the agent's fail-static
// behaviour: a strategy that panics or returns garbage is counted, and the
// decision in force stays.
func TestFailingStrategyKeepsDecision(t *testing.T) {
	sc := mustParse(t, minimal)
	for name, st := range map[string]strategy.Func{
		"panic": func(strategy.Snapshot) (strategy.Decision, error) { panic("boom") },
		"invalid": func(strategy.Snapshot) (strategy.Decision, error) {
			return strategy.Decision{Routes: []strategy.Route{{Function: "f", Local: 2}}}, nil
		},
	} {
		r, err := Run(context.Background(), sc, Config{Strategy: name, New: func() (strategy.Strategy, error) { return st, nil }})
		if err != nil {
			t.Fatal(err)
		}
		if r.StrategyErrors == 0 || r.Served != r.Offered {
			t.Errorf("%s: %d strategy errors, served %d of %d", name, r.StrategyErrors, r.Served, r.Offered)
		}
	}
}

func TestGenerate(t *testing.T) {
	sc, err := Generate(GenerateConfig{Nodes: 50, Degree: 4, Rate: 100, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	deg := map[string]int{}
	for _, l := range sc.Links {
		deg[l.A]++
		deg[l.B]++
	}
	for _, n := range sc.Nodes {
		if deg[n.ID] != 4 {
			t.Fatalf("node %s has %d links, want 4", n.ID, deg[n.ID])
		}
	}
	if got := sc.OfferedRequests(); math.Abs(got-50*100*120) > 1e-6*got {
		t.Fatalf("offered %v, want %v", got, 50*100*120)
	}
	again, _ := Generate(GenerateConfig{Nodes: 50, Degree: 4, Rate: 100, Seed: 3})
	if !reflect.DeepEqual(sc, again) {
		t.Fatal("Generate is not deterministic")
	}
	for _, bad := range []GenerateConfig{{Nodes: 1}, {Nodes: 5, Degree: 3}, {Nodes: 4, Degree: 4}, {Nodes: 10, Rate: -1}} {
		if _, err := Generate(bad); err == nil {
			t.Errorf("Generate(%+v) accepted", bad)
		}
	}
}

// The default strategy's claims on the public scenarios (docs/strategies.md).
const defaultStrategy = "flow"

// TestDefaultStrategyOnScenarios checks the claims of the issue on every
// public scenario: the default strategy reaches 0.98 of the oracle, is no
// worse than alllocal on any node by more than 0.02, and beats the
// original's measured success rates on the testbed scenarios. The margin
// is thin on ring-partial (0.981; docs/evaluation.md), so a change to flow
// that slows a relay through its ring fails here.
func TestDefaultStrategyOnScenarios(t *testing.T) {
	// The success rates the original prototype measured on its testbed
	// (the scenarios README): the better of Node Margin and the maxrate
	// strategy.
	originalSuccess := map[string]float64{
		"testbed-1-light-overload": 0.9763,
		"testbed-2-mid-multi":      0.9954,
		"testbed-3-three-loaded":   0.9544,
	}
	for _, name := range []string{"ring-partial", "testbed-1-light-overload", "testbed-2-mid-multi", "testbed-3-three-loaded"} {
		t.Run(name, func(t *testing.T) {
			sc, err := LoadScenario("testdata/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			r, base := run(t, sc, defaultStrategy), run(t, sc, "alllocal")
			const bar = 0.98
			if ratio := r.SuccessRate / r.OracleSuccessRate; ratio < bar {
				t.Errorf("success %.4f is %.4f of the oracle %.4f, want at least %v", r.SuccessRate, ratio, r.OracleSuccessRate, bar)
			}
			for i, n := range r.Nodes {
				if b := base.Nodes[i]; n.SuccessRate < b.SuccessRate-0.02 {
					t.Errorf("node %s: success %.4f, alllocal %.4f", n.ID, n.SuccessRate, b.SuccessRate)
				}
			}
			if want, ok := originalSuccess[name]; ok && r.SuccessRate <= want {
				t.Errorf("success %.4f does not beat the original's %.4f", r.SuccessRate, want)
			}
		})
	}
}

// TestOverloadLatency checks that when the load exceeds the capacity the
// default strategy sheds it by rejecting, so that the requests it serves
// keep a p99 latency within twice that of an unloaded run, where queues
// that time out (alllocal) do not.
func TestOverloadLatency(t *testing.T) {
	load := func(name string) *Scenario {
		sc, err := LoadScenario("testdata/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	unloaded := run(t, load("overload-unloaded"), defaultStrategy)
	for _, name := range []string{"overload-uniform", "overload-mixed", "overload-step"} {
		sc := load(name)
		r, base := run(t, sc, defaultStrategy), run(t, sc, "alllocal")
		if r.Latency.P99 > 2*unloaded.Latency.P99 {
			t.Errorf("%s: p99 %v ms, more than twice the unloaded %v ms", name, r.Latency.P99, unloaded.Latency.P99)
		}
		if base.Latency.P99 <= 2*unloaded.Latency.P99 {
			t.Errorf("%s: alllocal's p99 %v ms is within twice the unloaded %v ms: the test does not discriminate", name, base.Latency.P99, unloaded.Latency.P99)
		}
		if r.Rejected == 0 || r.Failed > r.Offered/100 {
			t.Errorf("%s: rejected %d, failed %d of %d: load should be shed by rejecting", name, r.Rejected, r.Failed, r.Offered)
		}
	}
}

// BenchmarkRun measures the simulator's cost per request on generated
// federations of growing size (ns/request; compare the sizes with each
// other, within one run).
func BenchmarkRun(b *testing.B) {
	for _, nodes := range []int{50, 500, 2000} { // the README quotes 500 and 2000
		sc, err := Generate(GenerateConfig{Nodes: nodes, Duration: 20 * time.Second, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			var requests int64
			for b.Loop() {
				r, err := Run(context.Background(), sc, builtin("flow"))
				if err != nil {
					b.Fatal(err)
				}
				requests += r.Offered
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(requests), "ns/request")
		})
	}
}

// TestServedHook checks that Config.Served sees every served request once,
// at the node where it arrived, with the latencies the result's quantiles
// are read from (RTT included).
func TestServedHook(t *testing.T) {
	sc := mustParse(t, `{"name": "rtt", "duration": "30s",
		"nodes": [{"id": "a", "functions": []}, {"id": "b", "functions": [{"name": "f", "capacity": 1000, "concurrency": 100}]}],
		"links": [{"a": "a", "b": "b", "rtt": "100ms"}],
		"load": [{"node": "a", "function": "f", "rates": [20]}, {"node": "b", "function": "f", "rates": [10]}]}`)
	cfg := builtin("alllocal")
	count := map[string]int64{}
	var fromA []time.Duration
	cfg.Served = func(node string, lat time.Duration) {
		count[node]++
		if node == "a" {
			fromA = append(fromA, lat)
		}
	}
	r, err := Run(context.Background(), sc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range r.Nodes {
		if count[n.ID] != n.Served {
			t.Errorf("node %s: %d calls, %d served", n.ID, count[n.ID], n.Served)
		}
	}
	slices.Sort(fromA)
	if len(fromA) == 0 || fromA[0] < 100*time.Millisecond {
		t.Fatalf("a request forwarded over a 100 ms link took %v", fromA[:min(1, len(fromA))])
	}
	// The histogram's quantile is within 1.6% of the exact one.
	p50 := float64(fromA[(len(fromA)+1)/2-1]) / 1e6
	if got := r.Nodes[0].Latency.P50; math.Abs(got-p50) > 0.02*p50 {
		t.Errorf("node a p50 %v ms from the result, %v ms from the hook", got, p50)
	}
}
