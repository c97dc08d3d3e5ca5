package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dfaas-go/dfaas/internal/gctune"
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
	// Proxies to compare (Plain, Agent, Embedded, AgentTLS, EmbeddedTLS);
	// Plain, Agent and Embedded if empty. The first is the baseline of the
	// ratios.
	Proxies []string
	// TLS adds, after Plain, Agent and Embedded, their variants with the
	// node-to-node path over mutual TLS (PlainTLS, AgentTLS, EmbeddedTLS),
	// each compared with its plain variant in the same rounds
	// (Measure.VsPlain).
	TLS bool
	// Pin runs the load generator and the backend on one CPU and every
	// proxy under test on another (Layout), the same for every subject
	// and round. It needs 2 CPUs.
	Pin bool
	// Child returns the command that runs RunChild in a new process.
	Child ChildFunc
	// AgentGC are the agent's --gc-percent and --memory-limit, given to
	// the embedded proxies' processes only (as AGENT_GC_PERCENT and
	// AGENT_MEMORY_LIMIT; GOGC and GOMEMLIMIT, if set, win there as in
	// the agent). If nil, they apply the agent's defaults, or the
	// variables if this process has them.
	AgentGC *gctune.Flags
	// Logger receives progress. If nil, nothing is logged.
	Logger *slog.Logger
}

// Report is what Run measured.
type Report struct {
	Conns    int    `json:"conns"`
	Duration string `json:"duration"`
	Rounds   int    `json:"rounds"`
	// Layout is where the processes ran; nil when not pinned.
	Layout    *Layout    `json:"layout"`
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
	Name string `json:"name"`
	// CPUs are the CPUs its processes' threads were read back on after
	// pinning (Layout.Subject; none when not pinned).
	CPUs     []int `json:"cpus,omitempty"`
	Requests int64 `json:"requests"`
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
	// LoadCPU is the share of one core the load generator used (median
	// over rounds): near 1, it and not the proxy set the pace.
	LoadCPU float64 `json:"load_cpu"`
	// HalfPeak is the latency at half this proxy's peak rate.
	HalfPeak HalfPeak `json:"half_peak"`
	// PeakRSSMiB is the sum of the peak resident set sizes (VmHWM) of
	// the proxy's processes by the end of its runs, in MiB: the embedded
	// proxies' whole agent processes; HAProxy's master and worker (the
	// agent-haproxy Controller runs in this process and is not counted).
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// GC is the garbage collector setting an embedded proxy's process ran
	// with (Config.AgentGC).
	GC *gctune.Applied `json:"gc,omitempty"`
	// VsPlain compares a TLS variant with its plain variant, when both
	// ran.
	VsPlain *Versus `json:"vs_plain,omitempty"`
	// VsPlainTLS compares agent-haproxy-tls and embedded-tls with
	// haproxy-tls (plain HAProxy with the same mutual TLS between its two
	// processes), when it ran: the baseline of the forwarded path now
	// that the data plane between nodes is encrypted by default.
	VsPlainTLS *Versus `json:"vs_plain_tls,omitempty"`
}

// Versus compares one proxy with another measured in the same rounds.
type Versus struct {
	Of string `json:"of"`
	// RatioRPS is the median over rounds of the rate ratio; RatioP99 and
	// RatioCPU the ratios of the p99 latency and of the CPU per request.
	RatioRPS float64 `json:"ratio_rps"`
	RatioP99 float64 `json:"ratio_p99"`
	RatioCPU float64 `json:"ratio_cpu"`
}

