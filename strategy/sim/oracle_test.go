package sim

import (
	"math"
	"testing"
)

func TestMaxFlow(t *testing.T) {
	line := [][]int{{0, 1}, {1, 0, 2}, {2, 1}} // a - b - c
	tests := []struct {
		name             string
		demand, capacity []float64
		adj              [][]int
		want             float64
	}{
		{"local only", []float64{150, 0, 0}, []float64{100, 0, 0}, [][]int{{0}, {1}, {2}}, 100},
		{"one hop", []float64{150, 0, 0}, []float64{100, 100, 0}, line, 150},
		{"not two hops", []float64{150, 0, 0}, []float64{100, 0, 100}, line, 100},
		{"shared neighbour", []float64{100, 0, 100}, []float64{50, 60, 50}, line, 160},
		{"augmenting path", []float64{0, 100, 50}, []float64{60, 50, 40}, line, 150},
		{"nothing offered", []float64{0, 0, 0}, []float64{1, 1, 1}, line, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maxFlow(tt.demand, tt.capacity, tt.adj); math.Abs(got-tt.want) > 1e-6 {
				t.Fatalf("maxFlow = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOracleSuccessRate(t *testing.T) {
	s, err := ParseScenario([]byte(`{"name": "o", "duration": "100s",
		"nodes": [{"id": "a", "functions": [{"name": "f", "capacity": 100}]},
		          {"id": "b", "functions": [{"name": "f", "capacity": 50}, {"name": "g", "capacity": 10}]},
		          {"id": "c", "functions": []}],
		"links": [{"a": "a", "b": "b", "rtt": "1ms"}],
		"load": [{"node": "a", "function": "f", "step": "50s", "rates": [100, 200]},
		         {"node": "c", "function": "f", "rates": [10]},
		         {"node": "a", "function": "g", "rates": [20]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// f: 100 then 200 at a with 150 reachable: 5000 + 7500 served of
	// 15000; c is not linked: its 1000 are lost. g: a reaches b's 10 of
	// 20: 1000 of 2000.
	want := (5000 + 7500 + 1000) / (15000 + 1000 + 2000.0)
	if got := OracleSuccessRate(s); math.Abs(got-want) > 1e-9 {
		t.Fatalf("OracleSuccessRate = %v, want %v", got, want)
	}
	for _, name := range []string{"testbed-1-light-overload", "testbed-2-mid-multi", "testbed-3-three-loaded"} {
		s, err := LoadScenario("testdata/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		// The README: the federation has enough capacity at every moment.
		if got := OracleSuccessRate(s); got != 1 {
			t.Errorf("%s: oracle %v, want 1", name, got)
		}
	}
}
