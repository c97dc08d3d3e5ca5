package metricsrc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeTotals returns the totals set on it.
type fakeTotals struct {
	t   Totals
	err error
}

func (f *fakeTotals) Totals(context.Context) (Totals, error) { return f.t, f.err }

func TestDeltaRatesOverWindow(t *testing.T) {
	ctx := context.Background()
	ft := &fakeTotals{}
	d := NewDelta(ft)
	t0 := time.Unix(0, 0)
	set := func(offered, local uint64, latSum float64, latN uint64, cpu float64) {
		ft.t = Totals{Functions: []FunctionTotals{{Name: "f", Offered: offered, Local: local, LatencySeconds: latSum, LatencyCount: latN,
			Neighbours: []NeighbourTotals{{ID: "b", Forwarded: offered - local}}}}, Node: NodeTotals{CPUSeconds: cpu, CPUCores: 2}}
	}
	set(0, 0, 0, 0, 0)
	s, err := d.Sample(ctx, t0, 5*time.Second)
	if err != nil || s.Window != 0 || s.Functions[0].Offered != 0 {
		t.Fatalf("first sample %+v %v", s, err)
	}
	set(100, 80, 8, 80, 5) // after 5 s
	s, _ = d.Sample(ctx, t0.Add(5*time.Second), 5*time.Second)
	f := s.Functions[0]
	if s.Window != 5*time.Second || f.Offered != 20 || f.Local != 16 || f.Latency != 100*time.Millisecond || s.Node.CPU != 1 {
		t.Fatalf("sample %+v", s)
	}
	if f.Neighbours[0].Forwarded != 4 {
		t.Fatalf("forwarded to b %v, want 4", f.Neighbours[0].Forwarded)
	}
	// Sampled more often than the window: the rate still covers the window.
	set(110, 90, 9, 90, 6) // at 6 s
	d.Sample(ctx, t0.Add(6*time.Second), 5*time.Second)
	set(200, 160, 16, 160, 10) // at 10 s
	s, _ = d.Sample(ctx, t0.Add(10*time.Second), 5*time.Second)
	if s.Window != 5*time.Second || s.Functions[0].Offered != 20 {
		t.Fatalf("window %v offered %v, want 5s and 20", s.Window, s.Functions[0].Offered)
	}
	// A counter reset (process restart) counts from zero, never negative.
	set(10, 10, 1, 10, 0)
	s, _ = d.Sample(ctx, t0.Add(15*time.Second), 5*time.Second)
	if s.Functions[0].Offered != 2 || s.Node.CPU != 0 {
		t.Fatalf("after reset: %+v", s)
	}
	ft.err = errors.New("down")
	if _, err := d.Sample(ctx, t0.Add(20*time.Second), 5*time.Second); !errors.Is(err, ft.err) {
		t.Fatalf("error not wrapped: %v", err)
	}
	if _, err := d.Sample(ctx, t0, -1); err == nil {
		t.Fatal("negative window accepted")
	}
}

func TestDeltaBoundedHistory(t *testing.T) {
	d := NewDelta(&fakeTotals{})
	t0 := time.Unix(0, 0)
	for i := range 1000 {
		d.Sample(context.Background(), t0.Add(time.Duration(i)*time.Millisecond), time.Hour)
	}
	if len(d.readings) > maxReadings {
		t.Fatalf("%d readings kept, limit %d", len(d.readings), maxReadings)
	}
}

func TestCounters(t *testing.T) {
	c := NewCounters()
	fc := c.Function("f")
	fc.Offered.Add(3)
	fc.AddForwarded("b")
	fc.AddReceived("c")
	fc.ObserveLatency(time.Second)
	if c.Function("f") != fc {
		t.Fatal("Function made a second set of counters")
	}
	tot, err := c.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ft := tot.Functions[0]
	if ft.Offered != 3 || ft.Forwarded != 1 || ft.FromNeighbours != 1 || ft.LatencySeconds != 1 || len(ft.Neighbours) != 2 {
		t.Fatalf("%+v", ft)
	}
}

// TestDeltaJitteredPeriod: a caller sampling every window, whose timer fires
// a little early or late, gets rates over one window, never two.
func TestDeltaJitteredPeriod(t *testing.T) {
	ctx := context.Background()
	ft := &fakeTotals{}
	d := NewDelta(ft)
	t0 := time.Unix(0, 0)
	at := t0
	for i, jitter := range []time.Duration{0, 3 * time.Millisecond, -2 * time.Millisecond, time.Millisecond, -time.Millisecond} {
		at = t0.Add(time.Duration(i)*5*time.Second + jitter)
		ft.t = Totals{Functions: []FunctionTotals{{Name: "f", Offered: uint64(100 * i)}}}
		s, err := d.Sample(ctx, at, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue
		}
		if s.Window > 5*time.Second+10*time.Millisecond || s.Window < 5*time.Second-10*time.Millisecond {
			t.Fatalf("sample %d: window %v, want about 5s", i, s.Window)
		}
	}
}
