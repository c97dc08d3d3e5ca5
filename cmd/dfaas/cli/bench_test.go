package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// benchBuildBinary builds the dfaas binary into a directory of the test.
func benchBuildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dfaas")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/dfaas-go/dfaas/cmd/dfaas").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// benchScenario writes a small scenario and returns its path.
func benchScenario(t *testing.T, js string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.json")
	if err := os.WriteFile(path, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// benchTwoNodes: a is overloaded (60 req/s for a capacity of 40), b has
// room; 1 s periods so that a short run sees several decisions.
const benchTwoNodes = `{
  "name": "two", "duration": "60s", "period": "500ms", "seed": 3,
  "nodes": [
    {"id": "a", "functions": [{"name": "figlet", "capacity": 40}]},
    {"id": "b", "functions": [{"name": "figlet", "capacity": 120}]}
  ],
  "links": [{"a": "a", "b": "b", "rtt": "20ms"}],
  "load": [{"node": "a", "function": "figlet", "rates": [60]}, {"node": "b", "function": "figlet", "rates": [10]}]
}`

func TestBenchArrivals(t *testing.T) {
	tests := []struct {
		name string
		load sim.Load
		d    time.Duration
		want []float64 // expected count per second
	}{
		{"constant", sim.Load{Rates: []float64{200}}, 10 * time.Second, []float64{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{"steps", sim.Load{Step: sim.Duration(2 * time.Second), Rates: []float64{0, 300, 50}}, 8 * time.Second, []float64{0, 0, 300, 300, 50, 50, 50, 50}},
		{"cut", sim.Load{Step: sim.Duration(2 * time.Second), Rates: []float64{100, 0, 400}}, 3 * time.Second, []float64{100, 100, 0}},
		{"nothing", sim.Load{Rates: []float64{0}}, 5 * time.Second, []float64{0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := make([]float64, len(tt.want))
			for seed := range uint64(20) {
				a := newBenchArrivals(tt.load, tt.d, rand.New(rand.NewPCG(seed, 1)))
				prev := time.Duration(-1)
				for {
					at, ok := a.next()
					if !ok {
						break
					}
					if at <= prev || at < 0 || at >= tt.d {
						t.Fatalf("arrival %v after %v, outside [0, %v) or not increasing", at, prev, tt.d)
					}
					prev = at
					counts[int(at/time.Second)]++
				}
			}
			for i, w := range tt.want {
				got := counts[i] / 20
				// 20 runs: the mean count has a standard deviation of
				// sqrt(w/20); allow 5 of them.
				if math.Abs(got-w) > 5*math.Sqrt(w/20)+1e-9 {
					t.Errorf("second %d: mean %v arrivals, want %v", i, got, w)
				}
			}
		})
	}
}

func TestParseK6Trace(t *testing.T) {
	s, err := parseK6Trace([]byte(`{"figlet": {"node_c": [10, 20.5], "node_d": [0]}, "0": {"node_c": [5]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 || s[0].function != "0" || s[1].node != "node_c" || s[1].rates[1] != 20.5 || s[2].node != "node_d" {
		t.Fatalf("streams %+v", s)
	}
	bad := []struct{ in, want string }{
		{``, "want"},
		{`null`, "null"},
		{`[]`, "want"},
		{`{}`, "no function"},
		{`{"f": null}`, "null"},
		{`{"f": {"n": []}}`, "no rates"},
		{`{"f": {"n": [-1]}}`, "rate[0]"},
		{`{"f": {"n": [1e300]}}`, "rate[0]"},
		{`{"f": {"n": ["x"]}}`, "want"},
		{`{"": {"n": [1]}}`, "empty function"},
		{`{"f": {"": [1]}}`, "empty node"},
		{`{"f": {"n": [1]}} {}`, "trailing"},
	}
	for _, b := range bad {
		_, err := parseK6Trace([]byte(b.in))
		if err == nil || !errors.Is(err, errBenchTrace) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want one mentioning %q", b.in, err, b.want)
		}
	}
}

func TestParseCSVTrace(t *testing.T) {
	rates, step, err := parseCSVTrace([]byte("time,rate\n0,8\n60,4\n120,6.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if step != time.Minute || len(rates) != 3 || rates[2] != 6.5 {
		t.Fatalf("rates %v step %v", rates, step)
	}
	if _, step, err := parseCSVTrace([]byte("time,rate\n0,8\n")); err != nil || step != 0 {
		t.Fatalf("one row: step %v, %v", step, err)
	}
	bad := []struct{ in, want string }{
		{"", "header"},
		{"t,r\n0,1\n", "header"},
		{"time,rate\n", "no rows"},
		{"time,rate\n0,1\n0,2\n", "does not increase"},
		{"time,rate\n0,1\n60,2\n90,3\n", "even spacing"},
		{"time,rate\n0,-1\n", "rate"},
		{"time,rate\nx,1\n", "time"},
		{"time,rate\n0,NaN\n", "rate"},
		{"time,rate\n0,1,2\n", "fields"},
	}
	for _, b := range bad {
		_, _, err := parseCSVTrace([]byte(b.in))
		if err == nil || !errors.Is(err, errBenchTrace) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want one mentioning %q", b.in, err, b.want)
		}
	}
}

func FuzzParseK6Trace(f *testing.F) {
	for _, s := range []string{`{"figlet": {"node_c": [10, 20.5]}}`, `{}`, `null`, `{"f": {"n": [1e300]}}`, `{"a":{"b":[0,0,0]},"c":{"d":[1]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseK6Trace(b)
		if err != nil {
			if !errors.Is(err, errBenchTrace) {
				t.Fatalf("error %v does not wrap errBenchTrace", err)
			}
			return
		}
		for _, x := range s {
			if x.function == "" || x.node == "" || benchCheckRates(x.rates) != nil {
				t.Fatalf("accepted a bad stream %+v", x)
			}
		}
	})
}

func FuzzParseCSVTrace(f *testing.F) {
	for _, s := range []string{"time,rate\n0,8\n60,4\n", "time,rate\n", "time,rate\n0,1\n0,2\n", "\"time\",rate\n1e3,1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rates, step, err := parseCSVTrace(b)
		if err != nil {
			if !errors.Is(err, errBenchTrace) {
				t.Fatalf("error %v does not wrap errBenchTrace", err)
			}
			return
		}
		if len(rates) == 0 || step < 0 || benchCheckRates(rates) != nil {
			t.Fatalf("accepted rates %v step %v", rates, step)
		}
	})
}

func TestApplyTrace(t *testing.T) {
	dir := t.TempDir()
	k6 := filepath.Join(dir, "trace.json")
	os.WriteFile(k6, []byte(`{"0": {"node_c": [10, 20, 30], "node_d": [5]}}`), 0o644)
	csvPath := filepath.Join(dir, "trace.csv")
	os.WriteFile(csvPath, []byte("time,rate\n0,8\n60,4\n"), 0o644)
	load := func() *sim.Scenario {
		sc, err := sim.ParseScenario([]byte(benchTwoNodes))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	sc := load()
	err := applyTrace(sc, benchTraceOptions{path: k6, stage: 10 * time.Second, nodes: map[string]string{"node_c": "a", "node_d": "b"}, funcs: map[string]string{"0": "figlet"}, scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Duration.D() != 30*time.Second || len(sc.Load) != 2 || sc.Load[0].Node != "a" || sc.Load[0].Function != "figlet" ||
		sc.Load[0].Rates[2] != 60 || sc.Load[0].Step.D() != 10*time.Second || sc.Load[1].Rates[0] != 10 {
		t.Fatalf("scenario after trace: %v %+v", sc.Duration.D(), sc.Load)
	}
	sc = load()
	if err := applyTrace(sc, benchTraceOptions{path: csvPath, to: "b/figlet"}); err != nil {
		t.Fatal(err)
	}
	if sc.Duration.D() != 2*time.Minute || len(sc.Load) != 1 || sc.Load[0].Node != "b" || sc.Load[0].Step.D() != time.Minute {
		t.Fatalf("scenario after CSV trace: %v %+v", sc.Duration.D(), sc.Load)
	}
	bad := []struct {
		o    benchTraceOptions
		want string
	}{
		{benchTraceOptions{path: k6}, "--trace-stage"},
		{benchTraceOptions{path: k6, stage: time.Second}, `node "node_c" is not in the scenario`},
		{benchTraceOptions{path: k6, stage: time.Second, to: "a/figlet"}, "--trace-to is for CSV"},
		{benchTraceOptions{path: csvPath}, "--trace-to"},
		{benchTraceOptions{path: csvPath, to: "zz/figlet"}, `node "zz"`},
		{benchTraceOptions{path: csvPath, to: "a/figlet", scale: -1}, "--trace-scale"},
		{benchTraceOptions{path: filepath.Join(dir, "trace.txt")}, ".json (k6) or .csv"},
		{benchTraceOptions{path: filepath.Join(dir, "missing.json")}, "no such file"},
		{benchTraceOptions{path: k6, stage: time.Second, nodes: map[string]string{"node_c": "a", "node_d": "b"}, funcs: map[string]string{"0": "bad name!"}}, "load[0].function"},
	}
	for _, b := range bad {
		err := applyTrace(load(), b.o)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", b.o, err, b.want)
		}
	}
}

func TestBenchFunctionFlags(t *testing.T) {
	got := benchFunctionFlags([]sim.Function{
		{Name: "figlet", Capacity: 200, Concurrency: 10, Timeout: sim.Duration(time.Second)},
		{Name: "ocr", Capacity: 40, Concurrency: 4, Timeout: sim.Duration(500 * time.Millisecond)},
	})
	want := []string{"--function", "figlet,capacity=200,concurrency=10,queue=410,queue_timeout=1s",
		"--function", "ocr,capacity=40,concurrency=4,queue=44,queue_timeout=500ms,handler=echo"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	var f functionsFlag
	for i := 1; i < len(got); i += 2 {
		if err := f.Set(got[i]); err != nil {
			t.Fatalf("dfaas faas rejects %q: %v", got[i], err)
		}
	}
}

func TestBenchFlagErrors(t *testing.T) {
	sc := benchScenario(t, benchTwoNodes)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--scenario FILE is required"},
		{[]string{"--scenario", sc, "--strategy", "nope"}, `--strategy "nope"`},
		{[]string{"--scenario", sc, "--proxy", "nginx"}, `--proxy "nginx"`},
		{[]string{"--scenario", sc, "--duration", "-1s"}, "--duration"},
		{[]string{"--scenario", sc, "--netns", "maybe"}, `--netns "maybe"`},
		{[]string{"--scenario", sc, "--forecast", "crystal-ball"}, "--forecast"},
		{[]string{"--scenario", sc, "--trace-stage", "1s"}, "need --trace"},
		{[]string{"--scenario", sc, "--period", "1ms"}, "--period"},
		{[]string{"--scenario", sc, "--trace-nodes", "x"}, "need --trace"},
		{[]string{"--scenario", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{[]string{"--scenario", sc, "extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		_, _, err := runMain(t, append([]string{"bench"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tt.args, err, tt.want)
		}
	}
}

// benchRunShort runs dfaas bench on the two-node scenario for a few
// seconds with the given extra flags and returns the JSON results and the
// output directory.
func benchRunShort(t *testing.T, bin string, extra ...string) ([]sim.Result, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	args := append([]string{"bench", "--scenario", benchScenario(t, benchTwoNodes), "--duration", "4s", "--json",
		"--out", out, "--bin", bin, "--progress=false", "--form-timeout", "30s"}, extra...)
	stdout, stderr, err := runMain(t, args...)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	var rs []sim.Result
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var r sim.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rs = append(rs, r)
	}
	return rs, out
}

// benchCheckResult checks a short run of benchTwoNodes: the result adds
// up, a forwards to b, and the report is written.
func benchCheckResult(t *testing.T, rs []sim.Result, out string) {
	t.Helper()
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1", len(rs))
	}
	r := rs[0]
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
	for _, f := range []string{"report.md", "results.json", "success.png", "success.svg", "latency.png", "flow/requests.csv", "flow/series.csv", "flow/decisions.csv", "flow/rates.png", "flow/shares.svg"} {
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
	bin := benchBuildBinary(t)
	rs, out := benchRunShort(t, bin, "--netns", "off")
	benchCheckResult(t, rs, out)
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "not run in network namespaces") {
		t.Error("report does not say the run was on loopback")
	}
}

// TestIntegrationBenchHAProxy runs a short bench with HAProxy as every
// node's proxy.
func TestIntegrationBenchHAProxy(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("DFAAS_INTEGRATION") == "1" {
			t.Fatal("DFAAS_INTEGRATION=1 but haproxy is not installed")
		}
		t.Skip("haproxy not installed")
	}
	bin := benchBuildBinary(t)
	rs, out := benchRunShort(t, bin, "--proxy", "haproxy")
	benchCheckResult(t, rs, out)
}

// TestBenchNetns runs a short bench with a namespace per node and checks
// that the link's RTT is paid by forwarded requests and that unlinked
// nodes never forward to each other.
func TestBenchNetns(t *testing.T) {
	if err := benchNetnsAvailable(); err != nil {
		t.Skip(err)
	}
	bin := benchBuildBinary(t)
	// c is linked to b only; a overloads and may use b alone.
	sc := benchScenario(t, `{
  "name": "line", "duration": "60s", "period": "500ms", "seed": 5,
  "nodes": [
    {"id": "a", "functions": [{"name": "figlet", "capacity": 40}]},
    {"id": "b", "functions": [{"name": "figlet", "capacity": 120}]},
    {"id": "c", "functions": [{"name": "figlet", "capacity": 300}]}
  ],
  "links": [{"a": "a", "b": "b", "rtt": "60ms"}, {"a": "b", "b": "c", "rtt": "2ms"}],
  "load": [{"node": "a", "function": "figlet", "rates": [70]}]
}`)
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, err := runMain(t, "bench", "--scenario", sc, "--duration", "4s", "--json", "--out", out, "--bin", bin,
		"--progress=false", "--netns", "on", "--netns-prefix", "dfbtline")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	f, err := os.Open(filepath.Join(out, "flow", "requests.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fwd, fast int
	s := bufio.NewScanner(f)
	for s.Scan() {
		c := strings.Split(s.Text(), ",")
		if c[1] != "a" || c[3] != "served" {
			continue
		}
		if c[6] == "c" {
			t.Fatalf("a forwarded to c, which it has no link to: %s", s.Text())
		}
		if c[6] == "b" {
			fwd++
			var ms float64
			json.Unmarshal([]byte(c[5]), &ms)
			if ms < 60 {
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
	benchInterrupt(t, "embedded")
}

// TestIntegrationBenchInterruptHAProxy: as TestBenchInterrupt, with an
// HAProxy per node, a grandchild of the bench.
func TestIntegrationBenchInterruptHAProxy(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("DFAAS_INTEGRATION") == "1" {
			t.Fatal("DFAAS_INTEGRATION=1 but haproxy is not installed")
		}
		t.Skip("haproxy not installed")
	}
	benchInterrupt(t, "haproxy")
}

func benchInterrupt(t *testing.T, proxy string) {
	bin := benchBuildBinary(t)
	modes := []string{"off"}
	if benchNetnsAvailable() == nil {
		modes = append(modes, "on")
	}
	for _, mode := range modes {
		t.Run("netns="+mode, func(t *testing.T) {
			// The bench's TMPDIR, which must be empty afterwards; short,
			// as HAProxy's sockets live there.
			tmp, err := os.MkdirTemp("", "dfbi")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(tmp) })
			out := filepath.Join(t.TempDir(), "out")
			prefix := "dfbi" + proxy[:1] + mode
			args := []string{"bench", "--scenario", benchScenario(t, benchTwoNodes), "--duration", "60s", "--out", out,
				"--netns", mode, "--netns-prefix", prefix, "--proxy", proxy}
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait for the load to be under way (the progress bar counts it).
			sawLoad := make(chan bool, 1)
			var tail strings.Builder
			var wg sync.WaitGroup
			wg.Go(func() {
				r := bufio.NewReader(stderr)
				saw := false
				for {
					s, err := r.ReadString('\r')
					tail.WriteString(s)
					if !saw && strings.Contains(s, "offered") && !strings.Contains(s, "offered 0 ") {
						saw = true
						sawLoad <- true
					}
					if err != nil {
						if !saw {
							sawLoad <- false
						}
						return
					}
				}
			})
			select {
			case ok := <-sawLoad:
				if !ok {
					cmd.Wait()
					wg.Wait()
					t.Fatalf("bench ended before sending load:\n%s", tail.String())
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
			wg.Go(func() { done <- cmd.Wait() })
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				<-done
				wg.Wait()
				t.Fatal("bench did not exit within 60 s of SIGINT")
			}
			wg.Wait()
			if !strings.Contains(tail.String(), "interrupted") {
				t.Errorf("bench did not say it was interrupted:\n%s", tail.String())
			}
			if err == nil {
				t.Error("interrupted bench exited with status 0")
			}
			if pids := benchPidsMentioning(bin); len(pids) > 0 {
				t.Errorf("processes left behind: %v", pids)
				for _, p := range pids {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
			if pids := benchPidsMentioning(tmp); len(pids) > 0 {
				t.Errorf("processes using the bench's files left behind: %v", pids)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				t.Errorf("files left in TMPDIR: %v", ents)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output directory written by an interrupted run: %v", err)
			}
			if ents, _ := os.ReadDir("/var/run/netns"); len(ents) > 0 {
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), prefix) {
						t.Errorf("namespace %s left behind", e.Name())
						exec.Command("ip", "netns", "del", e.Name()).Run()
					}
				}
			}
		})
	}
}
