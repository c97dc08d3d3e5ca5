package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// keep, if set, is where TestWrite writes its report, to look at its
// figures.
var keep = flag.String("keep", "", "write TestWrite's report into this `directory`, to look at its figures")

// testRecords are a few requests at two nodes over three seconds.
func testRecords() []Record {
	ms := time.Millisecond
	return []Record{
		{At: 100 * ms, Node: "a", Function: "figlet", Latency: 20 * ms, Status: 200, Outcome: Served, ServedBy: "a"},
		{At: 300 * ms, Node: "a", Function: "figlet", Latency: 40 * ms, Status: 200, Outcome: Served, ForwardedTo: "b", ServedBy: "b"},
		{At: 900 * ms, Node: "a", Function: "figlet", Latency: 2 * ms, Status: 429, Outcome: Rejected, Reason: "policy"},
		{At: 1500 * ms, Node: "b", Function: "figlet", Latency: 10 * ms, Status: 200, Outcome: Served, ServedBy: "b"},
		{At: 1600 * ms, Node: "a", Function: "figlet", Latency: 1000 * ms, Status: 503, Outcome: Failed},
		{At: 2100 * ms, Node: "a", Function: "figlet", Latency: 3 * ms, Outcome: Failed, Error: "connection refused, \"quoted\""},
		{At: 2500 * ms, Node: "a", Function: "figlet", Latency: 30 * ms, Status: 200, Outcome: Served, ForwardedTo: "b", ServedBy: "b"},
		{At: 3500 * ms, Node: "a", Function: "figlet", Latency: 30 * ms, Status: 200, Outcome: Served}, // after the load: left out of series
		{At: 500 * ms, Node: "x", Function: "figlet", Status: 200, Outcome: Served},                    // unknown node: left out
	}
}

func testDecisions() []Decision {
	return []Decision{
		{At: 0, Node: "a", Function: "figlet", Local: 1},
		{At: 1200 * time.Millisecond, Node: "a", Function: "figlet", Local: 0.5, Reject: 0.1, Forward: []Share{{"b", 0.4}}, LocalLimit: 90},
		{At: 0, Node: "b", Function: "figlet", Local: 0.98, Forward: []Share{{"a", 0.02}}},
	}
}

func TestSummarize(t *testing.T) {
	r := Summarize("s", "flow", []string{"a", "b"}, testRecords())
	if r.Mode != "bench" || r.Offered != 8 || r.Served != 5 || r.Forwarded != 2 || r.Rejected != 1 || r.Failed != 2 {
		t.Fatalf("totals %+v", r)
	}
	if r.Offered != r.Served+r.Rejected+r.Failed {
		t.Fatalf("offered %d != served+rejected+failed", r.Offered)
	}
	if len(r.Nodes) != 2 || r.Nodes[0].ID != "a" || r.Nodes[0].Offered != 7 || r.Nodes[1].Offered != 1 || r.Nodes[1].SuccessRate != 1 {
		t.Fatalf("nodes %+v", r.Nodes)
	}
	if want := 4.0 / 7; r.Nodes[0].SuccessRate != want {
		t.Fatalf("a success %v, want %v", r.Nodes[0].SuccessRate, want)
	}
	// Latency quantiles are of served requests only.
	if r.Latency.P99 != 40 || r.Latency.P50 != 30 {
		t.Fatalf("latency %+v", r.Latency)
	}
}

func TestSeries(t *testing.T) {
	ss := Series(testRecords(), NewRoutes(testDecisions()), []string{"a", "b"}, 3*time.Second)
	if len(ss) != 6 {
		t.Fatalf("%d seconds, want 6", len(ss))
	}
	tests := []struct {
		i                                                 int
		node                                              string
		t                                                 int
		offered, servedLocal, forwarded, rejected, failed int64
	}{
		{0, "a", 0, 3, 1, 1, 1, 0},
		{1, "a", 1, 1, 0, 0, 0, 1},
		{2, "a", 2, 2, 0, 1, 0, 1},
		{3, "b", 0, 0, 0, 0, 0, 0},
		{4, "b", 1, 1, 1, 0, 0, 0},
	}
	for _, tt := range tests {
		s := ss[tt.i]
		if s.Node != tt.node || s.T != tt.t || s.Offered != tt.offered || s.ServedLocal != tt.servedLocal || s.Forwarded != tt.forwarded ||
			s.Rejected != tt.rejected || s.Failed != tt.failed {
			t.Errorf("second %d: %+v, want %+v", tt.i, s, tt)
		}
	}
	if ss[3].ServedForOthers != 1 || ss[5].ServedForOthers != 1 || ss[0].ServedForOthers != 0 {
		t.Errorf("served for neighbours: b at 0 %d, b at 2 %d, a at 0 %d; want 1, 1, 0", ss[3].ServedForOthers, ss[5].ServedForOthers, ss[0].ServedForOthers)
	}
	if ss[0].Latency.P50 != 20 || ss[0].Latency.P99 != 40 {
		t.Errorf("latency of a at 0: %+v", ss[0].Latency)
	}
}

