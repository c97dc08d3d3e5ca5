package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/internal/heavytest"
	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/strategy"
)

// bg runs a dfaas command in the background until stop is called; stop
// waits for it and returns its error.
func bg(t *testing.T, args ...string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard})
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitReady polls url until it answers (any status).
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// agentStatus is what /status answers.
type agentStatus = dfaas.Status

func getStatus(t *testing.T, admin string) agentStatus {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st agentStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func healthz(admin string) (int, string) {
	resp, err := http.Get("http://" + admin + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitHealth polls /healthz until it answers code (with want in the body).
func waitHealth(t *testing.T, admin string, code int, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var c int
	var body string
	for time.Now().Before(deadline) {
		if c, body = healthz(admin); c == code && strings.Contains(body, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("/healthz: %d %s; want %d with %q within %v", c, body, code, want, within)
}

// waitGrows polls f until it exceeds the value it had at the call, failing
// t after within: progress (cycles run, requests answered) is waited for
// as an event, not checked after a fixed sleep that a loaded machine may
// not give it time in (a stopped control loop or proxy still fails).
func waitGrows[T cmp.Ordered](t *testing.T, what string, within time.Duration, f func() T) {
	t.Helper()
	v0 := f()
	for deadline := time.Now().Add(within); f() <= v0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after %v", what, f(), within)
		}
	}
}

// steadyLoad sends evenly spaced requests at rate req/s to each url until
// ctx is done, counting answers by status.
type steadyLoad struct {
	mu    sync.Mutex
	codes map[string]map[int]int
}

func (l *steadyLoad) run(ctx context.Context, g *errgroup.Group, rate float64, urls ...string) {
	l.codes = map[string]map[int]int{}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	for _, u := range urls {
		l.codes[u] = map[int]int{}
		g.Go(func() error {
			var wg sync.WaitGroup
			defer wg.Wait()
			gap := time.Duration(float64(time.Second) / rate)
			next := time.Now()
			for {
				next = next.Add(gap)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Until(next)):
				}
				wg.Go(func() {
					code := 0
					if resp, err := client.Post(u, "text/plain", strings.NewReader("DFaaS")); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						code = resp.StatusCode
					}
					l.mu.Lock()
					l.codes[u][code]++
					l.mu.Unlock()
				})
			}
		})
	}
}

func (l *steadyLoad) snapshot(u string) map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]int{}
	for k, v := range l.codes[u] {
		out[k] = v
	}
	return out
}

// TestIntegrationSameDecisions: two agents under the same constant load,
// one with the embedded defaults (embedded FaaS, scraping source) and one
// with --faas openfaas --metrics prometheus against dfaas faas and a real
// Prometheus, decide the same shares.
//
// "Same": in at least 6 cycles (of at most 20 observed after warm-up), the
// local shares differ by at most 0.05, agent a's is within 0.1 of u·C/λ,
// and both route the rest to rejection. A cycle counts only when both
// agents saw the same offered rate (within 5%) and agent a's metrics
// source was healthy: a stall of the load generator or of one agent's
// window, or a Prometheus scrape missed under load (a decides one cycle on
// its fallback), changes the inputs, so neither need the decisions agree.
// With constant arrivals, both sources estimate the same offered rate λ up
// to window alignment (±1 request per window edge, ±1 scrape interval of
// Prometheus extrapolation jitter); recalc's local share is u·C/λ, so a
// relative error ε in λ moves it by about share·ε. At λ = 120 req/s over
// 2-4 s windows ε is around 1 %, i.e. 0.005 on a share of 0.5. A
// systematic difference (a rate read from the wrong series, a window off
// by a factor, a missing function, a source never healthy) fails every
// cycle, so no count of cycles reaches 6; forwarding or a missing route
// fails at once. (Under load above ~5 on two cores, stalls spoil up to
// half of the cycles: hence 20 observed for 6 needed.)
func TestIntegrationSameDecisions(t *testing.T) {
	const (
		rate     = 120.0 // req/s at each node
		capacity = 60.0
		period   = 2 * time.Second
	)
	heavytest.Lock(t)
	ne := promtest.StartNodeExporter(t)
	faasAddr := promtest.FreePort(t)
	bg(t, "faas", "--listen", faasAddr, "--namespace", "openfaas-fn", "--function", fmt.Sprintf("figlet,capacity=%g,concurrency=6", capacity))
	waitReady(t, "http://"+faasAddr+"/healthz")

	adminA, adminB := promtest.FreePort(t), promtest.FreePort(t)
	proxyA, proxyB := promtest.FreePort(t), promtest.FreePort(t)
	pr := promtest.StartPrometheus(t, time.Second,
		promtest.Job{Name: "dfaas-agent", Targets: []string{adminA}},
		promtest.Job{Name: "openfaas-gateway", Targets: []string{faasAddr}},
		promtest.Job{Name: "node", Targets: []string{strings.TrimSuffix(strings.TrimPrefix(ne.URL, "http://"), "/metrics")}},
	)
	common := []string{"--strategy", "recalc", "--period", period.String(), "--log-level", "error"}
	bg(t, append([]string{"agent", "--peer-listen", "127.0.0.1:0", "--http", adminA, "--proxy-listen", proxyA, "--node-listen", "127.0.0.1:0",
		"--faas", "openfaas", "--openfaas-url", "http://" + faasAddr,
		"--metrics", "prometheus", "--prometheus-url", pr.URL, "--prometheus-scrape-interval", "1s"}, common...)...)
	bg(t, append([]string{"agent", "--peer-listen", "127.0.0.1:0", "--http", adminB, "--proxy-listen", proxyB, "--node-listen", "127.0.0.1:0",
		"--function", fmt.Sprintf("figlet,capacity=%g,concurrency=6", capacity)}, common...)...)
	waitReady(t, "http://"+adminA+"/healthz")
	waitReady(t, "http://"+adminB+"/healthz")
	pr.WaitUp(t, time.Minute, "dfaas-agent", "openfaas-gateway", "node")

	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	var load steadyLoad
	load.run(ctx, g, rate, "http://"+proxyA+"/function/figlet", "http://"+proxyB+"/function/figlet")
	defer func() { cancel(); g.Wait() }()

	time.Sleep(6 * period) // warm-up: full windows of load in both sources
	const observe, need = 20, 6
	var agreed int
	for i := 0; i < observe && agreed < need; i++ {
		time.Sleep(period)
		a, b := getStatus(t, adminA), getStatus(t, adminB)
		if sameDecision(t, a, b, strategy.DefaultUtilization*capacity/rate, rate) {
			agreed++
		}
	}
	if agreed < need {
		t.Errorf("only %d cycles of %d with the same inputs at both agents decided the same: want %d (see the log above)", agreed, observe, need)
	}
	checkDashboard(t, pr)
}

