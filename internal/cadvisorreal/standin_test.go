package cadvisorreal

import (
	"bufio"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/cadvisor/lib/cache/memory"
	"github.com/google/cadvisor/lib/container"
	"github.com/google/cadvisor/lib/manager"
	"github.com/google/cadvisor/lib/metrics"
	info "github.com/google/cadvisor/lib/model"
	"github.com/google/cadvisor/lib/utils/sysfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"
)

// childEnv tells the test binary to act as a function's process.
const childEnv = "DFAAS_CADVISORREAL_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec))
	}
	os.Exit(m.Run())
}

// child is a function's process: it waits for "go" on stdin (its parent
// moves it into its cgroups first), allocates and touches mem MiB, says
// "ready", then runs on the CPU for duty of every 40 ms until stdin
// closes.
func child(spec string) int {
	var duty float64
	var mib int
	if _, err := fmt.Sscanf(spec, "duty=%g,mem=%d", &duty, &mib); err != nil {
		fmt.Fprintln(os.Stderr, "bad spec", spec, err)
		return 2
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return 1
	}
	buf := make([]byte, mib<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i)
	}
	fmt.Println("ready")
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, in); close(done) }()
	const period = 40 * time.Millisecond
	burn := time.Duration(duty * float64(period))
	for {
		start := time.Now()
		for time.Since(start) < burn {
		}
		select {
		case <-done:
			runtime.KeepAlive(buf)
			return 0
		case <-time.After(period - burn):
		}
	}
}

// workload is one container of a pod, run by a child process.
type workload struct {
	Namespace, Pod, Name string
	Duty                 float64 // share of a core
	MiB                  int
	cgroup               string // relative to the tree's root
}

// startContainers places a child process in each container's cgroup, laid
// out as a kubelet's (kubepods/burstable/pod<uid>/<container id>), and
// waits until they have allocated their memory.
func startContainers(t *testing.T, ct *cgroupTree, cs []*workload) {
	t.Helper()
	for i, c := range cs {
		c.cgroup = fmt.Sprintf("/kubepods/burstable/pod%08x-0000-4000-8000-%012x/%064x", podIndex(cs, i), podIndex(cs, i), i+1)
		if err := ct.add(c.cgroup); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=duty=%g,mem=%d", childEnv, c.Duty, c.MiB))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stdin.Close()
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		if err := ct.place(c.cgroup, cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			t.Fatalf("container %s/%s/%s: %q, %v", c.Namespace, c.Pod, c.Name, line, err)
		}
	}
}

// podIndex numbers the pods of cs in order of appearance.
func podIndex(cs []*workload, i int) int {
	seen := map[string]int{}
	for j := 0; j <= i; j++ {
		k := cs[j].Namespace + "/" + cs[j].Pod
		if _, ok := seen[k]; !ok {
			seen[k] = len(seen) + 1
		}
	}
	return seen[cs[i].Namespace+"/"+cs[i].Pod]
}

// kubelet is a stand-in for a kubelet's cAdvisor: the cAdvisor library's
// manager over this machine's cgroups (raw containers under the tree),
// its Prometheus collector with the labels the kubelet gives (id, name,
// image, namespace, pod, container; a pod's own cgroup has container ""),
// served on /metrics/cadvisor.
type kubelet struct {
	m   manager.Manager
	reg *prometheus.Registry

	mu     sync.Mutex
	labels map[string][3]string // cAdvisor container name → namespace, pod, container
}

// includedMetrics are the kubelet's (pkg/kubelet/server), less those this
// machine cannot give (accelerators, disk usage of runtimes).
var includedMetrics = container.MetricSet{
	container.CpuUsageMetrics: {}, container.MemoryUsageMetrics: {}, container.CpuLoadMetrics: {},
	container.DiskIOMetrics: {}, container.NetworkUsageMetrics: {}, container.ProcessMetrics: {}, container.OOMMetrics: {},
}