func testReport() *Report {
	recs := testRecords()
	nodes := []string{"a", "b", "c"} // c has no load: n/a
	bench := Summarize("two", "flow", nodes, recs)
	bench.OracleSuccessRate = 0.9
	simRes := sim.Result{Scenario: "two", Strategy: "flow", Mode: "sim", Offered: 9, Served: 8, Forwarded: 3, Rejected: 1, SuccessRate: 8.0 / 9,
		OracleSuccessRate: 0.9, Latency: sim.Quantiles{P50: 25, P95: 40, P99: 41},
		Nodes: []sim.NodeStat{{ID: "a", Offered: 8, Served: 7, Forwarded: 3, Rejected: 1, SuccessRate: 7.0 / 8}, {ID: "b", Offered: 1, Served: 1, SuccessRate: 1},
			{ID: "c", SuccessRate: 1}}}
	other := Summarize("two", "alllocal", nodes, recs[:4])
	other.OracleSuccessRate = 0.9
	return &Report{
		Scenario: "two", Description: "Two nodes.", Duration: 3 * time.Second, ScenarioDuration: 10 * time.Second,
		Period: time.Second, Proxy: "embedded", Network: "loopback", Forecast: "auto", Seed: 7, Nodes: nodes,
		Runs: []Run{
			{Strategy: "flow", Seed: 7, Bench: bench, Sim: &simRes, Records: recs, Decisions: testDecisions(),
				SimLatencies: []time.Duration{15 * time.Millisecond, 25 * time.Millisecond, 30 * time.Millisecond, 40 * time.Millisecond},
				SimSeries:    []SimPeriod{{Node: "a", From: 0, To: time.Second, Offered: 3, ServedLocal: 1, Forwarded: 1, Rejected: 1}, {Node: "a", From: time.Second, To: 2 * time.Second, Offered: 1, Failed: 1}}},
			{Strategy: "alllocal", Seed: 7, Bench: other, Records: recs[:4]},
		},
		Unloaded: []string{"c"},
		Notes:    []string{"a note"},
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if *keep != "" {
		dir = *keep
	}
	if err := Write(dir, testReport()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.md", "results.json", "flow/requests.csv", "flow/series.csv", "flow/decisions.csv", "flow/sim-series.csv", "flow/sim-latency.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, filepath.Join("testdata", strings.ReplaceAll(name, "/", "-")+".golden"), b)
	}
	checkFigures(t, dir, "strategies", "success", "latency", "flow/rates", "flow/outcomes", "flow/shares", "alllocal/rates", "alllocal/outcomes")
	// The latency figure has the simulator's distribution dashed beside
	// the bench's.
	if svg, _ := os.ReadFile(filepath.Join(dir, "latency.svg")); !bytes.Contains(svg, []byte("stroke-dasharray")) {
		t.Error("latency.svg has no dashed (simulator) line")
	}
	// A run without decisions has no shares plot, and the report says so.
	if _, err := os.Stat(filepath.Join(dir, "alllocal", "shares.png")); !os.IsNotExist(err) {
		t.Errorf("alllocal/shares.png: %v, want none", err)
	}
}

