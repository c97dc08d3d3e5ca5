package azure

import (
	"fmt"
	"math"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Config says how Scenario maps a trace onto a federation. Zero fields
// take the documented defaults.
type Config struct {
	// Name of the scenario. If empty, "azure".
	Name string
	// Nodes is the number of nodes, linked in a ring with RTT RTT. If
	// zero, 4.
	Nodes int
	// Replicas is how many nodes run each function (at most Nodes). If
	// zero, 2.
	Replicas int
	// Functions is how many of the trace's functions, busiest first, the
	// scenario uses (at most those it has). If zero, all.
	Functions int
	// Level is each function's mean load over the window as a fraction of
	// its total capacity. If zero, 0.7.
	Level float64
	// From is the first minute of the window (0-based) and Minutes its
	// length; if Minutes is zero, up to the last minute.
	From, Minutes int
	// Compress is the time compression: a trace minute lasts a minute
	// divided by Compress in the scenario. If zero, 60 (a minute per
	// second).
	Compress float64
	// Concurrency is the concurrency of functions without memory figures;
	// MemoryMB the memory each node gives each function it runs, which
	// sets the concurrency of the others (MemoryMB over their application's
	// allocated memory, 1 to 64). If zero, 10 and 8192.
	Concurrency int
	MemoryMB    float64
	// DefaultDurationMs is the mean duration of functions without a
	// durations row (before compression), ms. If zero, 1000.
	DefaultDurationMs float64
	// RTT of the ring's links. If zero, 5ms.
	RTT time.Duration
	// Period is the control period. If zero, sim.DefaultPeriod.
	Period time.Duration
	// Seed of the scenario's runs.
	Seed uint64
}

func (c *Config) defaults() {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Name == "" {
		c.Name = "azure"
	}
	if c.Nodes == 0 {
		c.Nodes = 4
	}
	if c.Replicas == 0 {
		c.Replicas = min(2, c.Nodes)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 10
	}
	def(&c.Level, 0.7)
	def(&c.Compress, 60)
	def(&c.MemoryMB, 8192)
	def(&c.DefaultDurationMs, 1000)
	if c.RTT == 0 {
		c.RTT = 5 * time.Millisecond
	}
}

func (c *Config) validate(t *Trace) error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("azure: %s: %s", field, fmt.Sprintf(format, a...))
	}
	switch {
	case c.Nodes < 1 || c.Nodes > 1000:
		return bad("Nodes", "%d is not in [1, 1000]", c.Nodes)
	case c.Replicas < 1 || c.Replicas > c.Nodes:
		return bad("Replicas", "%d is not in [1, Nodes=%d]", c.Replicas, c.Nodes)
	case c.Functions < 0:
		return bad("Functions", "negative (%d)", c.Functions)
	case !(c.Level > 0 && c.Level <= 100):
		return bad("Level", "%v is not in (0, 100]", c.Level)
	case c.From < 0 || c.From >= t.Minutes:
		return bad("From", "minute %d is not in [0, %d)", c.From, t.Minutes)
	case c.Minutes < 0 || c.From+c.Minutes > t.Minutes:
		return bad("Minutes", "%d minutes from minute %d go past the trace's %d", c.Minutes, c.From, t.Minutes)
	case !(c.Compress >= 1 && c.Compress <= 60_000):
		return bad("Compress", "%v is not in [1, 60000]", c.Compress)
	case c.Concurrency < 1 || c.Concurrency > 1000:
		return bad("Concurrency", "%d is not in [1, 1000]", c.Concurrency)
	case !(c.MemoryMB > 0 && c.MemoryMB <= 1e7):
		return bad("MemoryMB", "%v is not in (0, 1e7]", c.MemoryMB)
	case !(c.DefaultDurationMs > 0 && c.DefaultDurationMs <= 1e7):
		return bad("DefaultDurationMs", "%v is not in (0, 1e7]", c.DefaultDurationMs)
	case c.RTT < 0 || c.RTT > sim.MaxRTT:
		return bad("RTT", "%v is not in [0, %v]", c.RTT, sim.MaxRTT)
	}
	return nil
}

