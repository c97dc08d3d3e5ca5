package cadvisorreal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

const mib = 1 << 20

// pods of the test: two replicas of figlet (one with a pause container),
// an idle shasum, a StatefulSet-like worker-0 whose function only its
// label names, and a pod of another namespace.
func pods() []*workload {
	return []*workload{
		{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-x7k2p", Name: "POD", MiB: 16},
		{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-x7k2p", Name: "figlet", Duty: 0.25, MiB: 24},
		{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-q9zrt", Name: "figlet", Duty: 0.25, MiB: 24},
		{Namespace: "openfaas-fn", Pod: "shasum-7c9bd5f8f6-bq2zl", Name: "shasum", MiB: 40},
		{Namespace: "openfaas-fn", Pod: "worker-0", Name: "worker", MiB: 8},
		{Namespace: "kube-system", Pod: "coredns-6799fbcd5-9wtnb", Name: "coredns", MiB: 8},
	}
}

// truth reads what the kernel counts for a function's containers (pause
// containers left out): CPU seconds and working set.
type truth struct {
	ct *cgroupTree
	cs []*workload
}

func (tr truth) of(t *testing.T, pod string) (cpu, mem float64) {
	t.Helper()
	for _, c := range tr.cs {
		if c.Namespace != "openfaas-fn" || !strings.HasPrefix(c.Pod, pod) || c.Name == "POD" {
			continue
		}
		s, err := tr.ct.cpuSeconds(c.cgroup)
		if err != nil {
			t.Fatal(err)
		}
		m, err := tr.ct.workingSet(c.cgroup)
		if err != nil {
			t.Fatal(err)
		}
		cpu += s
		mem += m
	}
	return cpu, mem
}

// rateOver samples src for at least d and returns its last sample, and
// the CPU rate of pod's containers the kernel counted meanwhile.
func rateOver(t *testing.T, tr truth, src metricsrc.Source, window, d time.Duration, pod string) (metricsrc.Sample, float64) {
	t.Helper()
	c0, _ := tr.of(t, pod)
	t0 := time.Now()
	var s metricsrc.Sample
	deadline := t0.Add(d + 30*time.Second)
	for {
		var err error
		s, err = src.Sample(context.Background(), time.Now(), window)
		switch {
		case err == nil && time.Since(t0) >= d:
		case errors.Is(err, metricsrc.ErrDegraded) && time.Now().Before(deadline):
			// A scrape of the stand-in timed out (under -race on a
			// busy machine): Prometheus reports the target down for a
			// while. Read again.
			t.Logf("degraded reading: %v", err)
			fallthrough
		case err == nil:
			time.Sleep(250 * time.Millisecond) // the readings are spread over d on purpose
			continue
		default:
			t.Fatal(err)
		}
		break
	}
	c1, _ := tr.of(t, pod)
	return s, (c1 - c0) / time.Since(t0).Seconds()
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func near(got, want, rel, abs float64) bool { return math.Abs(got-want) <= rel*want+abs }

// checkUsage compares a sample's per-function usage with the kernel's
// counts: figlet's CPU rate (two replicas at a quarter core each, as far
// as the shared machine lets them) and memory, shasum's idle CPU and
// memory; the pause container and the other namespace count for nothing.
func checkUsage(t *testing.T, tr truth, s metricsrc.Sample, figletRate float64) {
	t.Helper()
	fig, ok := s.Function("figlet")
	if !ok {
		t.Fatalf("no figlet in %+v", s.Functions)
	}
	if figletRate < 0.03 {
		t.Fatalf("figlet's processes used %.3f cores: the machine is too busy for this test", figletRate)
	}
	if !near(fig.CPU, figletRate, 0.25, 0.03) {
		t.Errorf("figlet CPU %.3f cores, the kernel counted %.3f", fig.CPU, figletRate)
	}
	_, mem := tr.of(t, "figlet")
	if !near(fig.Memory, mem, 0.05, 2*mib) || fig.Memory < 48*mib {
		t.Errorf("figlet memory %.1f MiB, the kernel counts %.1f (two replicas of 24 MiB, the pause container's 16 left out)", fig.Memory/mib, mem/mib)
	}
	if fig.Offered != 5 || fig.Local != 5 {
		t.Errorf("figlet rates changed: %+v", fig)
	}
	sha, ok := s.Function("shasum")
	_, mem = tr.of(t, "shasum")
	if !ok || sha.CPU > 0.02 || !near(sha.Memory, mem, 0.05, 2*mib) || sha.Memory < 40*mib {
		t.Errorf("shasum %+v, want idle CPU and %.1f MiB", sha, mem/mib)
	}
	if _, ok := s.Function("coredns"); ok {
		t.Errorf("a pod of another namespace became a function: %+v", s.Functions)
	}
}

// TestIntegrationCAdvisor runs the cAdvisor library over function
// processes in their own cgroups and reads its /metrics/cadvisor page as
// the agent does on a Kubernetes node: by direct scrape (TLS, bearer
// token, CA file) and through a real Prometheus, and through a node.
func TestIntegrationCAdvisor(t *testing.T) {
	ct := newCgroupTree(t)
	cs := pods()
	startContainers(t, ct, cs)
	k := startKubelet(t, ct, cs)
	tr := truth{ct, cs}
	inner := metricsrc.NewStatic(metricsrc.Sample{Functions: []metricsrc.FunctionRates{{Name: "figlet", Offered: 5, Local: 5}, {Name: "shasum", Offered: 1, Local: 1}}})

	t.Run("kubelet", func(t *testing.T) { testKubelet(t, k, tr, inner) })
	t.Run("prometheus", func(t *testing.T) { testPrometheus(t, k, tr, inner) })
}

func testKubelet(t *testing.T, k *kubelet, tr truth, inner metricsrc.Source) {
	url, caFile, tokenFile := k.serveTLS(t)
	ctx := context.Background()

	// The endpoint wants the token and a client that trusts its CA.
	noToken, err := cadvisor.NewKubelet(cadvisor.KubeletConfig{URL: url, CAFile: caFile, TokenFile: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := noToken.Scrape(ctx, "openfaas-fn"); err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Errorf("scrape without a token: %v, want status 401", err)
	}
	noCA, err := cadvisor.NewKubelet(cadvisor.KubeletConfig{URL: url, CAFile: "none", TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	var unknownCA x509.UnknownAuthorityError
	if _, _, err := noCA.Scrape(ctx, "openfaas-fn"); !errors.As(err, &unknownCA) {
		t.Errorf("scrape without the CA: %v, want an unknown authority", err)
	}

	kb, err := cadvisor.NewKubelet(cadvisor.KubeletConfig{URL: url, CAFile: caFile, TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	// cAdvisor has a first sample of every container.
	waitFor(t, 30*time.Second, "cAdvisor's series of all containers", func() bool {
		ss, _, err := kb.Scrape(ctx, "openfaas-fn")
		return err == nil && len(ss) == 2*5-2 // 4 containers (POD left out), CPU and memory
	})

	// Each counter and gauge is the kernel's, as of cAdvisor's timestamp.
	ss, probs, err := kb.Scrape(ctx, "openfaas-fn")
	if err != nil || probs.Count != 0 {
		t.Fatalf("scrape: %v, problems %+v", err, probs)
	}
	now := time.Now()
	for _, s := range ss {
		var c *workload
		for _, x := range tr.cs {
			if x.Pod == s.Pod && x.Name == s.Container {
				c = x
			}
		}
		if c == nil || !strings.HasSuffix(s.Key, c.cgroup+"|cpu=total") && !strings.HasSuffix(s.Key, c.cgroup) {
			t.Errorf("series %+v of no container of the test", s)
			continue
		}
		age := now.Sub(s.Time)
		if age < 0 || age > 5*time.Second {
			t.Errorf("%s/%s: sample %v old", s.Pod, s.Container, age)
		}
		if s.Memory {
			ws, _ := tr.ct.workingSet(c.cgroup)
			if !near(s.Value, ws, 0.05, 1*mib) || s.Value < float64(c.MiB)*mib {
				t.Errorf("%s/%s: working set %.1f MiB, the kernel counts %.1f, the process touched %d", s.Pod, s.Container, s.Value/mib, ws/mib, c.MiB)
			}
			continue
		}
		cpu, _ := tr.ct.cpuSeconds(c.cgroup)
		if s.Value > cpu+1e-3 || cpu-s.Value > 1.5*age.Seconds()+0.05 {
			t.Errorf("%s/%s: CPU counter %.4f s at %v, the kernel counts %.4f s %v later", s.Pod, s.Container, s.Value, s.Time, cpu, age)
		}
	}

	if out := os.Getenv("DFAAS_CADVISOR_RECORD"); out != "" {
		record(t, url, caFile, tokenFile, out)
	}

	// Rates and sums per function, through the Source.
	src, err := cadvisor.New(cadvisor.Config{Inner: inner, Reader: kb})
	if err != nil {
		t.Fatal(err)
	}
	s, rate := rateOver(t, tr, src, 3*time.Second, 6*time.Second, "figlet")
	checkUsage(t, tr, s, rate)
	if _, ok := s.Function("worker"); ok {
		t.Errorf("worker-0 is not named like a Deployment's pod and has no label here: %+v", s.Functions)
	}
	t.Logf("kubelet: figlet %.3f cores (kernel %.3f), %.1f MiB", mustFn(s, "figlet").CPU, rate, mustFn(s, "figlet").Memory/mib)
}

func mustFn(s metricsrc.Sample, name string) metricsrc.FunctionRates {
	f, _ := s.Function(name)
	return f
}

// record writes the endpoint's page to path, with where it came from.
func record(t *testing.T, url, caFile, tokenFile, path string) {
	pem, _ := os.ReadFile(caFile)
	tok, _ := os.ReadFile(tokenFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	head := "# Recorded by internal/cadvisorreal (DFAAS_CADVISOR_RECORD): the Prometheus collector of\n" +
		"# github.com/google/cadvisor/lib v0.61.0 over raw cgroups of a Linux " + kernel() + " machine,\n" +
		"# laid out and labelled as a kubelet's /metrics/cadvisor (pkg/kubelet/server's labels).\n"
	if err := os.WriteFile(path, append([]byte(head), page...), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d bytes to %s", len(page), path)
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func testPrometheus(t *testing.T, k *kubelet, tr truth, inner metricsrc.Source) {
	plain := serve(t, k.handler(""))
	ksm := serve(t, kubeStateMetrics(map[[2]string]string{{"openfaas-fn", "worker-0"}: "worker"}))
	// Scrapes every 2 s, each with as much time: the stand-in is slow
	// under -race.
	pr := promtest.StartPrometheus(t, 2*time.Second,
		promtest.Job{Name: "cadvisor", Targets: []string{plain}, MetricsPath: "/metrics/cadvisor"},
		promtest.Job{Name: "kube-state-metrics", Targets: []string{ksm}})
	pr.WaitUp(t, 30*time.Second, "cadvisor", "kube-state-metrics")

	// A selector that matches no target is an error.
	none, err := cadvisor.NewPrometheus(cadvisor.PrometheusConfig{URL: pr.URL, CAdvisor: promsrc.Selectors{"job": "nothing"}, ScrapeInterval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Read(context.Background(), time.Now(), time.Second, "openfaas-fn"); !errors.Is(err, cadvisor.ErrNoTarget) {
		t.Errorf("no target: %v, want ErrNoTarget", err)
	}

	rd, err := cadvisor.NewPrometheus(cadvisor.PrometheusConfig{URL: pr.URL, ScrapeInterval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	src, err := cadvisor.New(cadvisor.Config{Inner: inner, Reader: rd})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "figlet's CPU and worker's memory in Prometheus", func() bool {
		s, err := src.Sample(context.Background(), time.Now(), 8*time.Second)
		return err == nil && mustFn(s, "figlet").CPU > 0 && mustFn(s, "worker").Memory > 0
	})
	s, rate := rateOver(t, tr, src, 8*time.Second, 8*time.Second, "figlet")
	checkUsage(t, tr, s, rate)
	// worker-0 is a function by its label (kube_pod_labels).
	_, mem := tr.of(t, "worker-0")
	if w := mustFn(s, "worker"); !near(w.Memory, mem, 0.05, 2*mib) || w.Offered != 0 {
		t.Errorf("worker %+v, want %.1f MiB and no rates", w, mem/mib)
	}
	t.Logf("prometheus: figlet %.3f cores (kernel %.3f), %.1f MiB", mustFn(s, "figlet").CPU, rate, mustFn(s, "figlet").Memory/mib)

	testNode(t, src, tr)
}

// testNode: a node whose metric source is the cAdvisor Source over
// Prometheus shows each function's CPU and memory in its status (the
// agent's /status) and its gauges (the agent's /metrics).
func testNode(t *testing.T, src metricsrc.Source, tr truth) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	trp, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	fig := faas.Function{Name: "figlet", Replicas: 2, AvailableReplicas: 2, Labels: map[string]string{faas.LabelMaxRate: "100"}}
	sha := faas.Function{Name: "shasum", Replicas: 1, AvailableReplicas: 1, Labels: map[string]string{faas.LabelMaxRate: "50"}}
	node, err := dfaas.New(dfaas.Config{
		Strategy: &strategy.NodeMargin{}, Proxy: proxyctl.NewRecorder(0), FaaS: faas.NewStatic(fig, sha),
		Metrics: src, Peers: trp, ProxyURL: "http://a.example:30080", Period: 4 * time.Second, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	var got strategy.Function
	waitFor(t, 30*time.Second, "a cycle with figlet's usage", func() bool {
		now := time.Now()
		if _, err := node.Step(context.Background(), now); err != nil {
			t.Fatal(err)
		}
		for _, f := range node.Status(now).Functions {
			if f.Name == "figlet" {
				got = f
			}
		}
		return got.CPU > 0 // else the reading was degraded: the next cycle
	})
	_, mem := tr.of(t, "figlet")
	if got.CPU < 0.1 || !near(got.Memory, mem, 0.05, 2*mib) {
		t.Errorf("status of figlet %+v, want its CPU and %.1f MiB", got, mem/mib)
	}
	gauges := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "function" && l.GetValue() == "figlet" {
					gauges[mf.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if gauges["dfaas_agent_function_cpu_cores"] != got.CPU || gauges["dfaas_agent_function_memory_bytes"] != got.Memory {
		t.Errorf("gauges %v, status %+v", gauges, got)
	}
}
