package dfaas_test

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestFunctionUsage: per-function CPU and memory measured by the metric
// source (metricsrc/cadvisor) reach the snapshot, /status, the agent's
// gauges and the announcement a neighbour receives; bad values from a
// source are dropped, and a function whose usage is unknown exports 0.
func TestFunctionUsage(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{Seed: 1})
	defer net.Close()
	a := newTestNode(t, net, "a", strategy.AllLocal{}, figlet("100"))
	var mu sync.Mutex
	var seen []strategy.Snapshot
	b := newTestNode(t, net, "b", strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
		return strategy.AllLocal{}.Decide(s)
	}), figlet("100"))
	sample := func(cpu, mem float64) metricsrc.Sample {
		s := offered("figlet", 10)
		s.Functions[0].CPU, s.Functions[0].Memory = cpu, mem
		return s
	}
	a.metrics.Set(sample(0.25, 64<<20))
	t0 := time.Unix(1000, 0)
	step(t, t0, a, b)
	step(t, t0.Add(time.Second), a, b)

	st := a.node.Status(t0.Add(time.Second))
	if len(st.Functions) != 1 || st.Functions[0].CPU != 0.25 || st.Functions[0].Memory != 64<<20 {
		t.Fatalf("status functions %+v, want figlet with CPU 0.25 and memory 64 MiB", st.Functions)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Functions []struct {
			CPU    float64 `json:"cpu_cores"`
			Memory float64 `json:"memory_bytes"`
		}
	}
	if err := json.Unmarshal(raw, &decoded); err != nil || decoded.Functions[0].CPU != 0.25 || decoded.Functions[0].Memory != 64<<20 {
		t.Errorf("/status JSON %s: %v", raw, err)
	}
	if v, _, _ := gauge(t, a.reg, "dfaas_agent_function_cpu_cores", "figlet"); v != 0.25 {
		t.Errorf("CPU gauge %v, want 0.25", v)
	}
	if v, _, _ := gauge(t, a.reg, "dfaas_agent_function_memory_bytes", "figlet"); v != 64<<20 {
		t.Errorf("memory gauge %v, want %v", v, 64<<20)
	}
	mu.Lock()
	last := seen[len(seen)-1]
	mu.Unlock()
	nb, ok := last.Neighbour("a")
	if !ok {
		t.Fatal("b has no neighbour a")
	}
	fs, ok := nb.Announcement.Function("figlet")
	if !ok || fs.CPU != 0.25 || fs.Memory != 64<<20 {
		t.Errorf("b received %+v from a, want CPU 0.25 and memory 64 MiB", fs)
	}
	if f, _ := last.Function("figlet"); f.CPU != 0 || f.Memory != 0 {
		t.Errorf("b measured nothing but its snapshot has CPU %v memory %v", f.CPU, f.Memory)
	}
	if v, _, ok := gauge(t, b.reg, "dfaas_agent_function_cpu_cores", "figlet"); !ok || v != 0 {
		t.Errorf("b's CPU gauge %v (exported %v), want 0 (unknown)", v, ok)
	}

	// Garbage from a source is not handed to the strategy.
	a.metrics.Set(sample(math.NaN(), -1))
	step(t, t0.Add(2*time.Second), a)
	if st := a.node.Status(t0.Add(2 * time.Second)); st.Functions[0].CPU != 0 || st.Functions[0].Memory != 0 {
		t.Errorf("NaN and negative usage became %v and %v, want 0 (unknown)", st.Functions[0].CPU, st.Functions[0].Memory)
	}
}
