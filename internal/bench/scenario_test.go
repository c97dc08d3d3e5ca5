package bench

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// threeNodes loads light from the start, mid from 60 s, heavy never.
const threeNodes = `{
  "name": "three", "duration": "180s", "seed": 3,
  "nodes": [
    {"id": "light", "functions": [{"name": "figlet", "capacity": 100}]},
    {"id": "mid", "functions": [{"name": "figlet", "capacity": 100}]},
    {"id": "heavy", "functions": [{"name": "figlet", "capacity": 100}]}
  ],
  "load": [
    {"node": "light", "function": "figlet", "step": "60s", "rates": [10, 20, 30]},
    {"node": "mid", "function": "figlet", "step": "60s", "rates": [0, 50]},
    {"node": "heavy", "function": "figlet", "rates": [0]}
  ]
}`

func loadThree(t *testing.T) *sim.Scenario {
	t.Helper()
	sc, err := sim.ParseScenario([]byte(threeNodes))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestWindow: the window keeps each load's rate at every time of it,
// shifted to 0, on and off the steps.
func TestWindow(t *testing.T) {
	for _, w := range [][2]time.Duration{{0, 30 * time.Second}, {60 * time.Second, 180 * time.Second}, {90 * time.Second, 150 * time.Second},
		{45 * time.Second, 46 * time.Second}, {170 * time.Second, 180 * time.Second}, {59*time.Second + 500*time.Millisecond, 179 * time.Second}} {
		orig := loadThree(t)
		sc := loadThree(t)
		if err := Window(sc, w[0], w[1]); err != nil {
			t.Fatalf("%v: %v", w, err)
		}
		if sc.Duration.D() != w[1]-w[0] {
			t.Errorf("%v: duration %v", w, sc.Duration)
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("%v: windowed scenario invalid: %v", w, err)
		}
		for i, l := range sc.Load {
			for at := time.Duration(0); at < sc.Duration.D(); at += 250 * time.Millisecond {
				if got, want := l.RateAt(at), orig.Load[i].RateAt(w[0]+at); got != want {
					t.Fatalf("%v: load %d at %v: rate %v, want %v (%+v)", w, i, at, got, want, l)
				}
			}
		}
	}
	sc := loadThree(t)
	if err := Window(sc, time.Nanosecond, time.Hour); err == nil || !strings.Contains(err.Error(), "step boundary") {
		t.Errorf("a start 1 ns into a 60 s step: %v", err)
	}
	if err := Window(loadThree(t), 10*time.Second, 10*time.Second); err == nil {
		t.Error("empty window accepted")
	}
}

// TestWindowArrivals: a window has the arrival rate of its part of the
// scenario (mid's load starts at 60 s).
func TestWindowArrivals(t *testing.T) {
	sc := loadThree(t)
	if err := Window(sc, 30*time.Second, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	mid := sc.Load[1]
	var before, after int
	rnd := rand.New(rand.NewPCG(1, 2))
	for at := time.Duration(0); ; {
		next, ok := mid.NextArrival(rnd, at, sc.Duration.D())
		if !ok {
			break
		}
		if next < 30*time.Second {
			before++
		} else {
			after++
		}
		at = next
	}
	if before != 0 || after < 1200 || after > 1800 {
		t.Errorf("mid: %d arrivals before 30 s, %d after (want 0 and about 1500)", before, after)
	}
}

func TestUnloaded(t *testing.T) {
	tests := []struct {
		from, until time.Duration
		want        []string
	}{
		{0, 30 * time.Second, []string{"mid", "heavy"}},
		{0, 180 * time.Second, []string{"heavy"}},
		{60 * time.Second, 120 * time.Second, []string{"heavy"}},
		{59 * time.Second, 61 * time.Second, []string{"heavy"}},
	}
	for _, tt := range tests {
		sc := loadThree(t)
		if err := Window(sc, tt.from, tt.until); err != nil {
			t.Fatal(err)
		}
		if got := Unloaded(sc); !slices.Equal(got, tt.want) {
			t.Errorf("[%v, %v): unloaded %v, want %v", tt.from, tt.until, got, tt.want)
		}
	}
}

// TestPrepare checks the flags' window arithmetic and its errors, and
// that the scenario as run is saved.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "three.json")
	if err := os.WriteFile(path, []byte(threeNodes), 0o644); err != nil {
		t.Fatal(err)
	}
	in := Input{Scenario: path, Load: sim.LoadScenario, From: 60 * time.Second, Duration: 30 * time.Second, Period: time.Second, Save: filepath.Join(dir, "as-run.json")}
	p, err := Prepare(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.From != 60*time.Second || p.Full != 180*time.Second || p.Scenario.Duration.D() != 30*time.Second || p.Scenario.Period.D() != time.Second ||
		!slices.Equal(p.Unloaded, []string{"heavy"}) {
		t.Fatalf("prepared %+v", p)
	}
	saved, err := sim.LoadScenario(in.Save)
	if err != nil || saved.Duration.D() != 30*time.Second || saved.Load[1].RateAt(0) != 50 {
		t.Fatalf("saved scenario %+v: %v", saved, err)
	}
	// --until past the end is cut to the end.
	if p, err := Prepare(Input{Scenario: path, Load: sim.LoadScenario, From: 170 * time.Second, Until: time.Hour}); err != nil || p.Scenario.Duration.D() != 10*time.Second {
		t.Errorf("until past the end: %v %v", p.Scenario, err)
	}
	for _, bad := range []struct {
		in   Input
		want string
	}{
		{Input{From: -time.Second}, "must not be negative"},
		{Input{Until: 10 * time.Second, Duration: 5 * time.Second}, "give one"},
		{Input{From: 180 * time.Second}, "the scenario lasts 3m0s"},
		{Input{From: 20 * time.Second, Until: 10 * time.Second}, "not after --from"},
		{Input{From: 150 * time.Second, Until: 160 * time.Second, Load: func(string) (*sim.Scenario, error) {
			sc := loadThree(t)
			sc.Load = sc.Load[1:] // mid and heavy only; light's load removed
			sc.Load[0].Rates = []float64{0, 0, 0, 50}
			return sc, nil
		}}, "sends no load to any node"},
	} {
		bad.in.Scenario = path
		if bad.in.Load == nil {
			bad.in.Load = sim.LoadScenario
		}
		_, err := Prepare(bad.in)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !usage.Is(err) {
			t.Errorf("%+v: %v, want a usage error mentioning %q", bad.in, err, bad.want)
		}
	}
}

// FuzzWindow: any window of any load either fails with an error or gives
// a valid scenario with the original's rates, with a bounded number of
// rates.
func FuzzWindow(f *testing.F) {
	f.Add(int64(30e9), int64(60e9), int64(60e9), 3)
	f.Add(int64(59500e6), int64(1e9), int64(60e9), 2)
	f.Add(int64(1), int64(1e12), int64(7e9), 100)
	f.Fuzz(func(t *testing.T, from, length, step int64, n int) {
		if from < 0 || length <= 0 || step < int64(time.Millisecond) || n < 1 || n > 1000 || from > int64(sim.MaxDuration) || length > int64(sim.MaxDuration) {
			return
		}
		rates := make([]float64, n)
		for i := range rates {
			rates[i] = float64(i % 7)
		}
		sc := &sim.Scenario{Name: "f", Duration: sim.Duration(from + length), Seed: 1,
			Nodes: []sim.Node{{ID: "a", Functions: []sim.Function{{Name: "f", Capacity: 1}}}},
			Load:  []sim.Load{{Node: "a", Function: "f", Step: sim.Duration(step), Rates: rates}}}
		orig := sc.Load[0]
		if err := Window(sc, time.Duration(from), time.Duration(from+length)); err != nil {
			return
		}
		l := sc.Load[0]
		if len(l.Rates) > MaxWindowRates+1 {
			t.Fatalf("%d rates", len(l.Rates))
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("windowed scenario invalid: %v", err)
		}
		for _, at := range []time.Duration{0, time.Duration(length) / 3, time.Duration(length) - 1} {
			if got, want := l.RateAt(at), orig.RateAt(time.Duration(from)+at); got != want {
				t.Fatalf("at %v: rate %v, want %v", at, got, want)
			}
		}
	})
}

// TestPrepareAzure replays the shipped Azure rows as docs/bench.md's
// example does (busiest functions to two nodes, a minute a second, a
// window from 10:00 on) and checks the scenario as run against the trace:
// the busiest function's count in minute 601 (10:00-10:01) is its rate at
// the window's start.
func TestPrepareAzure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "three.json")
	if err := os.WriteFile(path, []byte(threeNodes), 0o644); err != nil {
		t.Fatal(err)
	}
	trace := "../loadgen/testdata/azure2019/invocations.csv"
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	streams, err := loadgen.ParseAzureTrace(b, 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(Input{Scenario: path, Load: sim.LoadScenario, From: 600 * time.Second, Duration: 60 * time.Second,
		Trace: loadgen.TraceOptions{Path: trace, To: "light/figlet,mid/figlet", Stage: time.Second, Scale: 3}})
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Scenario
	if p.Full != 1440*time.Second || sc.Duration.D() != time.Minute || len(sc.Load) != 2 || sc.Load[1].Node != "mid" {
		t.Fatalf("prepared %v of %v, load %d entries", sc.Duration.D(), p.Full, len(sc.Load))
	}
	for i, at := range []time.Duration{0, 30 * time.Second, 59 * time.Second} {
		want := 3 * streams[0].Rates[600+int(at/time.Second)]
		if got := sc.Load[0].RateAt(at); math.Abs(got-want) > 1e-9 {
			t.Errorf("%d: rate at %v: %v, want %v", i, at, got, want)
		}
	}
	if !slices.Equal(p.Unloaded, []string{"heavy"}) {
		t.Errorf("unloaded %v, want [heavy]", p.Unloaded)
	}
}
