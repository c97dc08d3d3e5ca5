package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dfaas-go/dfaas/internal/gctune"
	"github.com/dfaas-go/dfaas/internal/promtest"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a parenthesis.
	line := "1234 (my (proc) x) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 10 18446744073709551615"
	s, err := parseStat(line)
	if err != nil || s.ppid != 77 || s.cpu != 3*time.Second {
		t.Errorf("parseStat: %+v %v, want ppid 77 and 3s", s, err)
	}
	for _, bad := range []string{"", "1 (x) S", "1 x S 2 3", "1 (x) S a b c d e f g h i j k l m"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
	// This process and its tree.
	if c, err := treeCPU(os.Getpid()); err != nil || c < 0 {
		t.Errorf("treeCPU(self): %v %v", c, err)
	}
	if _, err := treeCPU(1 << 30); err == nil {
		t.Error("treeCPU of a missing process")
	}
	if d, err := parseSchedstat("218081672 1307084022 781\n"); err != nil || d != 1307084022 {
		t.Errorf("parseSchedstat: %v %v", d, err)
	}
	for _, bad := range []string{"", "1 2", "1 x 3", "1 -2 3"} {
		if _, err := parseSchedstat(bad); err == nil {
			t.Errorf("parseSchedstat(%q) accepted", bad)
		}
	}
	if d, err := treeRunDelay(os.Getpid()); err != nil || d < 0 {
		t.Errorf("treeRunDelay(self): %v %v", d, err)
	}
}

func TestStatistics(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3}
	sortDurations(d)
	if percentile(d, 0.5) != 3 || percentile(d, 0.99) != 5 || percentile(d, 0.01) != 1 || percentile(nil, 0.5) != 0 {
		t.Errorf("percentiles of %v", d)
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 2, 3}) != 2.5 || median(nil) != 0 {
		t.Error("median")
	}
	if v, err := ParseList("local, rejected", Local, Forwarded, Rejected); err != nil || len(v) != 2 || v[1] != Rejected {
		t.Errorf("ParseList: %v %v", v, err)
	}
	if _, err := ParseList("local,nope", Local); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("ParseList of a bad element: %v", err)
	}
	for in, want := range map[string]string{
		"haproxy,agent-haproxy,embedded":  "haproxy,haproxy-tls,agent-haproxy,agent-haproxy-tls,embedded,embedded-tls",
		"embedded,embedded-tls":           "embedded,embedded-tls",
		"haproxy":                         "haproxy,haproxy-tls",
		"agent-haproxy-tls,agent-haproxy": "agent-haproxy-tls,agent-haproxy",
	} {
		if got := strings.Join(withTLS(strings.Split(in, ",")), ","); got != want {
			t.Errorf("withTLS(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestLoad drives a test server closed-loop and paced, and checks what the
// load generator counts.
func TestLoad(t *testing.T) {
	srv := httptest.NewServer(backend())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	r := load(context.Background(), addr, "/function/f", 4, 0, 300*time.Millisecond)
	if r.requests == 0 || r.errors != 0 || r.statuses[200] != r.requests || int64(len(r.latencies)) != r.requests || r.dials != 4 || len(r.service) != 0 {
		t.Errorf("closed loop: %+v", r)
	}
	// Paced, on the bubble's clock: time passes only while every worker
	// waits for its next request to fall due, so the count is the
	// schedule's whatever the machine's load (on the real clock a loaded
	// machine got 115 requests out of 200 in CI-like runs, and more than
	// were due when the end was seen late).
	synctest.Test(t, func(t *testing.T) {
		r := load(context.Background(), addr, "/function/f", 4, 200, time.Second)
		if r.requests != 200 || r.errors != 0 || r.dials != 4 || len(r.service) != 200 {
			t.Errorf("paced at 200 req/s for 1s: %d requests, %d errors, %d connections, %d service times; want 200, none, 4, 200", r.requests, r.errors, r.dials, len(r.service))
		}
	})
	// A server that closes every connection: counted, reconnected.
	closer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "ok")
	}))
	defer closer.Close()
	r = load(context.Background(), strings.TrimPrefix(closer.URL, "http://"), "/", 2, 0, 200*time.Millisecond)
	if r.statuses[200] == 0 || r.dials < r.statuses[200] {
		t.Errorf("closing server: %+v, want a connection per answer", r)
	}
}

