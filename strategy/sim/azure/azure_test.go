package azure

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

const sample = "testdata/sample"

// TestReadSample reads the shipped rows: twelve functions of 1440
// minutes, busiest first, each with its duration and memory, and the
// busiest one's figures as the files hold them.
func TestReadSample(t *testing.T) {
	tr, err := ReadDir(sample, 100)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Minutes != 1440 || len(tr.Functions) != 12 {
		t.Fatalf("%d minutes, %d functions", tr.Minutes, len(tr.Functions))
	}
	for i, f := range tr.Functions {
		if i > 0 && f.Total > tr.Functions[i-1].Total {
			t.Fatalf("function %d (%v) busier than %d", i, f.Total, i-1)
		}
		if f.DurationMs <= 0 || f.MemoryMB <= 0 || len(f.Counts) != 1440 {
			t.Fatalf("function %d: duration %v, memory %v, %d counts", i, f.DurationMs, f.MemoryMB, len(f.Counts))
		}
	}
	top := tr.Functions[0]
	if !strings.HasPrefix(top.Hash, "e80f0c2a") || top.Total != 195064 || top.DurationMs != 7067 || top.MemoryMB != 2079 {
		t.Fatalf("busiest: %.8s, %v invocations, %v ms, %v MB", top.Hash, top.Total, top.DurationMs, top.MemoryMB)
	}
	few, err := ReadDir(sample, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(few.Functions) != 3 || few.Functions[2].Hash != tr.Functions[2].Hash {
		t.Fatalf("top 3: %d functions", len(few.Functions))
	}
}

// published is the published form: other column order, a Trigger column,
// minutes named by number.
const published = `HashOwner,HashApp,HashFunction,Trigger,1,2,3,4
o1,a1,fa,http,0,10,20,10
o1,a1,fb,timer,1,1,1,1
o2,a2,fc,queue,5,5,5,45
`

const publishedDurations = `HashOwner,HashApp,HashFunction,Average,Count
o1,a1,fa,60000,40
o2,a2,fc,600,60
`

// TestPublishedForm reads the published form and builds its scenario,
// checking every mapping rule on numbers worked by hand.
func TestPublishedForm(t *testing.T) {
	tr, err := ReadInvocations(strings.NewReader(published), 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := ReadDurations(strings.NewReader(publishedDurations), tr); err != nil {
		t.Fatal(err)
	}
	if tr.Minutes != 4 || len(tr.Functions) != 3 {
		t.Fatalf("%d minutes, %d functions", tr.Minutes, len(tr.Functions))
	}
	fc, fa, fb := tr.Functions[0], tr.Functions[1], tr.Functions[2]
	if fc.Hash != "fc" || fa.Hash != "fa" || fb.Hash != "fb" || fa.Trigger != "http" || fc.Owner != "o2" {
		t.Fatalf("order or fields: %+v", tr.Functions)
	}
	s, err := tr.Scenario(Config{Nodes: 3, Level: 0.5, Compress: 60, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration.D() != 4*time.Second || len(s.Nodes) != 3 || len(s.Links) != 3 || len(s.Load) != 3 {
		t.Fatalf("scenario %+v", s)
	}
	// fc: 600 ms / 60 = 10 ms, concurrency 4: 400 req/s per node, on n0
	// and n1; mean count 15, so rates = count × 0.5 × 800 / 15.
	got := s.Nodes[0].Functions[0]
	if got.Name != "f00-fc" || got.Capacity != 400 || got.Concurrency != 4 || s.Nodes[1].Functions[0].Name != "f00-fc" {
		t.Fatalf("n0's function %+v", got)
	}
	want := []float64{5 * 400 / 15.0, 5 * 400 / 15.0, 5 * 400 / 15.0, 45 * 400 / 15.0}
	l := s.Load[0]
	for i, r := range l.Rates {
		if math.Abs(r-want[i]) > 1e-3 {
			t.Fatalf("fc's rates %v, want %v", l.Rates, want)
		}
	}
	if l.Node != "n0" || l.Step.D() != time.Second {
		t.Fatalf("fc's load %+v", l)
	}
	// fb has no duration: 1000 ms by default; its load arrives at n2 and
	// it runs on n2 and n0.
	if s.Load[2].Node != "n2" || s.Nodes[2].Functions[len(s.Nodes[2].Functions)-1].Capacity != 4*1000*60/1000.0 {
		t.Fatalf("fb: load %+v, n2 %+v", s.Load[2], s.Nodes[2])
	}
	if _, err := sim.OracleSuccessRate(s), s.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestScenarioWindow: a window with no invocation of a function leaves it
// out; a window with none at all is an error, as are bad configurations.
func TestScenarioWindow(t *testing.T) {
	tr, err := ReadInvocations(strings.NewReader(published), 10)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.Scenario(Config{From: 0, Minutes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Load) != 2 { // fa has no invocation in minute 1
		t.Fatalf("%d loads in minute 1, want 2", len(s.Load))
	}
	for _, cfg := range []Config{
		{Nodes: -1}, {Nodes: 2, Replicas: 3}, {Level: -1}, {From: 4}, {From: 2, Minutes: 3},
		{Compress: 0.5}, {Concurrency: -1}, {MemoryMB: -1}, {RTT: -time.Second}, {Functions: -2},
	} {
		if _, err := tr.Scenario(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	zero, err := ReadInvocations(strings.NewReader("HashOwner,HashApp,HashFunction,1,2\no,a,f,0,0\n"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zero.Scenario(Config{}); err == nil {
		t.Error("a trace without invocations made a scenario")
	}
}

// TestReadErrors: every kind of bad file gets an error naming what is
// wrong, never a panic.
func TestReadErrors(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "empty file"},
		{"no hash column", "HashApp,HashFunction,1\na,f,1\n", `no column "HashOwner"`},
		{"no minutes", "HashOwner,HashApp,HashFunction\no,a,f\n", "no minute columns"},
		{"minute gap", "HashOwner,HashApp,HashFunction,1,3\no,a,f,1,1\n", "minute 2 was due"},
		{"negative count", "HashOwner,HashApp,HashFunction,1\no,a,f,-1\n", `line 2, column "1"`},
		{"NaN count", "HashOwner,HashApp,HashFunction,1\no,a,f,NaN\n", "not a number"},
		{"short row", "HashOwner,HashApp,HashFunction,1,2\no,a,f,1\n", "wrong number of fields"},
		{"no rows", "HashOwner,HashApp,HashFunction,1\n", "no function rows"},
		{"long line", "HashOwner,HashApp,HashFunction,1\n" + strings.Repeat("x", MaxLine+10), "longer than"},
	} {
		_, err := ReadInvocations(strings.NewReader(tt.in), 5)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want ErrInvalid with %q", tt.name, err, tt.want)
		}
	}
	if _, err := ReadInvocations(strings.NewReader(published), 0); err == nil {
		t.Error("top 0 accepted")
	}
	tr, _ := ReadInvocations(strings.NewReader(published), 5)
	if err := ReadDurations(strings.NewReader("HashOwner,HashApp,HashFunction,Average\no1,a1,fa,-5\n"), tr); err == nil {
		t.Error("a negative duration accepted")
	}
	if err := ReadMemory(strings.NewReader("HashOwner,HashApp\no1,a1\n"), tr); err == nil {
		t.Error("a memory file without AverageAllocatedMb accepted")
	}
}

// FuzzReadInvocations: any input gives a trace whose every scenario is
// valid, or an error; never a panic.
func FuzzReadInvocations(f *testing.F) {
	f.Add(published)
	f.Add("HashFunction,HashApp,HashOwner,minute_1,minute_2\nf,a,o,3,4\n")
	f.Add("HashOwner,HashApp,HashFunction,1\n\"o\n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := ReadInvocations(strings.NewReader(in), 3)
		if err != nil {
			return
		}
		if len(tr.Functions) == 0 || len(tr.Functions) > 3 {
			t.Fatalf("%d functions kept of top 3", len(tr.Functions))
		}
		s, err := tr.Scenario(Config{Nodes: 2})
		if err == nil {
			if err := s.Validate(); err != nil {
				t.Fatalf("invalid scenario: %v", err)
			}
		}
	})
}
