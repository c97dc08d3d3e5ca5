package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	var all []time.Duration
	for range 100_000 {
		d := time.Duration(rng.ExpFloat64() * float64(80*time.Millisecond))
		h.add(d)
		all = append(all, d)
	}
	exact := QuantilesOf(slices.Clone(all))
	got := h.quantiles()
	for _, q := range [][2]float64{{got.P50, exact.P50}, {got.P95, exact.P95}, {got.P99, exact.P99}} {
		if math.Abs(q[0]-q[1]) > 0.016*q[1]+0.001 {
			t.Errorf("histogram quantile %v ms, exact %v ms: more than 1.6%% off", q[0], q[1])
		}
	}
	var empty histogram
	if empty.quantiles() != (Quantiles{}) {
		t.Error("empty histogram has quantiles")
	}
	// Every bucket's midpoint falls back in the bucket.
	for i := range histBuckets - 1 {
		if j := histIndex(time.Duration(histValue(i)) * time.Microsecond); j != i {
			t.Fatalf("bucket %d: midpoint %v µs falls in bucket %d", i, histValue(i), j)
		}
	}
}

func TestEventQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var q eventQueue
	var seq uint64
	var now int64
	// As in a simulation: events are scheduled at or after the time of
	// the event being handled, several at the same time.
	push := func() {
		seq++
		q.push(event{t: now + rng.Int64N(50), seq: seq})
	}
	for range 1000 {
		push()
	}
	last := event{t: -1}
	for range 20000 {
		if len(q) == 0 {
			break
		}
		e := q.pop()
		if e.t < last.t || (e.t == last.t && e.seq < last.seq) {
			t.Fatalf("popped %+v after %+v", e, last)
		}
		last, now = e, e.t
		for range rng.IntN(2) + rng.IntN(2) {
			push()
		}
	}
}
