package metricsrc

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func names(t *testing.T, c *Counters) []string {
	t.Helper()
	tot, err := c.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range tot.Functions {
		out = append(out, fmt.Sprintf("%s=%d", f.Name, f.Offered))
	}
	return out
}

func TestRetain(t *testing.T) {
	c := NewCounters()
	t0 := time.Unix(1000, 0)
	const linger = time.Minute
	steps := []struct {
		name   string
		at     time.Duration
		retain []string
		count  []string // functions to count one offered request for, after Retain
		want   []string
	}{
		{"made for the routed functions", 0, []string{"a", "b"}, []string{"a", "b"}, []string{"a=1", "b=1"}},
		{"b left: retired, still reported", 1 * time.Second, []string{"a"}, []string{"b"}, []string{"a=1", "b=2"}},
		{"kept until linger has passed", 30 * time.Second, []string{"a"}, nil, []string{"a=1", "b=2"}},
		{"removed at the first Retain after linger", 61 * time.Second, []string{"a"}, nil, []string{"a=1"}},
		{"routed again after removal: from zero", 62 * time.Second, []string{"a", "b"}, []string{"b"}, []string{"a=1", "b=1"}},
		{"retired again", 63 * time.Second, []string{"a"}, nil, []string{"a=1", "b=1"}},
		{"routed again before removal: keeps its counts", 64 * time.Second, []string{"a", "b"}, []string{"b"}, []string{"a=1", "b=2"}},
		{"nothing routed", 70 * time.Second, nil, nil, []string{"a=1", "b=2"}},
		{"all removed", 200 * time.Second, nil, nil, nil},
	}
	for _, s := range steps {
		c.Retain(s.retain, t0.Add(s.at), linger)
		for _, fn := range s.count {
			c.fns[fn].Offered.Add(1)
		}
		if got := names(t, c); !slices.Equal(got, s.want) {
			t.Fatalf("%s: totals %v, want %v", s.name, got, s.want)
		}
	}
}

func TestFunctionRestoresRetired(t *testing.T) {
	c := NewCounters()
	t0 := time.Unix(0, 0)
	c.Retain([]string{"a"}, t0, time.Second)
	c.Function("a").Offered.Add(3)
	c.Retain(nil, t0, time.Second)
	c.Function("a") // restored: not removed below
	c.Retain(nil, t0.Add(time.Hour), time.Second)
	if got := names(t, c); !slices.Equal(got, []string{"a=3"}) {
		t.Fatalf("totals %v", got)
	}
}

func TestOtherIsNotReported(t *testing.T) {
	c := NewCounters()
	for range 1000 {
		c.Other().Offered.Add(1)
	}
	if got := names(t, c); len(got) != 0 || c.Len() != 0 {
		t.Fatalf("totals %v", got)
	}
	if ot := c.Other().Totals(); ot.Offered != 1000 || ot.Name != "" {
		t.Fatalf("other %+v", ot)
	}
}

// TestRetiredCountsReachDelta checks the rule's promise: a reader sampling
// at least once per linger sees every request of a function that left the
// routing state, including those counted after it left.
func TestRetiredCountsReachDelta(t *testing.T) {
	ctx := context.Background()
	c := NewCounters()
	d := NewDelta(c)
	t0 := time.Unix(0, 0)
	const period, linger = 5 * time.Second, 15 * time.Second
	c.Retain([]string{"a", "b"}, t0, linger)
	fb := c.Function("b") // held by requests in flight, as a proxy does
	d.Sample(ctx, t0, period)
	var sum float64
	for i := 1; i <= 8; i++ {
		now := t0.Add(time.Duration(i) * period)
		if i <= 3 {
			fb.Offered.Add(10) // b leaves at period 2; requests in flight still count at 3
		}
		routed := []string{"a"}
		if i < 2 {
			routed = append(routed, "b")
		}
		c.Retain(routed, now, linger)
		s, err := d.Sample(ctx, now, period)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := s.Function("b"); ok {
			sum += r.Offered * s.Window.Seconds()
		}
	}
	if sum != 30 {
		t.Fatalf("Delta saw %v of b's 30 requests", sum)
	}
	if c.Len() != 1 {
		t.Fatalf("%d functions with counters, want 1", c.Len())
	}
}
