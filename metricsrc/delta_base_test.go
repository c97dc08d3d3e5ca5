package metricsrc

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestDeltaNonZeroBase: every rate of a window is the difference from the
// window's earlier reading, not from zero: each counter, the neighbours'
// counts, the mean latency (the latency of the window's own requests, not
// of all requests so far) and the node's CPU and power. The earlier
// reading is never zero here, so that a rate which ignores it is wrong.
func TestDeltaNonZeroBase(t *testing.T) {
	base := Totals{
		Functions: []FunctionTotals{{Name: "f", Offered: 100, Local: 60, FromNeighbours: 10, Forwarded: 30, Rejected: 8, Failed: 2,
			LatencySeconds: 6, LatencyCount: 60, // mean 100 ms so far
			Neighbours: []NeighbourTotals{{ID: "b", Forwarded: 20, Received: 4}, {ID: "c", Forwarded: 10, Received: 6}}}},
		Node: NodeTotals{CPUSeconds: 10, CPUCores: 4, Memory: 1e9, MemoryTotal: 4e9, EnergyJoules: 100},
	}
	cur := Totals{
		Functions: []FunctionTotals{{Name: "f", Offered: 140, Local: 80, FromNeighbours: 18, Forwarded: 48, Rejected: 12, Failed: 6,
			LatencySeconds: 16, LatencyCount: 80, // 20 requests in the window took 10 s: 500 ms each
			Neighbours: []NeighbourTotals{{ID: "b", Forwarded: 32, Received: 8}, {ID: "c", Forwarded: 16, Received: 10}, {ID: "d", Forwarded: 4}}},
			{Name: "g", Offered: 8}},
		Node: NodeTotals{CPUSeconds: 18, CPUCores: 4, Memory: 2e9, MemoryTotal: 4e9, EnergyJoules: 140},
	}
	withLatency := func(sum float64, n uint64) Totals {
		c := cur
		c.Functions = []FunctionTotals{cur.Functions[0]}
		c.Functions[0].LatencySeconds, c.Functions[0].LatencyCount = sum, n
		return c
	}
	tests := []struct {
		name    string
		cur     Totals
		latency time.Duration
		want    Sample // nil Functions: only the latency is checked
	}{
		{"every rate over the window", cur, 500 * time.Millisecond, Sample{Functions: []FunctionRates{
			{Name: "f", Offered: 10, Local: 5, FromNeighbours: 2, Forwarded: 4.5, Rejected: 1, Failed: 1, Latency: 500 * time.Millisecond,
				Neighbours: []NeighbourRates{{ID: "b", Forwarded: 3, Received: 1}, {ID: "c", Forwarded: 1.5, Received: 1}, {ID: "d", Forwarded: 1}}},
			{Name: "g", Offered: 2}},
			Node: NodeUsage{CPU: 2, CPUCores: 4, Memory: 2e9, MemoryTotal: 4e9, Power: 10}}},
		{"no request in the window: no latency", withLatency(6, 60), 0, Sample{}},
		{"latency count reset: the new process's requests", withLatency(2, 10), 200 * time.Millisecond, Sample{}},
		{"latency sum went down: the new process's sum", withLatency(1, 70), 100 * time.Millisecond, Sample{}},
	}
	t0 := time.Unix(1000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTotals{t: base}
			d := NewDelta(ft)
			if _, err := d.Sample(context.Background(), t0, 4*time.Second); err != nil {
				t.Fatal(err)
			}
			ft.t = tt.cur
			s, err := d.Sample(context.Background(), t0.Add(4*time.Second), 4*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if s.Window != 4*time.Second {
				t.Fatalf("window %v, want 4s", s.Window)
			}
			if got := s.Functions[0].Latency; got != tt.latency {
				t.Errorf("latency %v, want %v", got, tt.latency)
			}
			if tt.want.Functions != nil {
				s.Time, s.Window = time.Time{}, 0
				if !reflect.DeepEqual(s, tt.want) {
					t.Errorf("sample\n got %+v\nwant %+v", s, tt.want)
				}
			}
		})
	}
}
