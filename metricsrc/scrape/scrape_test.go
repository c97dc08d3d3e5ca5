package scrape

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/metricsrc"
)

// TestNodeExporterPage reads a page recorded from Debian's node_exporter
// 1.5.0 (collectors cpu and meminfo) on a 2-core machine.
func TestNodeExporterPage(t *testing.T) {
	data, err := os.ReadFile("testdata/node-exporter-1.5.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	fams, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	n, err := NodeTotals(fams)
	if err != nil {
		t.Fatal(err)
	}
	if n.CPUCores != 2 || n.MemoryTotal != 2.5276510208e+10 || n.Memory != 2.5276510208e+10-2.400534528e+10 {
		t.Errorf("node totals %+v", n)
	}
	// Busy time is what remains of all modes once idle and iowait are
	// removed.
	var all, idle float64
	for _, m := range fams["node_cpu_seconds_total"].GetMetric() {
		v := m.GetCounter().GetValue()
		all += v
		for _, l := range m.GetLabel() {
			if l.GetName() == "mode" && (l.GetValue() == "idle" || l.GetValue() == "iowait") {
				idle += v
			}
		}
	}
	if d := n.CPUSeconds - (all - idle); d > 1e-6 || d < -1e-6 || n.CPUSeconds <= 0 {
		t.Errorf("busy %v, want %v", n.CPUSeconds, all-idle)
	}
	if _, err := NodeTotals(nil); err == nil {
		t.Error("empty page accepted")
	}
}

func serveEmbedded(t *testing.T) (*embedded.Server, *httptest.Server) {
	t.Helper()
	s, err := embedded.New(embedded.Config{
		Namespace: "openfaas-fn",
		Functions: []embedded.Function{
			{Name: "echo", Capacity: 1e6},
			{Name: "slow", Handler: embedded.HandlerEcho, Capacity: 20, Concurrency: 1, Queue: 1, QueueTimeout: 10 * time.Millisecond, Deterministic: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs
}

func post(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestGatewayPage(t *testing.T) {
	_, hs := serveEmbedded(t)
	for range 5 {
		post(t, hs.URL+"/function/echo")
	}
	// Three at once on a one-slot, one-place queue: some are refused.
	codes := make(chan int, 3)
	for range 3 {
		go func() { codes <- post(t, hs.URL+"/function/slow") }()
	}
	var ok, refused uint64
	for range 3 {
		if c := <-codes; c == 200 {
			ok++
		} else {
			refused++
		}
	}
	tg, err := NewTarget(hs.URL+"/metrics", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	tot, err := NewGateway(tg, "openfaas-fn").Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tot.Functions) != 2 || tot.Functions[0].Name != "echo" || tot.Functions[1].Name != "slow" {
		t.Fatalf("functions %+v", tot.Functions)
	}
	echo, slow := tot.Functions[0], tot.Functions[1]
	if echo.Local != 5 || echo.Failed != 0 || echo.LatencyCount != 5 || echo.LatencySeconds <= 0 {
		t.Errorf("echo %+v", echo)
	}
	if slow.Local != 3 || slow.Failed != refused || slow.LatencyCount != ok || refused == 0 {
		t.Errorf("slow %+v (served %d, refused %d)", slow, ok, refused)
	}
}

type staticTotals struct {
	t   atomic.Pointer[metricsrc.Totals]
	err atomic.Bool
}

func (s *staticTotals) Totals(context.Context) (metricsrc.Totals, error) {
	if s.err.Load() {
		return metricsrc.Totals{}, errors.New("node_exporter down")
	}
	return *s.t.Load(), nil
}

func TestSource(t *testing.T) {
	_, hs := serveEmbedded(t)
	proxy := metricsrc.NewCounters()
	tg, _ := NewTarget(hs.URL+"/metrics", time.Second, nil)
	node := &staticTotals{}
	node.t.Store(&metricsrc.Totals{Node: metricsrc.NodeTotals{CPUSeconds: 10, CPUCores: 2, Memory: 1e9, MemoryTotal: 4e9}})
	src, err := NewSource(proxy, NewGateway(tg, "openfaas-fn"), node)
	if err != nil {
		t.Fatal(err)
	}
	// Scraped parts are dated by the (real) time of their read. A clock
	// that steps 1 ms per reading dates them 2.5 ms (gateway) and 4.5 ms
	// (node) after the call's start in every Sample, so the rates come out
	// exact, however long the reads really take on a loaded machine.
	var ticks time.Duration
	src.clock = func() time.Time { ticks += time.Millisecond; return time.Unix(0, 0).Add(ticks) }
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	if _, err := src.Sample(ctx, t0, time.Second); err != nil {
		t.Fatal(err)
	}
	fc := proxy.Function("echo")
	for range 4 {
		fc.Offered.Add(1)
		fc.Local.Add(1)
		post(t, hs.URL+"/function/echo")
	}
	fc.Offered.Add(6)
	fc.Rejected.Add(6)
	post(t, hs.URL+"/function/slow")
	node.t.Store(&metricsrc.Totals{Node: metricsrc.NodeTotals{CPUSeconds: 13, CPUCores: 2, Memory: 2e9, MemoryTotal: 4e9}})
	s, err := src.Sample(ctx, t0.Add(2*time.Second), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	echo, ok := s.Function("echo")
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-9*want }
	if !ok || echo.Offered != 5 || echo.Rejected != 3 || !near(echo.Local, 2) || echo.Latency <= 0 {
		t.Errorf("echo rates %+v (want offered 5, rejected 3, local 2 req/s, a latency)", echo)
	}
	if slow, ok := s.Function("slow"); !ok || !near(slow.Local, 0.5) {
		t.Errorf("slow, known only to the gateway: %+v %v", slow, ok)
	}
	if !near(s.Node.CPU, 1.5) || s.Node.Memory != 2e9 || s.Node.CPUCores != 2 {
		t.Errorf("node %+v", s.Node)
	}

	// node_exporter and the gateway down: the proxy's view, degraded.
	node.err.Store(true)
	hs.Close()
	fc.Offered.Add(4)
	s, err = src.Sample(ctx, t0.Add(4*time.Second), 2*time.Second)
	if !errors.Is(err, metricsrc.ErrDegraded) || !strings.Contains(err.Error(), "gateway") || !strings.Contains(err.Error(), "node") {
		t.Fatalf("parts down: %v, want ErrDegraded naming both", err)
	}
	if echo, _ := s.Function("echo"); echo.Offered != 2 {
		t.Errorf("degraded sample %+v: want the proxy's 2 req/s", echo)
	}
	if _, err := NewSource(nil, nil, nil); err == nil {
		t.Error("NewSource without the proxy's counters succeeded")
	}
	if _, err := NewTarget("localhost:9100/metrics", 0, nil); err == nil {
		t.Error("URL without a scheme accepted")
	}
}

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/node-exporter-1.5.0.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("# TYPE gateway_function_invocation_total counter\ngateway_function_invocation_total{code=\"200\",function_name=\"a.ns\"} 3\n# TYPE gateway_functions_seconds histogram\ngateway_functions_seconds_bucket{code=\"200\",function_name=\"a.ns\",le=\"+Inf\"} 3\ngateway_functions_seconds_sum{code=\"200\",function_name=\"a.ns\"} 0.3\ngateway_functions_seconds_count{code=\"200\",function_name=\"a.ns\"} 3\n"))
	f.Add([]byte("gateway_function_invocation_total{code=\"503\",function_name=\"b\"} -1e400\nnode_cpu_seconds_total{cpu=\"0\",mode=\"user\"} NaN\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fams, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		tot := GatewayTotals(fams, "ns")
		for _, fn := range tot.Functions {
			if fn.Name == "" || fn.Failed > fn.Local || fn.LatencySeconds < 0 {
				t.Fatalf("gateway totals %+v", fn)
			}
		}
		if n, err := NodeTotals(fams); err == nil {
			if n.CPUSeconds < 0 || n.CPUCores < 0 || n.Memory < 0 || n.Memory > n.MemoryTotal {
				t.Fatalf("node totals %+v", n)
			}
		}
	})
}

// slowTotals is a node reader whose reading takes readFor of the test's
// clock.
type slowTotals struct {
	totals  metricsrc.Totals
	readFor time.Duration
	ticks   *time.Duration
}

func (s *slowTotals) Totals(context.Context) (metricsrc.Totals, error) {
	*s.ticks += s.readFor
	return s.totals, nil
}

// TestSourceDatesLateReads: a scraped reading is dated at the middle of
// its read, so a read that takes long does not inflate the rate.
func TestSourceDatesLateReads(t *testing.T) {
	var ticks time.Duration
	node := &slowTotals{ticks: &ticks, totals: metricsrc.Totals{Node: metricsrc.NodeTotals{CPUSeconds: 10, CPUCores: 2}}}
	src, err := NewSource(metricsrc.NewCounters(), nil, node)
	if err != nil {
		t.Fatal(err)
	}
	src.clock = func() time.Time { return time.Unix(0, 0).Add(ticks) } // moves only in reads
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	if _, err := src.Sample(ctx, t0, time.Second); err != nil {
		t.Fatal(err)
	}
	// The second read takes 400 ms: dated 200 ms after the call, so
	// 3 CPU seconds over 2.2 s rather than 2 s.
	node.totals.Node.CPUSeconds, node.readFor = 13, 400*time.Millisecond
	s, err := src.Sample(ctx, t0.Add(2*time.Second), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 / 2.2; math.Abs(s.Node.CPU-want) > 1e-9 {
		t.Errorf("node CPU %v, want %v (the read dated at its middle)", s.Node.CPU, want)
	}
}