// TestHalfPeakOf summarises paced runs: percentiles from the due time and
// from the send, what the proxy adds, the connections opened.
func TestHalfPeakOf(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	// 1,000 requests: 990 at 1 ms, 10 late by 100-109 ms (behind a
	// stalled one on their connections) that took 2 ms once sent.
	var lat, svc []time.Duration
	for i := range 1000 {
		lat, svc = append(lat, time.Millisecond), append(svc, time.Millisecond)
		if i >= 990 {
			lat[i], svc[i] = time.Duration(100+i-990)*time.Millisecond, 2*time.Millisecond
		}
	}
	via := loadResult{requests: 1000, statuses: map[int]int64{200: 998, 502: 2}, latencies: lat, service: svc, dials: 33}
	direct := loadResult{requests: 10, statuses: map[int]int64{200: 10}, latencies: ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 3)}
	h := halfPeakOf(5000, via, direct, 200)
	want := HalfPeak{RPS: 5000, P50MS: 1, P99MS: 1, P999MS: 108, ServiceP99MS: 1, DirectP50MS: 1, DirectP99MS: 3,
		AddedP50MS: 0, AddedP99MS: -2, Errors: 2, ConnsOpened: 33}
	if h != want {
		t.Errorf("halfPeakOf:\n got %+v\nwant %+v", h, want)
	}
	// Rejected requests: no direct run.
	if h := halfPeakOf(100, via, loadResult{statuses: map[int]int64{}}, 429); h.Errors != 1000 || h.AddedP99MS != h.P99MS {
		t.Errorf("halfPeakOf, rejected: %+v", h)
	}
}

func TestRunChildBackend(t *testing.T) {
	in, w := io.Pipe()
	done := make(chan error, 1)
	outw := &lineWriter{lines: make(chan string, 1)}
	go func() { done <- RunChild(context.Background(), roleBackend, []string{"127.0.0.1:0"}, in, outw) }()
	addr := strings.TrimPrefix(<-outw.lines, "addr ")
	resp, err := http.Post("http://"+addr+"/function/f", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Errorf("backend answered %q", b)
	}
	w.Close() // end of stdin: the child stops
	if err := <-done; err != nil {
		t.Errorf("RunChild: %v", err)
	}
	if err := RunChild(context.Background(), "nope", nil, strings.NewReader(""), io.Discard); err == nil {
		t.Error("unknown role accepted")
	}
	if err := RunChild(context.Background(), roleEmbedded, []string{"127.0.0.1:0", "http://x", "{}", "not a certificate"}, strings.NewReader(""), io.Discard); err == nil {
		t.Error("bad certificate accepted")
	}
	if err := RunChild(context.Background(), roleEmbedded, []string{"127.0.0.1:0", "http://x", "{bad"}, strings.NewReader(""), io.Discard); err == nil {
		t.Error("bad state accepted")
	}
}

// reportText returns the text report.
func reportText(r Report) string {
	var b bytes.Buffer
	r.WriteText(&b)
	return b.String()
}

// lineWriter passes each line written to it on a channel.
type lineWriter struct{ lines chan string }

func (l *lineWriter) Write(p []byte) (int, error) {
	for _, s := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		l.lines <- s
	}
	return len(p), nil
}

// childEnv makes the test binary run a child role (see TestMain).
const childEnv = "DFAAS_DATAPLANE_CHILD"

// TestMain runs the test binary as one of Run's children (its ChildFunc,
// started by TestIntegrationRun) when childEnv is set, else the tests.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChildRole(spec))
	}
	os.Exit(m.Run())
}