// HalfPeak is the latency of a paced load (open loop) at half a proxy's
// peak rate (counted from when each request was due, so that a stalled
// load generator or proxy is not hidden), what it adds over the backend
// alone at the same rate (for rejected requests, which never reach the
// backend: all of it), and over the baseline proxy at half the baseline's
// own peak rate (Base*; for a TLS variant, haproxy-tls when it ran).
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
	// P999MS is the 99.9th percentile through the proxy; ServiceP99MS
	// the 99th counted from when each request was sent rather than due
	// (without the wait behind the previous request on its connection).
	P999MS       float64 `json:"p999_ms"`
	ServiceP99MS float64 `json:"service_p99_ms"`
	// ConnsOpened counts the connections the load generator opened
	// through the proxy (Conns per slice when none is closed); LoadCPU and
	// ProxyCPU are the shares of a core the load generator and the proxy
	// processes used meanwhile: near 1 (pinned, the proxies' CPU) half
	// the peak rate is not half the capacity.
	ConnsOpened int64   `json:"conns_opened"`
	LoadCPU     float64 `json:"load_cpu"`
	ProxyCPU    float64 `json:"proxy_cpu"`
	// LoadWait and ProxyWait are the time the load generator's and the
	// proxy processes' threads spent runnable but waiting for a CPU
	// (schedstat), over the time of the runs: what the machine's other
	// work (or each other) took from them.
	LoadWait  float64 `json:"load_runq_wait"`
	ProxyWait float64 `json:"proxy_runq_wait"`
	// Base is the proxy these are compared with ("" for a base itself:
	// the baseline, or haproxy-tls for the TLS variants); BaseP99MS is
	// its p99 and AddedOverBaseP99MS this p99 minus it, Base paced at
	// this proxy's half-peak rate in slices interleaved with this proxy's
	// (so that the machine's load weighs on both alike).
	Base               string  `json:"base,omitempty"`
	BaseRequests       int64   `json:"base_requests,omitempty"`
	BaseP99MS          float64 `json:"base_p99_ms,omitempty"`
	AddedOverBaseP50MS float64 `json:"added_over_base_p50_ms,omitempty"`
	AddedOverBaseP99MS float64 `json:"added_over_base_p99_ms,omitempty"`
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
	if cfg.TLS {
		cfg.Proxies = withTLS(cfg.Proxies)
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
	ld, err := startLoader(cfg.Child)
	if err != nil {
		return Report{}, err
	}
	defer ld.close()
	e := &env{cfg: cfg, dir: dir, backend: be.addr, load: ld}
	if cfg.Pin {
		if e.layout, err = pinHarness(be.pid(), ld.cmd.Process.Pid); err != nil {
			return Report{}, fmt.Errorf("dataplane: Pin: %w", err)
		}
	}
	if e.certs, err = nodeCerts(); err != nil {
		return Report{}, err
	}
	rep := Report{Conns: cfg.Conns, Duration: cfg.Duration.String(), Rounds: cfg.Rounds, Layout: e.layout}
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
		if err := e.place(s); err != nil {
			return Scenario{}, err
		}
	}
	want := 200
	if name == Rejected {
		want = 429
	}
	round := e.cfg.Duration / time.Duration(e.cfg.Rounds)
	acc := make([]accum, len(subjects))
	for i, s := range subjects {
		if err := e.warmUp(ctx, name, s, want, min(round, time.Second)); err != nil {
			return Scenario{}, err
		}
		acc[i].name = s.name
	}
	for r := range e.cfg.Rounds {
		for k := range subjects {
			i := (k + r) % len(subjects)                 // each proxy takes each place in turn
			if err := e.place(subjects[i]); err != nil { // again: a new HAProxy worker inherits, but check
				return Scenario{}, err
			}
			if err := acc[i].measure(ctx, e.load, subjects[i], e.cfg.Conns, round, want, r); err != nil {
				return Scenario{}, err
			}
			e.cfg.Logger.Info("dataplane round", "scenario", name, "proxy", subjects[i].name, "round", r+1, "rps", acc[i].rps[r])
		}
	}
	sc := Scenario{Name: name, Baseline: subjects[0].name}
	for i := range subjects {
		m, err := e.result(ctx, name, subjects, i, acc, round, want)
		if err != nil {
			return Scenario{}, err
		}
		sc.Proxies = append(sc.Proxies, m)
	}
	compare(sc.Proxies, acc)
	return sc, nil
}

