package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/promtest"
)

// standInKubelet serves a kubelet's /metrics/cadvisor page for two pods
// of the OpenFaaS function figlet, each using 0.25 core and 26 MB: the
// CPU counters grow with the time since start.
func standInKubelet(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		cpu := 0.25 * time.Since(start).Seconds()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# TYPE container_cpu_usage_seconds_total counter")
		for _, pod := range []string{"figlet-5d7f8b9c4-x7k2p", "figlet-5d7f8b9c4-q9zrt"} {
			fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=\"figlet\",cpu=\"total\",namespace=\"openfaas-fn\",pod=%q} %g\n", pod, cpu)
			fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=\"POD\",cpu=\"total\",namespace=\"openfaas-fn\",pod=%q} %g\n", pod, cpu)
		}
		fmt.Fprintln(w, "# TYPE container_memory_working_set_bytes gauge")
		for _, pod := range []string{"figlet-5d7f8b9c4-x7k2p", "figlet-5d7f8b9c4-q9zrt"} {
			fmt.Fprintf(w, "container_memory_working_set_bytes{container=\"figlet\",namespace=\"openfaas-fn\",pod=%q} 2.6e+07\n", pod)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestIntegrationAgentCAdvisor: dfaas agent --metrics prometheus
// --cadvisor prometheus, with a real Prometheus scraping a kubelet's
// cAdvisor page, shows each function's CPU and memory (summed over its
// pods, the pause containers left out) in /status and /metrics.
func TestIntegrationAgentCAdvisor(t *testing.T) {
	kubelet := standInKubelet(t)
	faasAddr := promtest.FreePort(t)
	bg(t, "faas", "--listen", faasAddr, "--namespace", "openfaas-fn", "--function", "figlet,capacity=50")
	waitReady(t, "http://"+faasAddr+"/healthz")
	admin, proxy := promtest.FreePort(t), promtest.FreePort(t)
	pr := promtest.StartPrometheus(t, time.Second,
		promtest.Job{Name: "dfaas-agent", Targets: []string{admin}},
		promtest.Job{Name: "openfaas-gateway", Targets: []string{faasAddr}},
		promtest.Job{Name: "cadvisor", Targets: []string{kubelet}, MetricsPath: "/metrics/cadvisor"},
	)
	bg(t, "agent", "--peer-listen", "127.0.0.1:0", "--http", admin, "--proxy-listen", proxy, "--period", "1s", "--log-level", "error",
		"--faas", "openfaas", "--openfaas-url", "http://"+faasAddr, "--metrics", "prometheus", "--prometheus-url", pr.URL,
		"--prometheus-scrape-interval", "1s", "--prometheus-node", "job=none", "--cadvisor", "prometheus")
	waitReady(t, "http://"+admin+"/healthz")
	pr.WaitUp(t, time.Minute, "cadvisor", "openfaas-gateway")

	var cpu, mem float64
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, f := range getStatus(t, admin).Functions {
			if f.Name == "figlet" {
				cpu, mem = f.CPU, f.Memory
			}
		}
		if cpu > 0.4 && cpu < 0.6 && mem == 5.2e7 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if cpu < 0.4 || cpu > 0.6 || mem != 5.2e7 {
		t.Fatalf("/status: figlet CPU %v cores, memory %v bytes; want 0.5 cores (two pods at 0.25) and 5.2e7 bytes", cpu, mem)
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`dfaas_agent_function_cpu_cores{function="figlet"} 0.`, `dfaas_agent_function_memory_bytes{function="figlet"} 5.2e+07`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