// startKubelet starts the cAdvisor manager (housekeeping every second)
// for the tree. Only one may run in a process: cAdvisor registers its
// factories globally.
func startKubelet(t *testing.T, ct *cgroupTree, cs []*workload) *kubelet {
	t.Helper()
	k := &kubelet{reg: prometheus.NewRegistry(), labels: map[string][3]string{}}
	for _, c := range cs {
		k.labels[ct.root+c.cgroup] = [3]string{c.Namespace, c.Pod, c.Name}
		k.labels[ct.root+filepath.Dir(c.cgroup)] = [3]string{c.Namespace, c.Pod, ""}
	}
	interval, dynamic := time.Second, false
	m, err := manager.New(memory.New(2*time.Minute, nil), sysfs.NewRealSysFs(),
		manager.HousekeepingConfig{Interval: &interval, AllowDynamic: &dynamic},
		includedMetrics, []string{ct.root}, nil, "", 0)
	if err != nil {
		t.Fatalf("cAdvisor manager: %v", err)
	}
	if err := m.Start(); err != nil {
		t.Fatalf("cAdvisor manager: %v", err)
	}
	t.Cleanup(func() { m.Stop() })
	k.m = m
	k.reg.MustRegister(metrics.NewPrometheusCollector(m, k.labelsOf, includedMetrics, clock.RealClock{},
		info.RequestOptions{IdType: info.TypeName, Count: 1, Recursive: true}))
	return k
}

// labelsOf is the kubelet's containerPrometheusLabelsFunc, with the pods
// known from the test instead of from the container runtime.
func (k *kubelet) labelsOf(c *info.ContainerInfo) map[string]string {
	k.mu.Lock()
	l := k.labels[c.Name]
	k.mu.Unlock()
	name := ""
	if len(c.Aliases) > 0 {
		name = c.Aliases[0]
	}
	image := ""
	switch l[2] {
	case "":
	case "POD":
		image = "registry.k8s.io/pause:3.9"
	default:
		image = "ghcr.io/openfaas/" + l[2] + ":latest"
	}
	return map[string]string{metrics.LabelID: c.Name, metrics.LabelName: name, metrics.LabelImage: image,
		"namespace": l[0], "pod": l[1], "container": l[2]}
}

// handler serves the collector's page, requiring the bearer token when
// token is not empty.
func (k *kubelet) handler(token string) http.Handler {
	h := promhttp.HandlerFor(k.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics/cadvisor", func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	return mux
}

// serveTLS serves the page over TLS with a token, as a kubelet does on
// port 10250, and returns its URL and the files of its CA and token.
func (k *kubelet) serveTLS(t *testing.T) (url, caFile, tokenFile string) {
	t.Helper()
	const token = "eyJhbGciOiJSUzI1NiJ9.test-service-account-token"
	srv := httptest.NewUnstartedServer(k.handler(token))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the test's refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	caFile, tokenFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL + "/metrics/cadvisor", caFile, tokenFile
}

// serve serves h over plain HTTP on a loopback port and returns host:port.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { hs.Serve(ln); close(done) }()
	t.Cleanup(func() { hs.Close(); <-done })
	return ln.Addr().String()
}

// kubeStateMetrics stands in for kube-state-metrics' kube_pod_labels
// (with --metric-labels-allowlist=pods=[faas_function]) for the given
// namespace/pod → function.
func kubeStateMetrics(pods map[[2]string]string) http.Handler {
	var b strings.Builder
	b.WriteString("# HELP kube_pod_labels Kubernetes labels converted to Prometheus labels.\n# TYPE kube_pod_labels gauge\n")
	for k, fn := range pods {
		fmt.Fprintf(&b, "kube_pod_labels{namespace=%s,pod=%s,uid=\"x\",label_faas_function=%s} 1\n", strconv.Quote(k[0]), strconv.Quote(k[1]), strconv.Quote(fn))
	}
	page := b.String()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, page)
	})
}