// Scenario maps the trace onto a federation:
//
//   - Nodes nodes n0, n1, ... in a ring (RTT RTT);
//   - the Functions busiest functions, named f<rank>-<first 8 letters and
//     digits of the hash> (f00 the busiest); function k receives all its load at
//     node k mod Nodes and runs there and on the next Replicas-1 nodes of
//     the ring;
//   - a function's mean service time is its mean duration (durations file;
//     DefaultDurationMs without one) divided by Compress, as everything
//     runs Compress times faster, and its concurrency MemoryMB over its
//     application's allocated memory (memory file; Concurrency without
//     one), so its capacity on each node is concurrency / service time;
//   - its load follows its per-minute counts over the window, each minute
//     lasting a minute / Compress, scaled so that the mean over the window
//     is Level times its total capacity: the trace gives the shape (bursts,
//     timers, idle minutes), the capacities the scale. Functions with no
//     invocation in the window are left out.
func (t *Trace) Scenario(cfg Config) (*sim.Scenario, error) {
	cfg.defaults()
	if err := cfg.validate(t); err != nil {
		return nil, err
	}
	if cfg.Minutes == 0 {
		cfg.Minutes = t.Minutes - cfg.From
	}
	step := time.Duration(float64(time.Minute) / cfg.Compress)
	s := &sim.Scenario{
		Name:     cfg.Name,
		Duration: sim.Duration(time.Duration(cfg.Minutes) * step),
		Period:   sim.Duration(cfg.Period),
		Seed:     cfg.Seed,
	}
	for i := range cfg.Nodes {
		s.Nodes = append(s.Nodes, sim.Node{ID: fmt.Sprintf("n%d", i), Functions: []sim.Function{}})
	}
	for i := range cfg.Nodes {
		if j := (i + 1) % cfg.Nodes; j != i && (cfg.Nodes > 2 || i == 0) {
			s.Links = append(s.Links, sim.Link{A: s.Nodes[i].ID, B: s.Nodes[j].ID, RTT: sim.Duration(cfg.RTT)})
		}
	}
	fns := t.Functions
	if cfg.Functions > 0 && cfg.Functions < len(fns) {
		fns = fns[:cfg.Functions]
	}
	used := 0
	for k, f := range fns {
		if addFunction(s, cfg, k, f, step) {
			used++
		}
	}
	if used == 0 {
		return nil, fmt.Errorf("azure: no function has an invocation in minutes %d-%d", cfg.From, cfg.From+cfg.Minutes)
	}
	s.Description = fmt.Sprintf("Azure Functions trace: %d functions, minutes %d-%d compressed %gx, on %d nodes in a ring (%d replicas each), mean load %.2f of capacity",
		used, cfg.From, cfg.From+cfg.Minutes, cfg.Compress, cfg.Nodes, cfg.Replicas, cfg.Level)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	return s, nil
}

// addFunction deploys function f of rank k and adds its load; it reports
// false (and adds nothing) when f has no invocation in the window.
func addFunction(s *sim.Scenario, cfg Config, k int, f Function, step time.Duration) bool {
	counts := f.Counts[cfg.From : cfg.From+cfg.Minutes]
	var sum float64
	for _, c := range counts {
		sum += c
	}
	if sum <= 0 {
		return false
	}
	name := fmt.Sprintf("f%02d", k)
	if tag := alnum(f.Hash, 8); tag != "" {
		name += "-" + tag
	}
	duration := f.DurationMs
	if duration <= 0 {
		duration = cfg.DefaultDurationMs
	}
	conc := cfg.Concurrency
	if f.MemoryMB > 0 {
		conc = int(min(64, max(1, math.Floor(cfg.MemoryMB/f.MemoryMB))))
	}
	// The scenario runs Compress times faster than the trace: so do the
	// functions.
	capacity := min(sim.MaxRate, float64(conc)*1000*cfg.Compress/duration)
	home := k % cfg.Nodes
	for r := range cfg.Replicas {
		n := &s.Nodes[(home+r)%cfg.Nodes]
		n.Functions = append(n.Functions, sim.Function{Name: name, Capacity: capacity, Concurrency: conc})
	}
	mean := sum / float64(len(counts))
	scale := cfg.Level * capacity * float64(cfg.Replicas) / mean
	rates := make([]float64, len(counts))
	for i, c := range counts {
		rates[i] = min(sim.MaxRate, math.Round(c*scale*1000)/1000)
	}
	s.Load = append(s.Load, sim.Load{Node: s.Nodes[home].ID, Function: name, Step: sim.Duration(step), Rates: rates})
	return true
}

// alnum returns the first n ASCII letters and digits of s.
func alnum(s string, n int) string {
	var b []byte
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b = append(b, c)
		}
	}
	return string(b)
}
