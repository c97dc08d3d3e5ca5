package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/heavytest"
	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/internal/testbed"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// buildBinary builds the dfaas binary, whose processes the bench runs,
// into a directory of the test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dfaas")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/dfaas-go/dfaas/cmd/dfaas").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// twoNodes: a is overloaded (60 req/s for a capacity of 40), b has room;
// 500 ms periods so that a short run sees several decisions.
const twoNodes = `{
  "name": "two", "duration": "60s", "period": "500ms", "seed": 3,
  "nodes": [
    {"id": "a", "functions": [{"name": "figlet", "capacity": 40}]},
    {"id": "b", "functions": [{"name": "figlet", "capacity": 120}]}
  ],
  "links": [{"a": "a", "b": "b", "rtt": "20ms"}],
  "load": [{"node": "a", "function": "figlet", "rates": [60]}, {"node": "b", "function": "figlet", "rates": [10]}]
}`

// shortRun runs the scenario js, cut to 4 s, with flow and the given
// proxy and namespace mode (and the changes of opt, if any), and writes
// the report into a directory it returns.
func shortRun(t *testing.T, bin, js, proxy, netns, prefix string, opt ...func(*Options)) (*report.Report, string) {
	t.Helper()
	sc, err := sim.ParseScenario([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	full := sc.Duration.D()
	sc.Duration = sim.Duration(4 * time.Second)
	o := Options{
		Scenario: sc, Full: full, Strategies: []string{"flow"}, Registry: strategy.Builtin(), Proxy: proxy,
		Forecast: "auto", Netns: netns, Prefix: prefix, Sim: true, Timeout: 10 * time.Second, Form: 30 * time.Second,
		LogLevel: "warn", Bin: bin, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range opt {
		f(&o)
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := report.Write(out, rep); err != nil {
		t.Fatal(err)
	}
	return rep, out
}

// checkTwoNodes checks a short run of twoNodes: the result adds up, a
// forwards to b, and the report is written.
func checkTwoNodes(t *testing.T, rep *report.Report, out string) {
	t.Helper()
	if len(rep.Runs) != 1 || rep.Runs[0].Sim == nil {
		t.Fatalf("%d runs", len(rep.Runs))
	}
	r := rep.Runs[0].Bench
	if r.Mode != "bench" || r.Scenario != "two" || r.Strategy != "flow" || r.OracleSuccessRate != 1 {
		t.Fatalf("result %+v", r)
	}
	// 4 s of 70 req/s: about 280 requests.
	if r.Offered < 150 || r.Offered > 420 || r.Offered != r.Served+r.Rejected+r.Failed || len(r.Nodes) != 2 {
		t.Fatalf("counts %+v", r)
	}
	if r.Nodes[0].Forwarded == 0 {
		t.Errorf("overloaded node a forwarded nothing: %+v", r.Nodes[0])
	}
	if r.SuccessRate < 0.5 {
		t.Errorf("success rate %v", r.SuccessRate)
	}
	for _, f := range []string{"report.md", "results.json", "success.png", "success.svg", "latency.png", "strategies.pdf", "flow/requests.csv", "flow/series.csv",
		"flow/decisions.csv", "flow/sim-series.csv", "flow/rates.png", "flow/outcomes.png", "flow/shares.svg"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "| flow |") {
		t.Errorf("report.md has no row for flow:\n%s", md)
	}
}

// TestBenchLoopback runs a short bench on loopback with the embedded proxy.
func TestBenchLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	heavytest.Lock(t)
	rep, out := shortRun(t, buildBinary(t), twoNodes, "embedded", "off", "")
	checkTwoNodes(t, rep, out)
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "not run in network namespaces") {
		t.Error("report does not say the run was on loopback")
	}
}

// TestBenchRepeat runs two strategies twice each on loopback and checks
// that the runs are interleaved with the seeds of their run, that the
// simulator ran each seed, that each strategy's result has confidence
// intervals, and that each run's files are written.
func TestBenchRepeat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	heavytest.Lock(t)
	var emitted []report.Result
	rep, out := shortRun(t, buildBinary(t), twoNodes, "embedded", "off", "", func(o *Options) {
		o.Strategies, o.Repeat = []string{"flow", "alllocal"}, 2
		o.Emit = func(r report.Result) { emitted = append(emitted, r) }
	})
	var order []string
	for _, r := range rep.Runs {
		order = append(order, fmt.Sprintf("%s/%d/%d", r.Strategy, r.Repeat, r.Seed))
		if r.Sim == nil || r.Bench.Offered == 0 || len(r.SimSeries) == 0 {
			t.Errorf("run %s: sim %v, offered %d, %d simulated periods", r.Strategy, r.Sim != nil, r.Bench.Offered, len(r.SimSeries))
		}
	}
	if want := []string{"flow/1/3", "alllocal/1/3", "flow/2/4", "alllocal/2/4"}; !slices.Equal(order, want) {
		t.Fatalf("runs %v, want %v", order, want)
	}
	// The two seeds draw different arrivals.
	if a, b := rep.Runs[0].Records, rep.Runs[2].Records; len(a) > 0 && len(b) > 0 && a[0].At == b[0].At {
		t.Errorf("runs with seeds 3 and 4 have the same first arrival %v", a[0].At)
	}
	if len(emitted) != 2 || emitted[0].Strategy != "flow" || emitted[0].Repeats != 2 || emitted[0].SuccessRateCI95 == nil || emitted[1].LatencyCI95 == nil {
		t.Fatalf("emitted %+v", emitted)
	}
	for _, f := range []string{"flow/run1/requests.csv", "flow/run2/outcomes.png", "alllocal/run2/series.csv", "strategies.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "### Each run") || !strings.Contains(string(md), "% [") {
		t.Errorf("report has no runs or intervals:\n%s", md)
	}
}

// TestIntegrationBenchHAProxy runs a short bench with HAProxy as every
// node's proxy.
func TestIntegrationBenchHAProxy(t *testing.T) {
	promtest.Binary(t, "haproxy")
	heavytest.Lock(t)
	rep, out := shortRun(t, buildBinary(t), twoNodes, "haproxy", "auto", "")
	checkTwoNodes(t, rep, out)
}

// TestBenchNetns runs a short bench with a namespace per node and checks
// that the link's RTT is paid by forwarded requests and that unlinked
// nodes never forward to each other.
func TestBenchNetns(t *testing.T) {
	promtest.Require(t, testbed.NetnsAvailable())
	heavytest.Lock(t)
	// c is linked to b only; a overloads and may use b alone.
	rep, _ := shortRun(t, buildBinary(t), `{
  "name": "line", "duration": "60s", "period": "500ms", "seed": 5,
  "nodes": [
    {"id": "a", "functions": [{"name": "figlet", "capacity": 40}]},
    {"id": "b", "functions": [{"name": "figlet", "capacity": 120}]},
    {"id": "c", "functions": [{"name": "figlet", "capacity": 300}]}
  ],
  "links": [{"a": "a", "b": "b", "rtt": "60ms"}, {"a": "b", "b": "c", "rtt": "2ms"}],
  "load": [{"node": "a", "function": "figlet", "rates": [70]}]
}`, "embedded", "on", fmt.Sprintf("dfbtl%d", os.Getpid()))
	var fwd, fast int
	for _, r := range rep.Runs[0].Records {
		if r.Node != "a" || r.Outcome != report.Served {
			continue
		}
		switch r.ForwardedTo {
		case "c":
			t.Fatalf("a forwarded to c, which it has no link to: %+v", r)
		case "b":
			fwd++
			if r.Latency < 60*time.Millisecond {
				fast++
			}
		}
	}
	if fwd == 0 {
		t.Fatal("a forwarded nothing to b")
	}
	if fast > 0 {
		t.Errorf("%d of %d requests forwarded over a 60 ms link took less than 60 ms", fast, fwd)
	}
}

// TestBenchInterrupt interrupts dfaas bench with SIGINT during the load
// and checks that it leaves no process, namespace or file behind (embedded
// proxy; TestIntegrationBenchInterruptHAProxy does the same with HAProxy).
func TestBenchInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	interrupt(t, "embedded")
}

