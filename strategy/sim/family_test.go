package sim

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestFamilyDeterministic: a member depends on the seed and its index
// alone, not on the family's size; another seed gives other federations.
func TestFamilyDeterministic(t *testing.T) {
	small, err := GenerateFamily(FamilyConfig{Size: 3, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	large, err := GenerateFamily(FamilyConfig{Size: 10, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	for i := range small {
		if !reflect.DeepEqual(small[i], large[i]) {
			t.Fatalf("member %d differs between families of 3 and 10", i)
		}
	}
	other, err := GenerateFamily(FamilyConfig{Size: 3, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range small {
		if reflect.DeepEqual(small[i].Nodes, other[i].Nodes) && reflect.DeepEqual(small[i].Load, other[i].Load) {
			t.Fatalf("member %d is the same with seeds 7 and 8", i)
		}
	}
}

// TestFamilyBounds checks, over many members, every bound the generator
// documents: node count, topologies, functions never deployed everywhere,
// a star's gateway running nothing, loads only where a host is in reach,
// and each function's mean load between 0.4 and 1.3 of its capacity.
func TestFamilyBounds(t *testing.T) {
	const size = 200
	scs, err := GenerateFamily(FamilyConfig{Size: size, Seed: 1, Duration: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	topologies := map[string]int{}
	for i, s := range scs {
		if err := s.Validate(); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if n := len(s.Nodes); n < 4 || n > 16 {
			t.Fatalf("member %d: %d nodes", i, n)
		}
		if s.Duration.D() != 60*time.Second || s.Period.D() != DefaultPeriod {
			t.Fatalf("member %d: duration %v, period %v", i, s.Duration.D(), s.Period.D())
		}
		for _, topo := range familyTopologies {
			if containsWord(s.Description, topo) {
				topologies[topo]++
			}
		}
		fns := s.Functions()
		if len(fns) < 1 || len(fns) > 3 {
			t.Fatalf("member %d: %d functions", i, len(fns))
		}
		for _, fn := range fns {
			checkFamilyFunction(t, i, s, fn)
		}
	}
	for _, topo := range familyTopologies {
		if topologies[topo] < size/10 {
			t.Errorf("topology %s in %d of %d members", topo, topologies[topo], size)
		}
	}
}

func containsWord(s, w string) bool {
	return slices.Contains(splitWords(s), w)
}

func splitWords(s string) []string {
	var ws []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' || s[i] == ',' || s[i] == ':' {
			if i > start {
				ws = append(ws, s[start:i])
			}
			start = i + 1
		}
	}
	return ws
}

// checkFamilyFunction checks one function of family member i.
func checkFamilyFunction(t *testing.T, i int, s *Scenario, fn string) {
	t.Helper()
	idx := map[string]int{}
	for k, n := range s.Nodes {
		idx[n.ID] = k
	}
	runs := make([]bool, len(s.Nodes))
	var capacity float64
	hosts := 0
	for k, n := range s.Nodes {
		for _, f := range n.Functions {
			if f.Name != fn {
				continue
			}
			if f.Capacity < 20 || f.Capacity > 200 || f.Concurrency < 2 || f.Concurrency > 16 {
				t.Fatalf("member %d, %s on %s: capacity %v, concurrency %d", i, fn, n.ID, f.Capacity, f.Concurrency)
			}
			runs[k] = true
			capacity += f.Capacity
			hosts++
		}
	}
	if hosts == 0 || hosts == len(s.Nodes) {
		t.Fatalf("member %d: %s on %d of %d nodes", i, fn, hosts, len(s.Nodes))
	}
	reach := slices.Clone(runs)
	for _, l := range s.Links {
		a, b := idx[l.A], idx[l.B]
		reach[a] = reach[a] || runs[b]
		reach[b] = reach[b] || runs[a]
	}
	var requests float64
	for _, l := range s.Load {
		if l.Function != fn {
			continue
		}
		if !reach[idx[l.Node]] {
			t.Fatalf("member %d: load of %s on %s, which reaches no node running it", i, fn, l.Node)
		}
		requests += l.integral(0, s.Duration.D())
	}
	level := requests / s.Duration.D().Seconds() / capacity
	if level < 0.4-0.01 || level > 1.3+0.01 || math.IsNaN(level) {
		t.Fatalf("member %d: %s's load is %.3f of its capacity", i, fn, level)
	}
}

// TestFamilyConfigErrors: out-of-range sizes and durations are refused.
func TestFamilyConfigErrors(t *testing.T) {
	for _, cfg := range []FamilyConfig{
		{Size: 0},
		{Size: -1},
		{Size: MaxFamily + 1},
		{Size: 1, Duration: time.Millisecond},
		{Size: 1, Duration: 25 * time.Hour},
		{Size: 1, Period: -time.Second},
		{Size: 1, Period: time.Microsecond},
	} {
		if _, err := GenerateFamily(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