// runChildRole runs the child role spec (a JSON array: role, arguments)
// and returns the exit code.
func runChildRole(spec string) int {
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil || len(args) == 0 {
		fmt.Fprintf(os.Stderr, "child role %q: %v\n", spec, err)
		return 2
	}
	if err := RunChild(context.Background(), args[0], args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestIntegrationRun runs a short measurement of every proxy with real
// HAProxy processes and checks that it reports each of them sensibly.
func TestIntegrationRun(t *testing.T) {
	bin := promtest.Binary(t, "haproxy")
	child := func(role string, a ...string) *exec.Cmd {
		spec, _ := json.Marshal(append([]string{role}, a...))
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Pinned where there are two CPUs: every proxy's threads are read
	// back on the subjects' CPU.
	allowed, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	pin := len(allowed) >= 2
	gc := &gctune.Flags{Percent: 250, Limit: 300 << 20}
	rep, err := Run(ctx, Config{Duration: 600 * time.Millisecond, Rounds: 2, Conns: 4, HAProxy: bin, Child: child, Pin: pin, AgentGC: gc})
	if err != nil {
		t.Fatal(err)
	}
	if pin != (rep.Layout != nil) || pin && (!slices.Equal(rep.Layout.Load, allowed[:1]) || !slices.Equal(rep.Layout.Subject, allowed[1:2])) {
		t.Errorf("pinned %v on CPUs %v: layout %+v", pin, allowed, rep.Layout)
	}
	if len(rep.Scenarios) != 3 || pin != strings.Contains(reportText(rep), "pinned: load generator and backend on CPU") {
		t.Fatalf("%d scenarios", len(rep.Scenarios))
	}
	for _, s := range rep.Scenarios {
		if s.Baseline != Plain || len(s.Proxies) != 3 {
			t.Errorf("%s: baseline %s, %d proxies", s.Name, s.Baseline, len(s.Proxies))
		}
		for _, m := range s.Proxies {
			if m.Requests == 0 || m.Errors != 0 || m.RPS <= 0 || m.RatioRPS <= 0 || m.CPUPer1k <= 0 || m.P99MS < m.P50MS || m.HalfPeak.RPS <= 0 || m.LoadCPU <= 0 {
				t.Errorf("%s, %s: %+v", s.Name, m.Name, m)
			}
			checkGC(t, s.Name, m, gc)
			if pin && !slices.Equal(m.CPUs, rep.Layout.Subject) {
				t.Errorf("%s, %s: threads on CPU %v, want %v", s.Name, m.Name, m.CPUs, rep.Layout.Subject)
			}
			if h := m.HalfPeak; h.ConnsOpened < 4 || h.P999MS < h.P99MS || h.ServiceP99MS <= 0 || h.ProxyCPU <= 0 {
				t.Errorf("%s, %s: half peak %+v", s.Name, m.Name, h)
			}
			// The baseline paced at this proxy's half-peak rate, in
			// interleaved slices: its own p99, not the baseline's at its rate.
			h := m.HalfPeak
			if want := map[bool]string{true: "", false: Plain}[m.Name == Plain]; h.Base != want || want != "" && (h.BaseP99MS <= 0 || math.Abs(h.AddedOverBaseP99MS-(h.P99MS-h.BaseP99MS)) > 1e-3 || math.Abs(float64(h.BaseRequests)/(h.RPS*0.3)-1) > 0.3) { // a round: 600 ms / 2
				t.Errorf("%s, %s: half peak compared with %q (p99 %v, added %v, %d requests at %v req/s), want %q paced at the same rate", s.Name, m.Name, h.Base, h.BaseP99MS, h.AddedOverBaseP99MS, h.BaseRequests, h.RPS, want)
			}
		}
		if s.Proxies[0].RatioRPS != 1 {
			t.Errorf("%s: the baseline's ratio is %v", s.Name, s.Proxies[0].RatioRPS)
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "agent-haproxy") || !strings.Contains(text.String(), "peak RSS MiB") ||
		os.Getenv("GOGC")+os.Getenv("GOMEMLIMIT") == "" && !strings.Contains(text.String(), "embedded: GC percent 250 (--gc-percent), memory limit 300 MiB (--memory-limit)") {
		t.Errorf("text report: %v\n%s", err, text.String())
	}
	t.Logf("\n%s", text.String())
}

// checkGC checks that m reports a peak RSS and, for an embedded proxy
// only, that its process ran with the garbage collector settings gc (or
// GOGC and GOMEMLIMIT, which win, when the test has them).
func checkGC(t *testing.T, scenario string, m Measure, gc *gctune.Flags) {
	t.Helper()
	if m.PeakRSSMiB < 1 || m.PeakRSSMiB > 4096 {
		t.Errorf("%s, %s: peak RSS %v MiB", scenario, m.Name, m.PeakRSSMiB)
	}
	if m.Name != Embedded && m.Name != EmbeddedTLS {
		if m.GC != nil {
			t.Errorf("%s, %s: gc %+v, want none (not an agent process)", scenario, m.Name, m.GC)
		}
		return
	}
	want := gctune.Applied{Percent: int(gc.Percent), PercentFrom: "--gc-percent", Limit: int64(gc.Limit), LimitFrom: "--memory-limit"}
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		want = gctune.Applied{}
		want.Percent, want.Limit = gctune.Current() // inherited
		want.PercentFrom, want.LimitFrom = m.GC.PercentFrom, m.GC.LimitFrom
	}
	if m.GC == nil || *m.GC != want {
		t.Errorf("%s, %s: gc %+v, want %+v", scenario, m.Name, m.GC, want)
	}
}

// TestAgentChild checks that only the embedded proxies' processes get the
// agent's garbage collector settings: the load generator and the backend
// are started with Config.Child as it is.
func TestAgentChild(t *testing.T) {
	child := func(role string, a ...string) *exec.Cmd { return exec.Command("true", role) }
	e := &env{cfg: Config{Child: child, AgentGC: &gctune.Flags{Percent: 300, Limit: 1 << 30}}}
	env := e.agentChild(roleEmbedded).Env
	if !slices.Contains(env, "AGENT_GC_PERCENT=300") || !slices.Contains(env, "AGENT_MEMORY_LIMIT=1GiB") || !slices.Contains(env, "PATH="+os.Getenv("PATH")) {
		t.Errorf("embedded proxy's environment %v: want the agent's settings added to this process's", env)
	}
	if env := e.cfg.Child(roleLoad).Env; env != nil {
		t.Errorf("load generator's environment %v, want this process's", env)
	}
	e.cfg.AgentGC = nil
	if env := e.agentChild(roleEmbedded).Env; env != nil {
		t.Errorf("no AgentGC: environment %v, want this process's", env)
	}
}

// TestRunChildEmbeddedGC runs an embedded proxy child in this process and
// checks that it applies and reports the agent's settings from
// AGENT_GC_PERCENT and AGENT_MEMORY_LIMIT.
func TestRunChildEmbeddedGC(t *testing.T) {
	p, l := gctune.Current()
	t.Cleanup(func() { debug.SetGCPercent(p); debug.SetMemoryLimit(l) })
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv(gctune.PercentEnv, "321")
	t.Setenv(gctune.LimitEnv, "123MiB")
	in, w := io.Pipe()
	done := make(chan error, 1)
	outw := &lineWriter{lines: make(chan string, 3)}
	go func() {
		done <- RunChild(context.Background(), roleEmbedded, []string{"127.0.0.1:0", "http://127.0.0.1:9", `{"self":"a"}`}, in, outw)
	}()
	next := func() string {
		select {
		case l := <-outw.lines:
			return l
		case err := <-done:
			t.Fatalf("RunChild: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("no line from the child in a minute")
		}
		return ""
	}
	line := next()
	var a gctune.Applied
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "gc ")), &a); err != nil || a.Percent != 321 || a.Limit != 123<<20 {
		t.Errorf("first line %q (%v): want gc with 321 and 123MiB", line, err)
	}
	if p, l := gctune.Current(); p != 321 || l != 123<<20 {
		t.Errorf("the process runs with %d, %d; want 321, 123MiB", p, l)
	}
	if l := next(); !strings.HasPrefix(l, "node ") {
		t.Errorf("second line %q, want node", l)
	}
	next() // addr
	w.Close()
	if err := <-done; err != nil {
		t.Errorf("RunChild: %v", err)
	}
	t.Setenv(gctune.PercentEnv, "none")
	if err := RunChild(context.Background(), roleEmbedded, []string{"127.0.0.1:0", "http://x", "{}"}, strings.NewReader(""), io.Discard); err == nil || !strings.Contains(err.Error(), gctune.PercentEnv) {
		t.Errorf("bad %s: %v", gctune.PercentEnv, err)
	}
}

func TestParseVmHWM(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  int64
		found bool
		ok    bool
	}{
		{"Name:\thaproxy\nVmPeak:\t  9000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n", 5120 << 10, true, true},
		{"Name:\tzombie\nState:\tZ (zombie)\n", 0, false, true},
		{"VmHWM:\t5120 MB\n", 0, true, false},
		{"VmHWM:\tlots kB\n", 0, true, false},
		{"VmHWM:\t-3 kB\n", 0, true, false},
	} {
		got, found, err := parseVmHWM(tc.in)
		if got != tc.want || found != tc.found || (err == nil) != tc.ok {
			t.Errorf("parseVmHWM(%q) = %d, %v, %v; want %d, %v, ok %v", tc.in, got, found, err, tc.want, tc.found, tc.ok)
		}
	}
	// This process: some MiB, at least its current RSS.
	if rss, err := peakRSS([]int{os.Getpid()}); err != nil || rss < 1<<20 {
		t.Errorf("peakRSS of this process: %d, %v", rss, err)
	}
}