// TestIntegrationBenchInterruptHAProxy: as TestBenchInterrupt, with an
// HAProxy per node, a grandchild of the bench.
func TestIntegrationBenchInterruptHAProxy(t *testing.T) {
	promtest.Binary(t, "haproxy")
	interrupt(t, "haproxy")
}

func interrupt(t *testing.T, proxy string) {
	heavytest.Lock(t)
	bin := buildBinary(t)
	modes := []string{"off", "on"}
	dir := t.TempDir()
	scenario := filepath.Join(dir, "two.json")
	if err := os.WriteFile(scenario, []byte(twoNodes), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range modes {
		t.Run("netns="+mode, func(t *testing.T) {
			if mode == "on" {
				promtest.Require(t, testbed.NetnsAvailable())
			}
			// The bench's TMPDIR, which must be empty afterwards; short,
			// as HAProxy's sockets live there.
			tmp, err := os.MkdirTemp("", "dfbi")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(tmp) })
			out := filepath.Join(t.TempDir(), "out")
			prefix := fmt.Sprintf("dfbi%s%s%d", proxy[:1], mode, os.Getpid())
			cmd := exec.Command(bin, "bench", "--scenario", scenario, "--duration", "60s", "--out", out,
				"--netns", mode, "--netns-prefix", prefix, "--proxy", proxy)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			log := interruptDuringLoad(t, cmd)
			if !strings.Contains(log, "interrupted") {
				t.Errorf("bench did not say it was interrupted:\n%s", log)
			}
			if cmd.ProcessState.Success() {
				t.Error("interrupted bench exited with status 0")
			}
			checkNothingLeft(t, bin, tmp, out, prefix)
		})
	}
}