// sameDecision reports whether one cycle of TestIntegrationSameDecisions
// counts as agreeing: both agents saw the same offered rate (within 5% of
// rate), agent a's metrics source was healthy, their local shares differ
// by at most 0.05 and a's is within 0.1 of want. A route missing or
// forwarding by a standalone agent fails the test.
func sameDecision(t *testing.T, a, b agentStatus, want, rate float64) bool {
	t.Helper()
	fa, okA := a.Decision.Route("figlet")
	fb, okB := b.Decision.Route("figlet")
	if !okA || !okB {
		t.Fatalf("no route for figlet: a %+v b %+v", a.Decision, b.Decision)
	}
	if len(fa.Forward) != 0 || len(fb.Forward) != 0 {
		t.Fatalf("standalone agents forward: a %+v b %+v", fa, fb)
	}
	var offA, offB float64
	for _, f := range a.Functions {
		offA = f.Offered
	}
	for _, f := range b.Functions {
		offB = f.Offered
	}
	h := a.Health[dfaas.ComponentMetrics]
	t.Logf("cycle a=%d b=%d: offered a %.1f b %.1f req/s; local a %.4f b %.4f; reject a %.4f b %.4f; a's metrics %q",
		a.Cycles, b.Cycles, offA, offB, fa.Local, fb.Local, fa.Reject, fb.Reject, h)
	switch d := math.Abs(fa.Local - fb.Local); {
	case h != "ok":
		t.Logf("  not compared: agent a's Prometheus source is not healthy")
	case math.Abs(offA-offB) > 0.05*rate:
		t.Logf("  not compared: offered rates differ by more than 5%%")
	case d > 0.05:
		t.Logf("  differ: local shares %.4f apart, more than 0.05", d)
	case math.Abs(fa.Local-want) > 0.1:
		t.Logf("  differ: agent a's local share is far from u·C/λ = %.4f", want)
	default:
		return true
	}
	return false
}

// checkDashboard checks that every query of the Grafana dashboard runs on
// the Prometheus pr, and that those about what the setup has return data.
func checkDashboard(t *testing.T, pr *promtest.Prometheus) {
	data, err := os.ReadFile("../../../deploy/grafana/dfaas.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "4s", "$instance", ".*", "$gateway", ".*", "$node", ".*")
	mayBeEmpty := regexp.MustCompile(`rtt|neighbour_|send_errors|peers\b|messages_received|forecast_absolute|cycle_errors`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			vals, err := pr.Query(vars.Replace(tg.Expr))
			switch {
			case err != nil:
				t.Errorf("dashboard panel %q: %v", p.Title, err)
			case len(vals) == 0 && !mayBeEmpty.MatchString(tg.Expr):
				t.Errorf("dashboard panel %q: no data for %s", p.Title, tg.Expr)
			}
		}
	}
}

