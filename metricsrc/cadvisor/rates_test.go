package cadvisor_test

import (
	"math"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
)

func cpu(pod, key string, v float64, at time.Time) cadvisor.Series {
	return cadvisor.Series{Namespace: "ns", Pod: pod, Container: "c", Key: key, Value: v, Time: at}
}

func mem(pod, key string, v float64) cadvisor.Series {
	return cadvisor.Series{Memory: true, Namespace: "ns", Pod: pod, Container: "c", Key: key, Value: v}
}

// TestTracker follows two containers of a pod through cAdvisor's
// housekeeping: rates between cAdvisor's own timestamps over at least the
// window, repeated samples ignored, a counter reset, a new container
// without a rate until its second sample, and containers forgotten when
// they go.
func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tr := cadvisor.NewTracker()
	window := 5 * time.Second
	steps := []struct {
		name   string
		now    time.Time
		series []cadvisor.Series
		cpu    map[string]float64 // per pod
		mem    map[string]float64
	}{
		{"first reading: no rate", at(0), []cadvisor.Series{cpu("p", "a", 10, at(0)), mem("p", "a", 100), cpu("p", "b", 5, at(0)), mem("p", "b", 50)},
			map[string]float64{"p": 0}, map[string]float64{"p": 150}},
		{"same housekeeping sample", at(2), []cadvisor.Series{cpu("p", "a", 10, at(0)), cpu("p", "b", 5, at(0))},
			map[string]float64{"p": 0}, map[string]float64{"p": 0}},
		{"one interval, shorter than the window", at(4), []cadvisor.Series{cpu("p", "a", 12, at(4)), cpu("p", "b", 6, at(4))},
			map[string]float64{"p": 0.5 + 0.25}, nil},
		{"at least the window back", at(10), []cadvisor.Series{cpu("p", "a", 15, at(8)), cpu("p", "b", 8, at(8))},
			// The sample at 4 is only 4 s older: both from 0.
			map[string]float64{"p": 5.0/8 + 3.0/8}, nil},
		{"reset of b, new container c", at(14), []cadvisor.Series{cpu("p", "a", 17, at(13)), cpu("p", "b", 1, at(13)), cpu("q", "c", 100, at(13))},
			// a: from 8 (13-8 = 5): 2/5; b went down: 1 from zero over 5 s; c: no rate yet.
			map[string]float64{"p": 2.0/5 + 1.0/5, "q": 0}, nil},
		{"a gone, c's second sample", at(20), []cadvisor.Series{cpu("p", "b", 3, at(18)), cpu("q", "c", 103, at(18))},
			map[string]float64{"p": 2.0 / 5, "q": 3.0 / 5}, nil},
		{"a back: a new container", at(25), []cadvisor.Series{cpu("p", "a", 50, at(23))},
			map[string]float64{"p": 0}, nil},
		{"time goes back: start again", at(30), []cadvisor.Series{cpu("p", "a", 51, at(1))},
			map[string]float64{"p": 0}, nil},
		{"no timestamps: the reading's time", at(40), []cadvisor.Series{cpu("p", "a", 61, time.Time{})},
			map[string]float64{"p": 10.0 / 39}, nil},
	}
	for _, st := range steps {
		pods := tr.Update(st.series, st.now, window)
		got := map[string]cadvisor.Pod{}
		for i, p := range pods {
			if i > 0 && pods[i-1].Pod >= p.Pod {
				t.Errorf("%s: pods not sorted: %+v", st.name, pods)
			}
			got[p.Pod] = p
		}
		if len(got) != len(st.cpu) {
			t.Errorf("%s: pods %+v, want %v", st.name, pods, st.cpu)
		}
		for pod, want := range st.cpu {
			if c := got[pod].CPU; math.Abs(c-want) > 1e-9 {
				t.Errorf("%s: pod %s CPU %v, want %v", st.name, pod, c, want)
			}
		}
		for pod, want := range st.mem {
			if m := got[pod].Memory; m != want {
				t.Errorf("%s: pod %s memory %v, want %v", st.name, pod, m, want)
			}
		}
	}
}

// TestTrackerBounded: a long-lived container keeps a bounded history, and
// its rate still spans the window.
func TestTrackerBounded(t *testing.T) {
	tr := cadvisor.NewTracker()
	t0 := time.Unix(0, 0)
	var pods []cadvisor.Pod
	for i := range 10_000 {
		at := t0.Add(time.Duration(i) * time.Second)
		pods = tr.Update([]cadvisor.Series{cpu("p", "a", 0.5*float64(i), at)}, at, 10*time.Second)
	}
	if len(pods) != 1 || math.Abs(pods[0].CPU-0.5) > 1e-9 {
		t.Fatalf("pods %+v, want 0.5 cores", pods)
	}
}
