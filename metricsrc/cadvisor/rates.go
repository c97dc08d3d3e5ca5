package cadvisor

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// maxPoints bounds the readings kept per container.
const maxPoints = 32

// Tracker turns successive readings of cAdvisor's series into per-pod
// usage: each container's CPU rate over the window, from its counter's
// samples (dated by cAdvisor's timestamps, which change only when it
// collects, every housekeeping interval), and its latest working set. A
// container needs two samples of its own for a rate, as in Prometheus'
// rate(); a counter that went down (a restarted process in the same
// cgroup) counts from zero. Containers missing from a reading are
// forgotten. Tracker is safe for concurrent use.
type Tracker struct {
	mu     sync.Mutex
	series map[string][]point // by Series.Key, oldest first
}

type point struct {
	t time.Time
	v float64
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker { return &Tracker{series: map[string][]point{}} }

// Update adds a reading taken at now (the time of samples without a
// timestamp) and returns the usage of each pod, sorted by namespace and
// pod. A rate spans the newest sample and the latest one at least window
// older, or else the oldest there is.
func (tr *Tracker) Update(ss []Series, now time.Time, window time.Duration) []Pod {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	pods := map[[2]string]*Pod{}
	pod := func(s Series) *Pod {
		k := [2]string{s.Namespace, s.Pod}
		if p := pods[k]; p != nil {
			return p
		}
		p := &Pod{Namespace: s.Namespace, Pod: s.Pod}
		pods[k] = p
		return p
	}
	seen := map[string]bool{}
	for _, s := range ss {
		p := pod(s)
		if s.Memory {
			p.Memory += s.Value
			continue
		}
		if seen[s.Key] {
			continue // a duplicate series: the first counts
		}
		seen[s.Key] = true
		t := s.Time
		if t.IsZero() {
			t = now
		}
		pts := tr.series[s.Key]
		switch {
		case len(pts) == 0 || t.After(pts[len(pts)-1].t):
			pts = append(pts, point{t, s.Value})
			if len(pts) > maxPoints {
				pts = slices.Delete(pts, 0, len(pts)-maxPoints)
			}
		case t.Before(pts[len(pts)-1].t):
			pts = []point{{t, s.Value}} // time went back: start again
		}
		tr.series[s.Key] = pts
		if r, ok := rate(pts, window); ok {
			p.CPU += r
		}
	}
	for k := range tr.series {
		if !seen[k] {
			delete(tr.series, k)
		}
	}
	out := make([]Pod, 0, len(pods))
	for _, p := range pods {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Pod) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Pod, b.Pod)
	})
	return out
}

// rate returns the counter's rate (per second) between its newest sample
// and the latest one at least window older, or else the oldest.
func rate(pts []point, window time.Duration) (float64, bool) {
	if len(pts) < 2 {
		return 0, false
	}
	last := pts[len(pts)-1]
	base := pts[0]
	for i := len(pts) - 2; i >= 0; i-- {
		if last.t.Sub(pts[i].t) >= window {
			base = pts[i]
			break
		}
	}
	d := last.v - base.v
	if d < 0 {
		d = last.v // reset: counted from zero
	}
	return d / last.t.Sub(base.t).Seconds(), true
}
