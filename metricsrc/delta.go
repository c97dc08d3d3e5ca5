package metricsrc

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Delta is a Source that turns cumulative counters into rates: each call to
// Sample reads the counters, keeps the reading, and divides the difference
// from the reading taken closest to (but not after) now-window by the time
// between the two. Rates therefore cover the whole window, not a one-second
// sample, and survive anything that does not reset the counters. A counter
// that went down (its process restarted) is counted from zero.
//
// Delta is safe for concurrent use.
type Delta struct {
	r TotalsReader

	mu       sync.Mutex
	readings []reading // oldest first
}

type reading struct {
	at time.Time
	t  Totals
}

// maxReadings bounds the history a Delta keeps.
const maxReadings = 64

// NewDelta returns a Delta over r.
func NewDelta(r TotalsReader) *Delta { return &Delta{r: r} }

// Sample implements Source. The first call returns zero rates and a zero
// Window.
func (d *Delta) Sample(ctx context.Context, now time.Time, window time.Duration) (Sample, error) {
	if window < 0 {
		return Sample{}, fmt.Errorf("metricsrc: negative window %v", window)
	}
	cur, err := d.r.Totals(ctx)
	if err != nil {
		return Sample{}, fmt.Errorf("metricsrc: read counters: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Pick the newest reading at or before now-window (with a tenth of the
	// window's slack: a periodic caller's previous reading is often a few
	// microseconds less than a window old, and must not make the rate
	// cover two windows); else the oldest.
	var base *reading
	for i := range d.readings {
		r := &d.readings[i]
		if !r.at.Before(now) {
			break
		}
		if base == nil || !r.at.After(now.Add(-window+window/10)) {
			base = r
		}
	}
	d.readings = append(d.readings, reading{at: now, t: cur})
	// Drop readings no future call can need: those older than the base,
	// and beyond maxReadings.
	for len(d.readings) > 2 && (len(d.readings) > maxReadings || d.readings[1].at.Before(now.Add(-2*window))) {
		d.readings = d.readings[1:]
	}
	s := Sample{Time: now, Answers: cur.Answers}
	if base == nil {
		s.Functions = make([]FunctionRates, 0, len(cur.Functions))
		for _, f := range cur.Functions {
			s.Functions = append(s.Functions, FunctionRates{Name: f.Name})
		}
		s.Node = NodeUsage{CPUCores: cur.Node.CPUCores, Memory: cur.Node.Memory, MemoryTotal: cur.Node.MemoryTotal}
		return s, nil
	}
	s.Window = now.Sub(base.at)
	return rates(base.t, cur, s), nil
}

// rates fills s with the rates between readings old and cur over s.Window.
func rates(old, cur Totals, s Sample) Sample {
	secs := s.Window.Seconds()
	idx := make(map[string]int, len(old.Functions))
	for i, f := range old.Functions {
		idx[f.Name] = i
	}
	s.Functions = make([]FunctionRates, 0, len(cur.Functions))
	for _, f := range cur.Functions {
		var o FunctionTotals
		if i, ok := idx[f.Name]; ok {
			o = old.Functions[i]
		}
		r := functionRates(f, o, secs)
		s.Functions = append(s.Functions, r)
	}
	s.Other = functionRates(cur.Other, old.Other, secs)
	s.Node = NodeUsage{CPUCores: cur.Node.CPUCores, Memory: cur.Node.Memory, MemoryTotal: cur.Node.MemoryTotal}
	if cpu := cur.Node.CPUSeconds - old.Node.CPUSeconds; cpu >= 0 && cur.Node.CPUSeconds > 0 {
		s.Node.CPU = cpu / secs
	}
	if e := cur.Node.EnergyJoules - old.Node.EnergyJoules; e >= 0 && cur.Node.EnergyJoules > 0 {
		s.Node.Power = e / secs
	}
	return s
}

// functionRates returns the rates between readings o and f of a function's
// counters over secs seconds.
func functionRates(f, o FunctionTotals, secs float64) FunctionRates {
	r := FunctionRates{
		Name:           f.Name,
		Offered:        diff(f.Offered, o.Offered) / secs,
		Local:          diff(f.Local, o.Local) / secs,
		FromNeighbours: diff(f.FromNeighbours, o.FromNeighbours) / secs,
		Forwarded:      diff(f.Forwarded, o.Forwarded) / secs,
		Rejected:       diff(f.Rejected, o.Rejected) / secs,
		Failed:         diff(f.Failed, o.Failed) / secs,
	}
	r.Latency = meanLatency(f.LatencySeconds, o.LatencySeconds, f.LatencyCount, o.LatencyCount)
	on := make(map[string]NeighbourTotals, len(o.Neighbours))
	for _, n := range o.Neighbours {
		on[n.ID] = n
	}
	for _, n := range f.Neighbours {
		r.Neighbours = append(r.Neighbours, neighbourRates(n, on[n.ID], secs))
	}
	return r
}

// neighbourRates returns the rates between readings old and cur of the
// counts exchanged with a neighbour, over secs seconds.
func neighbourRates(cur, old NeighbourTotals, secs float64) NeighbourRates {
	r := NeighbourRates{
		ID:        cur.ID,
		Forwarded: diff(cur.Forwarded, old.Forwarded) / secs,
		Received:  diff(cur.Received, old.Received) / secs,
		Succeeded: diff(cur.Succeeded, old.Succeeded) / secs,
		Failed:    diff(cur.Failed, old.Failed) / secs,
	}
	r.Latency = meanLatency(cur.LatencySeconds, old.LatencySeconds, cur.LatencyCount, old.LatencyCount)
	return r
}

// meanLatency returns the mean latency over the window between an old and
// a current reading of a latency sum (seconds) and its count: 0 when
// nothing was counted; after a counter reset, the current reading alone.
func meanLatency(sum, oldSum float64, count, oldCount uint64) time.Duration {
	n := diff(count, oldCount)
	if n <= 0 {
		return 0
	}
	s := sum - oldSum
	if count < oldCount || s < 0 {
		s = sum
	}
	return time.Duration(s / n * float64(time.Second))
}

// diff returns cur-old as a float, treating a decrease as a counter reset.
func diff(cur, old uint64) float64 {
	if cur < old {
		return float64(cur)
	}
	return float64(cur - old)
}

// Interface guards.
var _ Source = (*Delta)(nil)
