package strategy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/strategy"
)

// sequence is a hand-written sequence of snapshots of one node
// (testdata/sequences/*.json).
type sequence struct {
	Description string `json:"description"`
	Self        strategy.NodeID
	Period      duration `json:"period"`
	Steps       []step   `json:"steps"`
}

type step struct {
	Functions  []function         `json:"functions"`
	Neighbours []neighbour        `json:"neighbours"`
	Resources  strategy.Resources `json:"resources"`
	Advice     json.RawMessage    `json:"advice"`
}

type function struct {
	Name           string   `json:"name"`
	Deployed       bool     `json:"deployed"`
	Capacity       float64  `json:"capacity"`
	Concurrency    int      `json:"concurrency"`
	Offered        float64  `json:"offered"`
	Forecast       *float64 `json:"forecast"`
	Local          float64  `json:"local"`
	FromNeighbours float64  `json:"from_neighbours"`
	Forwarded      float64  `json:"forwarded"`
	Rejected       float64  `json:"rejected"`
	Failed         float64  `json:"failed"`
	Latency        duration `json:"latency"`
}

type neighbour struct {
	ID       strategy.NodeID       `json:"id"`
	Age      duration              `json:"age"`
	RTT      duration              `json:"rtt"`
	Announce strategy.Announcement `json:"announce"`
}

type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = duration(v)
	return err
}

func loadSequence(t *testing.T, path string) sequence {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var seq sequence
	if err := dec.Decode(&seq); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return seq
}

// snapshot builds the snapshot of step k, given the decision in force.
func (seq sequence) snapshot(k int, prev strategy.Decision) strategy.Snapshot {
	st := seq.Steps[k]
	s := strategy.Snapshot{
		Self:      seq.Self,
		Now:       time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(k) * time.Duration(seq.Period)),
		Period:    time.Duration(seq.Period),
		Seed:      uint64(k),
		Resources: st.Resources,
		Prev:      prev,
		Advice:    st.Advice,
	}
	for _, f := range st.Functions {
		fc := f.Offered
		if f.Forecast != nil {
			fc = *f.Forecast
		}
		replicas := 0
		if f.Deployed {
			replicas = 1
		}
		s.Functions = append(s.Functions, strategy.Function{
			Name: f.Name, Deployed: f.Deployed, Capacity: f.Capacity, Concurrency: f.Concurrency, Replicas: replicas,
			Offered: f.Offered, Forecast: fc, Local: f.Local, FromNeighbours: f.FromNeighbours,
			Forwarded: f.Forwarded, Rejected: f.Rejected, Failed: f.Failed, Latency: time.Duration(f.Latency),
		})
	}
	for _, n := range st.Neighbours {
		s.Neighbours = append(s.Neighbours, strategy.Neighbour{ID: n.ID, Age: time.Duration(n.Age), RTT: time.Duration(n.RTT), Announcement: n.Announce.Clone()})
	}
	return s
}

// TestGoldenDecisions pins every built-in strategy's decisions on the
// hand-written snapshot sequences in testdata/sequences. Run with -update
// to rewrite testdata/golden after a deliberate change, and review the
// diff.
func TestGoldenDecisions(t *testing.T) {
	paths, err := filepath.Glob("testdata/sequences/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sequences: %v", err)
	}
	reg := strategy.Builtin()
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			seq := loadSequence(t, path)
			got := map[string][]strategy.Decision{}
			for _, sname := range reg.Names() {
				st, err := reg.New(sname, nil)
				if err != nil {
					t.Fatal(err)
				}
				var prev strategy.Decision
				for k := range seq.Steps {
					s := seq.snapshot(k, prev)
					if err := s.Validate(); err != nil {
						t.Fatalf("step %d: %v", k, err)
					}
					d, err := st.Decide(s)
					if err != nil {
						t.Fatalf("%s: step %d: %v", sname, k, err)
					}
					if err := d.Validate(s); err != nil {
						t.Fatalf("%s: step %d: %v", sname, k, err)
					}
					got[sname] = append(got[sname], d)
					prev = d.Clone()
				}
			}
			b, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			golden.Check(t, filepath.Join("testdata", "golden", name+".golden"), b)
		})
	}
}