// result summarises the rounds of subjects[i] in scenario name, then
// measures its half-peak latency and reads its peak RSS.
func (e *env) result(ctx context.Context, name string, subjects []*subject, i int, acc []accum, round time.Duration, want int) (Measure, error) {
	s := subjects[i]
	m := acc[i].result(acc[0])
	m.CPUs = s.cpus
	var base *subject
	if j := baseOf(subjects, i); j != i {
		base = subjects[j]
	}
	var err error
	if m.HalfPeak, err = e.halfPeak(ctx, s, base, m.RPS/2, round, want); err != nil {
		return Measure{}, err
	}
	rss, err := peakRSS(s.pids)
	if err != nil {
		return Measure{}, fmt.Errorf("dataplane: %s, %s: peak RSS: %w", name, s.name, err)
	}
	m.PeakRSSMiB, m.GC = round1(float64(rss)/(1<<20)), s.gc
	return m, nil
}

// compare sets, on each measure, its comparisons with the others measured
// in the same rounds: a TLS variant with its plain variant, and with
// haproxy-tls. (The half-peak latency is compared in halfPeak, with the
// base of baseOf.)
func compare(ms []Measure, acc []accum) {
	find := func(name string) int {
		return slices.IndexFunc(ms, func(m Measure) bool { return m.Name == name })
	}
	tlsBase := find(PlainTLS)
	for i := range ms {
		if j := find(plainOf(ms[i].Name)); plainOf(ms[i].Name) != "" && j >= 0 {
			ms[i].VsPlain = versus(acc[i], acc[j], ms[i], ms[j])
		}
		if plainOf(ms[i].Name) != "" && tlsBase >= 0 && i != tlsBase {
			ms[i].VsPlainTLS = versus(acc[i], acc[tlsBase], ms[i], ms[tlsBase])
		}
	}
}

// baseOf returns the index of the subject whose half-peak latency
// subjects[i]'s is compared with: haproxy-tls for a TLS variant (when
// measured), else the baseline (the first). It is i for a base itself.
func baseOf(subjects []*subject, i int) int {
	if plainOf(subjects[i].name) != "" || subjects[i].name == PlainTLS {
		if j := slices.IndexFunc(subjects, func(s *subject) bool { return s.name == PlainTLS }); j >= 0 {
			return j
		}
	}
	return 0
}

// warmUpTries bounds the warm-up runs of a subject: on a busy machine a
// chain's first connections (TLS handshakes within a 1 s connect
// time-out) can fail for a while.
const warmUpTries = 5

// warmUp drives s for d until it gives the answer wanted, warmUpTries
// times at most.
func (e *env) warmUp(ctx context.Context, scenario string, s *subject, want int, d time.Duration) error {
	var r loadResult
	for range warmUpTries {
		var err error
		if r, _, err = e.load.drive(ctx, s.addr, e.cfg.Conns, 0, d); err != nil {
			return err
		}
		if r.statuses[want] > 0 {
			return nil
		}
	}
	return fmt.Errorf("dataplane: %s, %s: no %d answer in %d warm-up runs (the last: %v, %d errors)", scenario, s.name, want, warmUpTries, r.statuses, r.errors)
}

