package promtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/freeport"
	"github.com/dfaas-go/dfaas/internal/syncbuf"
)

// Binary returns the path of the first of names found in PATH (or
// /usr/sbin, /usr/bin), or skips t — fails it under DFAAS_INTEGRATION=1.
func Binary(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p
			}
		}
	}
	if os.Getenv("DFAAS_INTEGRATION") == "1" {
		t.Fatalf("none of %v found, and DFAAS_INTEGRATION=1 (apt-get install -y prometheus prometheus-node-exporter)", names)
	}
	t.Skipf("none of %v found (set DFAAS_INTEGRATION=1 to make this a failure)", names)
	return ""
}

// Require skips t when a piece it needs is missing (err is not nil, and
// says what), or fails it under DFAAS_INTEGRATION=1, where CI provides
// every piece (.ci/run: root, /dev/net/tun, iproute2, openssl...).
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("DFAAS_INTEGRATION") == "1" {
		t.Fatalf("DFAAS_INTEGRATION=1 but %v", err)
	}
	t.Skipf("%v (set DFAAS_INTEGRATION=1 to make this a failure)", err)
}

// RequireNetns skips t (fails it under DFAAS_INTEGRATION=1, see Require)
// unless this process may create network namespaces with ip (iproute2):
// it runs as root and finds the ip command.
func RequireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Require(t, errors.New("creating network namespaces needs root"))
	}
	Binary(t, "ip") // iproute2
}

// FreePort returns a loopback address with a port that was free a moment
// ago and that FreePort has not returned before in this process (a test
// that asks for two addresses must not get the same one twice). The port
// is below the ephemeral range (package freeport says why).
func FreePort(t testing.TB) string {
	t.Helper()
	addr, err := freeport.TCP("127.0.0.1", func(a string) bool {
		_, given := handedOut.LoadOrStore(a, true)
		return given
	})
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// handedOut are the addresses FreePort has returned (a test harness's
// state, for the life of the test binary).
var handedOut sync.Map

// process is a child process the test owns.
type process struct {
	mu   sync.Mutex
	bin  string
	args []string
	log  *syncbuf.Buffer
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// stop sends SIGTERM (SIGKILL after 10 s) and waits. It is idempotent.
func (p *process) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// waitHTTP polls url until it answers 200 or timeout passes.
func waitHTTP(ctx context.Context, u string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", u, timeout, last)
}

// NodeExporter is a running node_exporter.
type NodeExporter struct {
	// URL is its /metrics URL.
	URL string
	p   *process
}

// StartNodeExporter starts node_exporter with only the cpu and meminfo
// collectors on a loopback port.
func StartNodeExporter(t testing.TB) *NodeExporter {
	t.Helper()
	bin := Binary(t, "prometheus-node-exporter", "node_exporter")
	addr := FreePort(t)
	p := &process{bin: bin, log: &syncbuf.Buffer{}, args: []string{
		"--web.listen-address=" + addr, "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo",
	}}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	ne := &NodeExporter{URL: "http://" + addr + "/metrics", p: p}
	if err := waitHTTP(context.Background(), ne.URL, 15*time.Second); err != nil {
		t.Fatalf("node_exporter: %v\n%s", err, p.log)
	}
	return ne
}

// Prometheus is a running Prometheus server.
type Prometheus struct {
	// URL is its base URL; Addr its host:port.
	URL, Addr string
	p         *process
}

// Job is a scrape job: its name and targets (host:port, path /metrics
// unless MetricsPath is set).
type Job struct {
	Name        string
	Targets     []string
	MetricsPath string
}

// StartPrometheus starts Prometheus scraping jobs every interval, with a
// temporary data directory, on a loopback port, and waits until it is
// ready.
func StartPrometheus(t testing.TB, interval time.Duration, jobs ...Job) *Prometheus {
	t.Helper()
	bin := Binary(t, "prometheus")
	dir := t.TempDir()
	var cfg strings.Builder
	iv := strconv.FormatInt(interval.Milliseconds(), 10) + "ms"
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\nscrape_configs:\n", iv, iv, iv)
	for _, j := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %q\n", j.Name)
		if j.MetricsPath != "" {
			fmt.Fprintf(&cfg, "    metrics_path: %q\n", j.MetricsPath)
		}
		fmt.Fprintf(&cfg, "    static_configs:\n      - targets: [")
		for i, tg := range j.Targets {
			if i > 0 {
				cfg.WriteString(", ")
			}
			fmt.Fprintf(&cfg, "%q", tg)
		}
		cfg.WriteString("]\n")
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreePort(t)
	p := &process{bin: bin, log: &syncbuf.Buffer{}, args: []string{
		"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--storage.tsdb.retention.time=1h",
	}}
	pr := &Prometheus{URL: "http://" + addr, Addr: addr, p: p}
	t.Cleanup(p.stop)
	if err := pr.Start(); err != nil {
		t.Fatalf("prometheus: %v\n%s", err, p.log)
	}
	return pr
}

// Start starts Prometheus again after Stop (same port and data) and waits
// until it is ready.
func (pr *Prometheus) Start() error {
	if err := pr.p.start(); err != nil {
		return err
	}
	return waitHTTP(context.Background(), pr.URL+"/-/ready", 30*time.Second)
}

// Stop stops Prometheus. It is idempotent.
func (pr *Prometheus) Stop() { pr.p.stop() }

// Log returns what Prometheus printed.
func (pr *Prometheus) Log() string { return pr.p.log.String() }

// WaitUp waits until every target of the named jobs has up == 1.
func (pr *Prometheus) WaitUp(t testing.TB, timeout time.Duration, jobs ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		all := true
		for _, j := range jobs {
			v, err := pr.Scalar(fmt.Sprintf(`min(up{job=%q})`, j))
			if err != nil || v != 1 {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("targets of %v not up after %v:\n%s\nPrometheus log:\n%s", jobs, timeout, pr.targets(), pr.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// targets describes every target's health and last scrape error, for a
// failure message.
func (pr *Prometheus) targets() string {
	resp, err := http.Get(pr.URL + "/api/v1/targets")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			ActiveTargets []struct {
				ScrapePool         string  `json:"scrapePool"`
				ScrapeURL          string  `json:"scrapeUrl"`
				Health             string  `json:"health"`
				LastError          string  `json:"lastError"`
				LastScrapeDuration float64 `json:"lastScrapeDuration"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, tg := range body.Data.ActiveTargets {
		fmt.Fprintf(&b, "  %s %s: %s (last scrape %.3fs) %s\n", tg.ScrapePool, tg.ScrapeURL, tg.Health, tg.LastScrapeDuration, tg.LastError)
	}
	return b.String()
}

// Scalar evaluates an expression that yields one sample, now.
func (pr *Prometheus) Scalar(expr string) (float64, error) {
	vals, err := pr.Query(expr)
	if err != nil {
		return 0, err
	}
	if len(vals) != 1 {
		return 0, fmt.Errorf("query %s: %d samples", expr, len(vals))
	}
	return vals[0], nil
}

// Query evaluates an instant-vector expression now and returns the values
// of its samples.
func (pr *Prometheus) Query(expr string) ([]float64, error) {
	resp, err := http.PostForm(pr.URL+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, body.Error)
	}
	out := make([]float64, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %q: %w", expr, s, err)
		}
		out = append(out, v)
	}
	return out, nil
}