// TestIntegrationRunTLS measures forwarded requests with the node-to-node
// path plain and over mutual TLS, on both proxies, and checks that each
// TLS variant is compared with its plain one.
func TestIntegrationRunTLS(t *testing.T) {
	bin := promtest.Binary(t, "haproxy")
	child := func(role string, a ...string) *exec.Cmd {
		spec, _ := json.Marshal(append([]string{role}, a...))
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Duration: 600 * time.Millisecond, Rounds: 2, Conns: 4, HAProxy: bin, Child: child,
		Scenarios: []string{Forwarded}, Proxies: []string{Plain, Agent, Embedded}, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != nil || rep.Scenarios[0].Proxies[0].CPUs != nil {
		t.Errorf("not asked to pin, but laid out %+v", rep.Layout)
	}
	var names []string
	for _, m := range rep.Scenarios[0].Proxies {
		names = append(names, m.Name)
		if m.Requests == 0 || m.Errors != 0 || m.RPS <= 0 {
			t.Errorf("%s: %+v", m.Name, m)
		}
		if want := plainOf(m.Name); (want == "") != (m.VsPlain == nil) || m.VsPlain != nil && (m.VsPlain.Of != want || m.VsPlain.RatioRPS <= 0 || m.VsPlain.RatioCPU <= 0) {
			t.Errorf("%s: compared with %+v", m.Name, m.VsPlain)
		}
		// The TLS variants of the agent and the embedded proxy against
		// two plain HAProxies with the same TLS between them.
		tlsPair := m.Name == AgentTLS || m.Name == EmbeddedTLS
		if v := m.VsPlainTLS; tlsPair != (v != nil) || v != nil && (v.Of != PlainTLS || v.RatioRPS <= 0) {
			t.Errorf("%s: compared with %+v, want with %s", m.Name, v, PlainTLS)
		}
		if want := map[bool]string{true: PlainTLS, false: Plain}[plainOf(m.Name) != ""]; m.Name != want && m.HalfPeak.Base != want {
			t.Errorf("%s: half peak compared with %q, want %q", m.Name, m.HalfPeak.Base, want)
		}
	}
	if got := strings.Join(names, ","); got != "haproxy,haproxy-tls,agent-haproxy,agent-haproxy-tls,embedded,embedded-tls" {
		t.Errorf("proxies %s", got)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "embedded-tls against embedded") || !strings.Contains(text.String(), "agent-haproxy-tls against haproxy-tls") {
		t.Errorf("text report lacks the comparison:\n%s", text.String())
	}
	t.Logf("\n%s", text.String())
}

// backend is a net/http server's handler like the trivial backend: it
// reads the body and answers "ok".
func backend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	})
}
