package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Config configures a measurement.
type Config struct {
	// Duration is the load time of each proxy in each scenario, split
	// into Rounds alternating rounds (plus a warm-up and a half-peak run
	// of Duration/Rounds each). Required.
	Duration time.Duration
	// Rounds is the number of alternating rounds (at least 1).
	Rounds int
	// Conns is the number of connections of the closed-loop load.
	Conns int
	// HAProxy is the haproxy executable.
	HAProxy string
	// Scenarios to run (Local, Forwarded, Rejected); all if empty.
	Scenarios []string
	// Proxies to compare (Plain, Agent, Embedded); all if empty. Plain is
	// the baseline of the ratios.
	Proxies []string
	// Child returns the command that runs RunChild in a new process.
	Child ChildFunc
	// Logger receives progress. If nil, nothing is logged.
	Logger *slog.Logger
}

// Report is what Run measured.
type Report struct {
	Conns     int        `json:"conns"`
	Duration  string     `json:"duration"`
	Rounds    int        `json:"rounds"`
	Scenarios []Scenario `json:"scenarios"`
}

// Scenario holds the measures of one kind of request.
type Scenario struct {
	Name     string    `json:"name"`
	Baseline string    `json:"baseline"`
	Proxies  []Measure `json:"proxies"`
}

// Measure is what one proxy did in one scenario.
type Measure struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
	// Errors counts transport errors and statuses other than the one
	// expected (200, or 429 for rejected requests).
	Errors int64 `json:"errors"`
	// RPS is the median over rounds of requests per second.
	RPS       float64   `json:"rps"`
	RPSRounds []float64 `json:"rps_rounds"`
	P50MS     float64   `json:"p50_ms"`
	P99MS     float64   `json:"p99_ms"`
	// CPUPer1k is the CPU time of the proxy processes per 1,000
	// requests, in seconds.
	CPUPer1k float64 `json:"cpu_s_per_1k"`
	// RatioRPS and RatioCPU compare with the baseline: the median over
	// rounds of this proxy's rate over the baseline's in the same round,
	// and CPUPer1k over the baseline's.
	RatioRPS float64 `json:"ratio_rps"`
	RatioCPU float64 `json:"ratio_cpu"`
	// HalfPeak is the latency at half this proxy's peak rate.
	HalfPeak HalfPeak `json:"half_peak"`
}

