package report

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// testRecords are a few requests at two nodes over three seconds.
func testRecords() []Record {
	ms := time.Millisecond
	return []Record{
		{At: 100 * ms, Node: "a", Function: "figlet", Latency: 20 * ms, Status: 200, Outcome: Served, ServedBy: "a"},
		{At: 300 * ms, Node: "a", Function: "figlet", Latency: 40 * ms, Status: 200, Outcome: Served, ForwardedTo: "b", ServedBy: "b"},
		{At: 900 * ms, Node: "a", Function: "figlet", Latency: 2 * ms, Status: 429, Outcome: Rejected},
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
	ss := Series(testRecords(), []string{"a", "b"}, 3*time.Second)
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
	nodes := []string{"a", "b"}
	bench := Summarize("two", "flow", nodes, recs)
	bench.OracleSuccessRate = 0.9
	simRes := sim.Result{Scenario: "two", Strategy: "flow", Mode: "sim", Offered: 9, Served: 8, Forwarded: 3, Rejected: 1, SuccessRate: 8.0 / 9,
		OracleSuccessRate: 0.9, Latency: sim.Quantiles{P50: 25, P95: 40, P99: 41},
		Nodes: []sim.NodeStat{{ID: "a", Offered: 8, Served: 7, Forwarded: 3, Rejected: 1, SuccessRate: 7.0 / 8}, {ID: "b", Offered: 1, Served: 1, SuccessRate: 1}}}
	other := Summarize("two", "alllocal", nodes, recs[:4])
	other.OracleSuccessRate = 0.9
	return &Report{
		Scenario: "two", Description: "Two nodes.", Duration: 3 * time.Second, ScenarioDuration: 10 * time.Second,
		Period: time.Second, Proxy: "embedded", Network: "loopback", Forecast: "auto", Seed: 7, Nodes: nodes,
		Runs: []Run{
			{Strategy: "flow", Bench: bench, Sim: &simRes, Records: recs, Decisions: testDecisions()},
			{Strategy: "alllocal", Bench: other, Records: recs[:4]},
		},
		Notes: []string{"a note"},
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := Write(dir, testReport()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.md", "results.json", "flow/requests.csv", "flow/series.csv", "flow/decisions.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, filepath.Join("testdata", strings.ReplaceAll(name, "/", "-")+".golden"), b)
	}
	for _, base := range []string{"success", "latency", "flow/rates", "flow/shares", "alllocal/rates"} {
		f, err := os.Open(filepath.Join(dir, base+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s.png: %v", base, err)
		}
		if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
			t.Errorf("%s.png is %v", base, b)
		}
		svg, err := os.ReadFile(filepath.Join(dir, base+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("</svg>")) {
			t.Errorf("%s.svg is not an SVG document", base)
		}
	}
	// A run without decisions has no shares plot, and the report says so.
	if _, err := os.Stat(filepath.Join(dir, "alllocal", "shares.png")); !os.IsNotExist(err) {
		t.Errorf("alllocal/shares.png: %v, want none", err)
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