// withTLS returns proxies with the TLS variant of Agent and Embedded
// after each (unless already there).
func withTLS(proxies []string) []string {
	var out []string
	for _, p := range proxies {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
		for _, t := range []string{PlainTLS, AgentTLS, EmbeddedTLS} {
			if plainOf(t) == p && !slices.Contains(proxies, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// versus compares proxy a with proxy b (accumulated rounds and results).
func versus(a, b accum, ma, mb Measure) *Versus {
	v := &Versus{Of: mb.Name}
	var ratios []float64
	for r := range len(a.rps) {
		if b.rps[r] > 0 {
			ratios = append(ratios, a.rps[r]/b.rps[r])
		}
	}
	v.RatioRPS = round3(median(ratios))
	if mb.P99MS > 0 {
		v.RatioP99 = round3(ma.P99MS / mb.P99MS)
	}
	if mb.CPUPer1k > 0 {
		v.RatioCPU = round3(ma.CPUPer1k / mb.CPUPer1k)
	}
	return v
}

// accum gathers the rounds of one proxy.
type accum struct {
	name      string
	requests  int64
	errors    int64
	cpu       time.Duration
	rps       map[int]float64
	loadCPU   map[int]float64 // share of a core the load generator used
	latencies []time.Duration
}

func (a *accum) measure(ctx context.Context, l *loader, s *subject, conns int, d time.Duration, want, round int) error {
	cpu0, err := cpuOf(s.pids)
	if err != nil {
		return err
	}
	r, loadCPU, err := l.drive(ctx, s.addr, conns, 0, d)
	if err != nil {
		return err
	}
	cpu1, err := cpuOf(s.pids)
	if err != nil {
		return err
	}
	if a.rps == nil {
		a.rps, a.loadCPU = map[int]float64{}, map[int]float64{}
	}
	a.rps[round] = float64(r.statuses[want]) / r.elapsed.Seconds()
	a.loadCPU[round] = loadCPU.Seconds() / r.elapsed.Seconds()
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
	var ratios, loadCPU []float64
	for r := range len(a.rps) {
		loadCPU = append(loadCPU, a.loadCPU[r])
		m.RPSRounds = append(m.RPSRounds, round1(a.rps[r]))
		if base.rps[r] > 0 {
			ratios = append(ratios, a.rps[r]/base.rps[r])
		}
	}
	m.RPS = round1(median(m.RPSRounds))
	m.LoadCPU = round3(median(loadCPU))
	m.RatioRPS = round3(median(ratios))
	if a.requests > 0 {
		m.CPUPer1k = round4(a.cpu.Seconds() / float64(a.requests) * 1000)
	}
	if a.requests > 0 && base.requests > 0 && base.cpu > 0 {
		m.RatioCPU = round3((a.cpu.Seconds() / float64(a.requests)) / (base.cpu.Seconds() / float64(base.requests)))
	}
	return m
}

// halfPeak measures s, then its base (if not nil) and the backend alone,
// all paced at rate, s's half-peak rate. A rejected request never reaches
// the backend: all of its latency is added by the proxy (the backend is
// not measured).
func (e *env) halfPeak(ctx context.Context, s, base *subject, rate float64, d time.Duration, want int) (HalfPeak, error) {
	if rate <= 0 {
		return HalfPeak{}, nil
	}
	// Alternate slices of the three, so that a change in the machine's
	// load weighs on all alike.
	const slices = 4
	var via, direct, based loadResult
	based.statuses = map[int]int64{}
	var loadCPU, proxyCPU, loadWait, proxyWait time.Duration
	via.statuses, direct.statuses = map[int]int64{}, map[int]int64{}
	pids := append([]int{e.load.cmd.Process.Pid}, s.pids...)
	for range slices {
		cpu0, err := cpuOf(s.pids)
		if err != nil {
			return HalfPeak{}, err
		}
		w0, err := waits(pids)
		if err != nil {
			return HalfPeak{}, err
		}
		r, lc, err := e.load.drive(ctx, s.addr, e.cfg.Conns, rate, d/slices)
		if err != nil {
			return HalfPeak{}, err
		}
		cpu1, err := cpuOf(s.pids)
		if err != nil {
			return HalfPeak{}, err
		}
		w1, err := waits(pids)
		if err != nil {
			return HalfPeak{}, err
		}
		via.add(r)
		loadCPU, proxyCPU = loadCPU+lc, proxyCPU+cpu1-cpu0
		loadWait, proxyWait = loadWait+w1[0]-w0[0], proxyWait+w1[1]-w0[1]
		if base != nil {
			if r, _, err = e.load.drive(ctx, base.addr, e.cfg.Conns, rate, d/slices); err != nil {
				return HalfPeak{}, err
			}
			based.add(r)
		}
		if want == 200 {
			if r, _, err = e.load.drive(ctx, e.backend, e.cfg.Conns, rate, d/slices); err != nil {
				return HalfPeak{}, err
			}
			direct.add(r)
		}
	}
	h := halfPeakOf(rate, via, direct, want)
	if base != nil {
		sortDurations(based.latencies)
		b50, b99 := ms(percentile(based.latencies, 0.5)), ms(percentile(based.latencies, 0.99))
		h.Base, h.BaseP99MS, h.BaseRequests = base.name, b99, based.requests
		h.AddedOverBaseP50MS, h.AddedOverBaseP99MS = round4(h.P50MS-b50), round4(h.P99MS-b99)
	}
	if via.elapsed > 0 {
		h.LoadCPU = round3(loadCPU.Seconds() / via.elapsed.Seconds())
		h.ProxyCPU = round3(proxyCPU.Seconds() / via.elapsed.Seconds())
		h.LoadWait = round3(loadWait.Seconds() / via.elapsed.Seconds())
		h.ProxyWait = round3(proxyWait.Seconds() / via.elapsed.Seconds())
	}
	return h, nil
}

// waits returns the run-queue wait so far of the load generator
// (pids[0]) and of the proxy processes (the others).
func waits(pids []int) ([2]time.Duration, error) {
	l, err := runDelayOf(pids[:1])
	if err != nil {
		return [2]time.Duration{}, err
	}
	p, err := runDelayOf(pids[1:])
	return [2]time.Duration{l, p}, err
}

// halfPeakOf summarises the paced runs through a proxy (via) and to the
// backend alone (direct).
func halfPeakOf(rate float64, via, direct loadResult, want int) HalfPeak {
	sortDurations(via.latencies)
	sortDurations(via.service)
	sortDurations(direct.latencies)
	h := HalfPeak{RPS: round1(rate),
		P50MS: ms(percentile(via.latencies, 0.5)), P99MS: ms(percentile(via.latencies, 0.99)),
		P999MS: ms(percentile(via.latencies, 0.999)), ServiceP99MS: ms(percentile(via.service, 0.99)),
		DirectP50MS: ms(percentile(direct.latencies, 0.5)), DirectP99MS: ms(percentile(direct.latencies, 0.99)),
		Errors: via.errors + via.requests - via.statuses[want], ConnsOpened: via.dials}
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
func round1(v float64) float64   { return math.Round(v*10) / 10 }
func round3(v float64) float64   { return math.Round(v*1000) / 1000 }
func round4(v float64) float64   { return math.Round(v*10000) / 10000 } // negative too (an added latency)

// WriteText writes the report as tables.
func (r Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%d connections, %s per proxy in %d alternating rounds; ratios to the baseline in the same rounds\n", r.Conns, r.Duration, r.Rounds)
	fmt.Fprintln(w, r.Layout.String())
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "\n%s requests (baseline %s):\n", s.Name, s.Baseline)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "proxy\treq/s\tratio\tp50 ms\tp99 ms\tCPU s/1k req\tCPU ratio\terrors\tload CPU\thalf-peak req/s\tadded p50 ms\tadded p99 ms\tp99 over base ms\tpeak RSS MiB")
		for _, m := range s.Proxies {
			fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.4f\t%.3f\t%d\t%.2f\t%.0f\t%.3f\t%.3f\t%.3f\t%.1f\n", m.Name, m.RPS, m.RatioRPS, m.P50MS, m.P99MS,
				m.CPUPer1k, m.RatioCPU, m.Errors, m.LoadCPU, m.HalfPeak.RPS, m.HalfPeak.AddedP50MS, m.HalfPeak.AddedP99MS, m.HalfPeak.AddedOverBaseP99MS, m.PeakRSSMiB)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, m := range s.Proxies {
			if a := m.GC; a != nil {
				fmt.Fprintf(w, "%s: %s\n", m.Name, a)
			}
			for _, v := range []*Versus{m.VsPlain, m.VsPlainTLS} {
				if v != nil {
					fmt.Fprintf(w, "%s against %s in the same rounds: req/s x%.3f, p99 x%.3f, CPU per request x%.3f\n", m.Name, v.Of, v.RatioRPS, v.RatioP99, v.RatioCPU)
				}
			}
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