// HalfPeak is the latency of a paced load at half a proxy's peak rate
// (counted from when each request was due, so that a stalled load
// generator or proxy is not hidden), and what it adds over the backend
// alone at the same rate (for rejected requests, which never reach the
// backend: all of it).
type HalfPeak struct {
	RPS          float64 `json:"rps"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	DirectP99MS  float64 `json:"direct_p99_ms"`
	AddedP50MS   float64 `json:"added_p50_ms"`
	AddedP99MS   float64 `json:"added_p99_ms"`
	DirectP50MS  float64 `json:"direct_p50_ms"`
	Errors       int64   `json:"errors"`
	DirectErrors int64   `json:"direct_errors"`
}

// Run measures the data planes as cfg says.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Duration <= 0 || cfg.Rounds < 1 || cfg.Conns < 1 || cfg.Child == nil {
		return Report{}, errors.New("dataplane: Duration, Rounds, Conns and Child are required")
	}
	if _, err := exec.LookPath(cfg.HAProxy); err != nil {
		return Report{}, fmt.Errorf("dataplane: HAProxy: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Scenarios) == 0 {
		cfg.Scenarios = []string{Local, Forwarded, Rejected}
	}
	if len(cfg.Proxies) == 0 {
		cfg.Proxies = []string{Plain, Agent, Embedded}
	}
	dir, err := os.MkdirTemp("", "dfaas-dataplane-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)
	be, err := startChild(ctx, cfg.Child, roleBackend, "127.0.0.1:0")
	if err != nil {
		return Report{}, err
	}
	defer be.stop()
	e := &env{cfg: cfg, dir: dir, backend: be.addr}
	rep := Report{Conns: cfg.Conns, Duration: cfg.Duration.String(), Rounds: cfg.Rounds}
	for _, sc := range cfg.Scenarios {
		s, err := e.scenario(ctx, sc)
		if err != nil {
			return rep, err
		}
		rep.Scenarios = append(rep.Scenarios, s)
	}
	return rep, nil
}

// scenario measures every proxy for one kind of request.
func (e *env) scenario(ctx context.Context, name string) (Scenario, error) {
	subjects := make([]*subject, 0, len(e.cfg.Proxies))
	defer func() {
		for _, s := range subjects {
			s.close()
		}
	}()
	for _, p := range e.cfg.Proxies {
		s, err := e.start(ctx, name, p)
		if err != nil {
			return Scenario{}, err
		}
		subjects = append(subjects, s)
	}
	want := 200
	if name == Rejected {
		want = 429
	}
	round := e.cfg.Duration / time.Duration(e.cfg.Rounds)
	acc := make([]accum, len(subjects))
	for i, s := range subjects { // warm-up
		if r := load(ctx, s.addr, "/function/f", e.cfg.Conns, 0, min(round, time.Second)); r.statuses[want] == 0 {
			return Scenario{}, fmt.Errorf("dataplane: %s, %s: no %d answer in the warm-up (%v, %d errors)", name, s.name, want, r.statuses, r.errors)
		}
		acc[i].name = s.name
	}
	for r := range e.cfg.Rounds {
		for k := range subjects {
			i := (k + r) % len(subjects) // each proxy takes each place in turn
			if err := acc[i].measure(ctx, subjects[i], e.cfg.Conns, round, want, r); err != nil {
				return Scenario{}, err
			}
			e.cfg.Logger.Info("dataplane round", "scenario", name, "proxy", subjects[i].name, "round", r+1, "rps", acc[i].rps[r])
		}
	}
	sc := Scenario{Name: name, Baseline: subjects[0].name}
	for i, s := range subjects {
		m := acc[i].result(acc[0])
		m.HalfPeak = e.halfPeak(ctx, s, m.RPS/2, round, want)
		sc.Proxies = append(sc.Proxies, m)
	}
	return sc, nil
}

// accum gathers the rounds of one proxy.
type accum struct {
	name      string
	requests  int64
	errors    int64
	cpu       time.Duration
	rps       map[int]float64
	latencies []time.Duration
}

func (a *accum) measure(ctx context.Context, s *subject, conns int, d time.Duration, want, round int) error {
	cpu0, err := cpuOf(s.pids)
	if err != nil {
		return err
	}
	r := load(ctx, s.addr, "/function/f", conns, 0, d)
	cpu1, err := cpuOf(s.pids)
	if err != nil {
		return err
	}
	if a.rps == nil {
		a.rps = map[int]float64{}
	}
	a.rps[round] = float64(r.statuses[want]) / r.elapsed.Seconds()
	a.requests += r.requests
	a.errors += r.errors + r.requests - r.statuses[want]
	a.cpu += cpu1 - cpu0
	a.latencies = append(a.latencies, r.latencies...)
	return ctx.Err()
}

func cpuOf(pids []int) (time.Duration, error) {
	var t time.Duration
	for _, p := range pids {
		c, err := treeCPU(p)
		if err != nil {
			return 0, err
		}
		t += c
	}
	return t, nil
}

// result summarises a against the baseline base.
func (a *accum) result(base accum) Measure {
	sortDurations(a.latencies)
	m := Measure{Name: a.name, Requests: a.requests, Errors: a.errors,
		P50MS: ms(percentile(a.latencies, 0.5)), P99MS: ms(percentile(a.latencies, 0.99))}
	var ratios []float64
	for r := range len(a.rps) {
		m.RPSRounds = append(m.RPSRounds, round1(a.rps[r]))
		if base.rps[r] > 0 {
			ratios = append(ratios, a.rps[r]/base.rps[r])
		}
	}
	m.RPS = round1(median(m.RPSRounds))
	m.RatioRPS = round3(median(ratios))
	if a.requests > 0 {
		m.CPUPer1k = round4(a.cpu.Seconds() / float64(a.requests) * 1000)
	}
	if a.requests > 0 && base.requests > 0 && base.cpu > 0 {
		m.RatioCPU = round3((a.cpu.Seconds() / float64(a.requests)) / (base.cpu.Seconds() / float64(base.requests)))
	}
	return m
}

// halfPeak measures s and then the backend alone, paced at rate. A
// rejected request never reaches the backend: all of its latency is added
// by the proxy (the backend is not measured).
func (e *env) halfPeak(ctx context.Context, s *subject, rate float64, d time.Duration, want int) HalfPeak {
	if rate <= 0 {
		return HalfPeak{}
	}
	// Alternate slices of the two, so that a change in the machine's load
	// weighs on both alike.
	const slices = 4
	var via, direct loadResult
	via.statuses, direct.statuses = map[int]int64{}, map[int]int64{}
	for range slices {
		via.add(load(ctx, s.addr, "/function/f", e.cfg.Conns, rate, d/slices))
		if want == 200 {
			direct.add(load(ctx, e.backend, "/function/f", e.cfg.Conns, rate, d/slices))
		}
	}
	sortDurations(via.latencies)
	sortDurations(direct.latencies)
	h := HalfPeak{RPS: round1(rate),
		P50MS: ms(percentile(via.latencies, 0.5)), P99MS: ms(percentile(via.latencies, 0.99)),
		DirectP50MS: ms(percentile(direct.latencies, 0.5)), DirectP99MS: ms(percentile(direct.latencies, 0.99)),
		Errors: via.errors + via.requests - via.statuses[want]}
	if want == 200 {
		h.DirectErrors = direct.errors + direct.requests - direct.statuses[200]
	}
	h.AddedP50MS, h.AddedP99MS = round4(h.P50MS-h.DirectP50MS), round4(h.P99MS-h.DirectP99MS)
	return h
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return round4(float64(d) / float64(time.Millisecond)) }
func round1(v float64) float64   { return float64(int64(v*10+0.5)) / 10 }
func round3(v float64) float64   { return float64(int64(v*1000+0.5)) / 1000 }
func round4(v float64) float64   { return float64(int64(v*10000+0.5)) / 10000 }

// WriteText writes the report as tables.
func (r Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%d connections, %s per proxy in %d alternating rounds; ratios to the baseline in the same rounds\n", r.Conns, r.Duration, r.Rounds)
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "\n%s requests (baseline %s):\n", s.Name, s.Baseline)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "proxy\treq/s\tratio\tp50 ms\tp99 ms\tCPU s/1k req\tCPU ratio\terrors\thalf-peak req/s\tadded p50 ms\tadded p99 ms")
		for _, m := range s.Proxies {
			fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.4f\t%.3f\t%d\t%.0f\t%.3f\t%.3f\n", m.Name, m.RPS, m.RatioRPS, m.P50MS, m.P99MS,
				m.CPUPer1k, m.RatioCPU, m.Errors, m.HalfPeak.RPS, m.HalfPeak.AddedP50MS, m.HalfPeak.AddedP99MS)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// ParseList splits a comma-separated flag value, checking each element
// against allowed.
func ParseList(v string, allowed ...string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, x := range strings.Split(v, ",") {
		x = strings.TrimSpace(x)
		if !slices.Contains(allowed, x) {
			return nil, fmt.Errorf("%q is not one of %s", x, strings.Join(allowed, ", "))
		}
		out = append(out, x)
	}
	return out, nil
}