// TestIntegrationOutage: an agent with --faas openfaas --metrics prometheus
// keeps serving while the gateway or Prometheus is killed; /healthz turns
// 503 naming the failing component and back to 200 when it returns.
func TestIntegrationOutage(t *testing.T) {
	heavytest.Lock(t)
	ne := promtest.StartNodeExporter(t)
	faasAddr := promtest.FreePort(t)
	faasArgs := []string{"faas", "--listen", faasAddr, "--function", "figlet,capacity=200,concurrency=20"}
	stopFaaS := bg(t, faasArgs...)
	waitReady(t, "http://"+faasAddr+"/healthz")
	admin, proxy := promtest.FreePort(t), promtest.FreePort(t)
	pr := promtest.StartPrometheus(t, time.Second,
		promtest.Job{Name: "dfaas-agent", Targets: []string{admin}},
		promtest.Job{Name: "openfaas-gateway", Targets: []string{faasAddr}},
		promtest.Job{Name: "node", Targets: []string{strings.TrimSuffix(strings.TrimPrefix(ne.URL, "http://"), "/metrics")}},
	)
	bg(t, "agent", "--peer-listen", "127.0.0.1:0", "--http", admin, "--proxy-listen", proxy, "--node-listen", "127.0.0.1:0", "--period", "1s", "--log-level", "error",
		"--faas", "openfaas", "--openfaas-url", "http://"+faasAddr, "--openfaas-timeout", "500ms",
		"--metrics", "prometheus", "--prometheus-url", pr.URL, "--prometheus-scrape-interval", "1s", "--prometheus-timeout", "500ms")
	waitReady(t, "http://"+admin+"/healthz")
	pr.WaitUp(t, time.Minute, "dfaas-agent", "openfaas-gateway", "node")

	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	var load steadyLoad
	url := "http://" + proxy + "/function/figlet"
	load.run(ctx, g, 20, url)
	defer func() { cancel(); g.Wait() }()
	waitHealth(t, admin, 200, `"ok"`, 20*time.Second)

	served := func() int { return load.snapshot(url)[200] }
	cycles := func() uint64 { return getStatus(t, admin).Cycles }

	// The gateway dies: unhealthy (faas), the functions are kept, the
	// proxy answers at once instead of hanging.
	stopFaaS()
	waitHealth(t, admin, 503, dfaas.ComponentFaaS, 10*time.Second)
	st := getStatus(t, admin)
	if len(st.Functions) == 0 || !st.Functions[0].Deployed {
		t.Errorf("gateway down: functions lost: %+v", st.Functions)
	}
	waitGrows(t, "gateway down: the control loop runs", 30*time.Second, cycles)
	waitGrows(t, "gateway down: the proxy answers 502", 30*time.Second, func() int { return load.snapshot(url)[502] })

	bg(t, faasArgs...) // the gateway returns on the same address
	waitReady(t, "http://"+faasAddr+"/healthz")
	waitHealth(t, admin, 200, `"ok"`, 15*time.Second)
	waitGrows(t, "gateway back: requests served", 30*time.Second, served)

	// Prometheus dies: the node falls back to the proxy's counters, says
	// so, and keeps serving and deciding.
	pr.Stop()
	waitHealth(t, admin, 503, "degraded", 10*time.Second)
	st = getStatus(t, admin)
	if h := st.Health[dfaas.ComponentMetrics]; !strings.Contains(h, "degraded") || !strings.Contains(h, "proxy") && !strings.Contains(h, "fallback") {
		t.Errorf("/status metrics health during the Prometheus outage: %q", h)
	}
	if _, ok := st.Decision.Route("figlet"); !ok {
		t.Errorf("Prometheus down: no decision for figlet: %+v", st.Decision)
	}
	waitGrows(t, "Prometheus down: requests served", 30*time.Second, served)
	waitGrows(t, "Prometheus down: the control loop runs", 30*time.Second, cycles)
	if err := pr.Start(); err != nil {
		t.Fatalf("restart Prometheus: %v\n%s", err, pr.Log())
	}
	waitHealth(t, admin, 200, `"ok"`, 20*time.Second)
	codes := load.snapshot(url)
	t.Logf("answers during the run: %v", codes)
	var total int
	for _, n := range codes {
		total += n
	}
	if codes[0] > 0 {
		t.Errorf("%d of %d requests got no answer at all", codes[0], total)
	}
}