// interruptDuringLoad starts cmd, sends it SIGINT once its progress lines
// show load, waits for it to exit and returns its standard error.
func interruptDuringLoad(t *testing.T, cmd *exec.Cmd) string {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the load to be under way (a progress line counts it).
	sawLoad := make(chan bool, 1)
	var log strings.Builder
	var wg sync.WaitGroup
	wg.Go(func() {
		s := bufio.NewScanner(stderr)
		saw := false
		for s.Scan() {
			line := s.Text()
			log.WriteString(line + "\n")
			if !saw && strings.Contains(line, "offered") && !strings.Contains(line, "offered 0 ") {
				saw = true
				sawLoad <- true
			}
		}
		if !saw {
			sawLoad <- false
		}
	})
	select {
	case ok := <-sawLoad:
		if !ok {
			cmd.Wait()
			wg.Wait()
			t.Fatalf("bench ended before sending load:\n%s", log.String())
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		wg.Wait()
		t.Fatal("no load after 90 s")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { wg.Wait(); done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("bench did not exit within 60 s of SIGINT")
	}
	return log.String()
}

// checkNothingLeft fails t if a process of bin or using tmp, a file in
// tmp, the output directory out, or a namespace named prefix* is left.
func checkNothingLeft(t *testing.T, bin, tmp, out, prefix string) {
	if pids := testbed.PidsMentioning(bin); len(pids) > 0 {
		t.Errorf("processes left behind: %v", pids)
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
	if pids := testbed.PidsMentioning(tmp); len(pids) > 0 {
		t.Errorf("processes using the bench's files left behind: %v", pids)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		t.Errorf("files left in TMPDIR: %v", ents)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output directory written by an interrupted run: %v", err)
	}
	ents, _ := os.ReadDir("/var/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s left behind", e.Name())
			exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

// TestBenchOpenWhisk runs a short bench with --faas openwhisk: every node's
// dfaas faas serves OpenWhisk's API and its agent lists and invokes the
// functions through it (a third node, with no function, has had every
// built-in action deleted through that API). The result adds up, the
// overloaded node forwards, and the report says which API the nodes used.
func TestBenchOpenWhisk(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	heavytest.Lock(t)
	three := strings.Replace(twoNodes, `{"id": "b", "functions": [{"name": "figlet", "capacity": 120}]}`,
		`{"id": "b", "functions": [{"name": "figlet", "capacity": 120}]}, {"id": "c"}`, 1)
	three = strings.Replace(three, `"links": [`, `"links": [{"a": "b", "b": "c", "rtt": "2ms"}, `, 1)
	rep, out := shortRun(t, buildBinary(t), three, "embedded", "off", "", func(o *Options) { o.FaaS = "openwhisk" })
	if len(rep.Runs) != 1 {
		t.Fatalf("%d runs", len(rep.Runs))
	}
	r := rep.Runs[0].Bench
	if r.Offered < 150 || r.Offered > 420 || r.Offered != r.Served+r.Rejected+r.Failed || len(r.Nodes) != 3 {
		t.Fatalf("counts %+v", r)
	}
	if r.Nodes[0].Forwarded == 0 {
		t.Errorf("overloaded node a forwarded nothing: %+v", r.Nodes[0])
	}
	if r.SuccessRate < 0.5 {
		t.Errorf("success rate %v (%d failed, %d rejected)", r.SuccessRate, r.Failed, r.Rejected)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "--faas openwhisk") {
		t.Errorf("report.md does not say the nodes ran OpenWhisk's API:\n%s", md)
	}
}