// checkFigures checks that each figure was written as a PNG, an SVG and a
// PDF document.
func checkFigures(t *testing.T, dir string, bases ...string) {
	t.Helper()
	for _, base := range bases {
		f, err := os.Open(filepath.Join(dir, base+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s.png: %v", base, err)
		}
		if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 300 {
			t.Errorf("%s.png is %v", base, b)
		}
		svg, err := os.ReadFile(filepath.Join(dir, base+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("</svg>")) {
			t.Errorf("%s.svg is not an SVG document", base)
		}
		pdf, err := os.ReadFile(filepath.Join(dir, base+".pdf"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(pdf, []byte("%PDF-")) || !bytes.Contains(pdf, []byte("%%EOF")) {
			t.Errorf("%s.pdf is not a PDF document", base)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	r := testReport()
	r.Runs[0].Strategy = "../escape"
	if err := Write(dir, r); err == nil || !strings.Contains(err.Error(), "../escape") {
		t.Errorf("bad strategy name: %v", err)
	}
	if err := Write(dir, &Report{}); err == nil {
		t.Error("empty report accepted")
	}
	// A run that served nothing still gets a report, without a latency plot.
	r = testReport()
	for i := range r.Runs {
		r.Runs[i].Records = []Record{{At: 0, Node: "a", Function: "f", Outcome: Failed}}
		r.Runs[i].Bench = Summarize("two", r.Runs[i].Strategy, r.Nodes, r.Runs[i].Records)
	}
	if err := Write(filepath.Join(dir, "nothing"), r); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing", "latency.png")); !os.IsNotExist(err) {
		t.Errorf("latency.png with nothing served: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "nothing", "report.md"))
	if bytes.Contains(md, []byte("latency.png")) {
		t.Error("report links a latency plot that was not drawn")
	}
}

func TestClassify(t *testing.T) {
	routes := NewRoutes([]Decision{
		{At: 0, Node: "a", Function: "f", Local: 1, LocalLimit: 50},
		{At: 10 * time.Second, Node: "a", Function: "f", Local: 0.8, Reject: 0.2},
		{At: 20 * time.Second, Node: "a", Function: "f", Local: 0.98, Forward: []Share{{"b", 0.02}}, LocalLimit: 80},
	})
	s := time.Second
	tests := []struct {
		rec  Record
		want Class
	}{
		{Record{At: s, Node: "a", Function: "f", Outcome: Served}, ServedLocally},
		{Record{At: s, Node: "a", Function: "f", Outcome: Served, ForwardedTo: "b"}, ServedByNeighbour},
		// A policy refusal under a route with no reject share but a
		// local limit is the local limit's.
		{Record{At: 5 * s, Node: "a", Function: "f", Outcome: Rejected, Reason: "policy"}, RejectedLocalLimit},
		{Record{At: 15 * s, Node: "a", Function: "f", Outcome: Rejected, Reason: "policy"}, RejectedPolicy},
		// Before any decision, and for another function: policy.
		{Record{At: -s, Node: "a", Function: "f", Outcome: Rejected, Reason: "policy"}, RejectedPolicy},
		{Record{At: 5 * s, Node: "a", Function: "g", Outcome: Rejected, Reason: "policy"}, RejectedPolicy},
		// The overflow of a local limit into a 2 % forward share, refused
		// by the neighbour: admission.
		{Record{At: 25 * s, Node: "a", Function: "f", Outcome: Rejected, Reason: "admission", ForwardedTo: "b"}, RejectedAdmission},
		{Record{At: 25 * s, Node: "a", Function: "f", Outcome: Rejected, Reason: "no-route"}, RejectedOther},
		{Record{At: 25 * s, Node: "a", Function: "f", Outcome: Rejected}, RejectedOther},
		{Record{At: 25 * s, Node: "a", Function: "f", Outcome: Failed, ForwardedTo: "b"}, FailedClass},
	}
	for _, tt := range tests {
		if got := routes.Classify(tt.rec); got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.rec, got, tt.want)
		}
	}
	if d, ok := routes.At("a", "f", 10*s); !ok || d.Reject != 0.2 {
		t.Errorf("route at 10 s: %+v %v", d, ok)
	}
}

// TestSeriesClasses: the classes of a node's second add up to its
// offered requests.
func TestSeriesClasses(t *testing.T) {
	for _, s := range Series(testRecords(), NewRoutes(testDecisions()), []string{"a", "b"}, 3*time.Second) {
		var sum int64
		for _, v := range s.ByClass {
			sum += v
		}
		if sum != s.Offered {
			t.Errorf("%s at %d: classes add up to %d, offered %d", s.Node, s.T, sum, s.Offered)
		}
	}
}

// TestAggregate: counts add up, rates and quantiles are means over the
// runs with their intervals, and a node offered nothing has no rate.
func TestAggregate(t *testing.T) {
	run := func(served int64, p99 float64) sim.Result {
		return sim.Result{Scenario: "s", Strategy: "flow", Mode: "bench", Offered: 100, Served: served, Failed: 100 - served,
			SuccessRate: float64(served) / 100, Latency: sim.Quantiles{P50: 10, P95: 20, P99: p99},
			Nodes: []sim.NodeStat{{ID: "a", Offered: 100, Served: served, Failed: 100 - served, SuccessRate: float64(served) / 100}, {ID: "b", SuccessRate: 1}}}
	}
	res := Aggregate([]sim.Result{run(96, 100), run(97, 110), run(98, 120)}, []uint64{7, 8, 9}, 0)
	if res.Offered != 300 || res.Served != 291 || res.Repeats != 3 || res.Run != 0 || len(res.Seeds) != 3 {
		t.Fatalf("totals %+v", res)
	}
	if math.Abs(res.SuccessRate-0.97) > 1e-12 || res.SuccessRateCI95 == nil ||
		math.Abs(res.SuccessRateCI95[0]-0.945159) > 1e-6 || math.Abs(res.SuccessRateCI95[1]-0.994841) > 1e-6 {
		t.Fatalf("success %v %v", res.SuccessRate, res.SuccessRateCI95)
	}
	// p99: 110 ± 4.302653·10/√3.
	if res.Latency.P99 != 110 || res.LatencyCI95 == nil || math.Abs(res.LatencyCI95.P99[1]-110-24.841377) > 1e-5 || res.LatencyCI95.P50 != (Interval{10, 10}) {
		t.Fatalf("latency %+v %+v", res.Latency, res.LatencyCI95)
	}
	a, b := res.Nodes[0], res.Nodes[1]
	if a.NA() || math.Abs(*a.SuccessRate-0.97) > 1e-12 || a.SuccessRateCI95 == nil || !b.NA() || b.SuccessRateCI95 != nil {
		t.Fatalf("nodes %+v", res.Nodes)
	}
	// Two runs far apart: t(1) = 12.706205 makes 0.5 ± 6.23 and
	// 100 ± 635.31 ms (se 50), clipped to [0, 1] and [0, 735.31].
	wide := Aggregate([]sim.Result{run(1, 50), run(99, 150)}, []uint64{1, 2}, 0)
	if *wide.SuccessRateCI95 != (Interval{0, 1}) || *wide.Nodes[0].SuccessRateCI95 != (Interval{0, 1}) ||
		wide.LatencyCI95.P99[0] != 0 || math.Abs(wide.LatencyCI95.P99[1]-100-635.3102) > 1e-3 {
		t.Fatalf("wide intervals not clipped: %v %v %+v", wide.SuccessRateCI95, wide.Nodes[0].SuccessRateCI95, wide.LatencyCI95)
	}
	one := RunResult(run(96, 100), 2, 8)
	if one.Run != 2 || *one.Seed != 8 || one.SuccessRateCI95 != nil || one.LatencyCI95 != nil || one.SuccessRate != 0.96 || one.Nodes[0].SuccessRateCI95 != nil {
		t.Fatalf("single run %+v", one)
	}
}

// TestResultJSON: the intervals are [low, high] arrays, a node offered
// nothing has success_rate null, and the fields of the shared result
// object stay (a MarshalJSON on sim.Result would hide ours).
func TestResultJSON(t *testing.T) {
	r := sim.Result{Scenario: "s", Strategy: "flow", Mode: "bench", Offered: 10, Served: 9, SuccessRate: 0.9, OracleSuccessRate: 1,
		Nodes: []sim.NodeStat{{ID: "a", Offered: 10, Served: 9, SuccessRate: 0.9}, {ID: "b", SuccessRate: 1}}}
	b, err := json.Marshal(Aggregate([]sim.Result{r, r}, []uint64{1, 2}, 0))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if ci, ok := got["success_rate_ci95"].([]any); !ok || len(ci) != 2 || ci[0] != 0.9 {
		t.Errorf("success_rate_ci95 %v in %s", got["success_rate_ci95"], b)
	}
	if lat, ok := got["latency_ms_ci95"].(map[string]any); !ok || lat["p99"] == nil {
		t.Errorf("latency_ms_ci95 %v", got["latency_ms_ci95"])
	}
	for _, k := range []string{"scenario", "mode", "offered", "oracle_success_rate", "repeats", "seeds"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	nodes := got["nodes"].([]any)
	if v, ok := nodes[1].(map[string]any)["success_rate"]; !ok || v != nil {
		t.Errorf("node offered nothing: success_rate %v (present %v), want null", v, ok)
	}
	if v := nodes[0].(map[string]any)["success_rate"]; v != 0.9 {
		t.Errorf("node a: success_rate %v", v)
	}
}
