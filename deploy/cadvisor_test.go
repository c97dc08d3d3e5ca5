package deploy

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// cadvisorJob is the job name metricsrc/cadvisor's Prometheus reader
// selects by default (cadvisor.DefaultCAdvisorJob; this module does not
// import the library).
const cadvisorJob = "cadvisor"

// The service account files of the Prometheus server's pod.
const (
	saToken = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	saCA    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// prometheusJobs returns the scrape jobs of the guide's Prometheus values,
// decoded strictly and as written.
func prometheusJobs(t *testing.T) ([]scrapeConfig, []map[string]any) {
	t.Helper()
	prom := guideUpstream(t)["prometheus-community/prometheus"]
	pv, err := loadValues(filepath.Join(repoRoot, prom.ValuesFile))
	if err != nil {
		t.Fatal(err)
	}
	extra, ok := pv["extraScrapeConfigs"].(string)
	if !ok {
		t.Fatalf("%s: no extraScrapeConfigs string", prom.ValuesFile)
	}
	var jobs []scrapeConfig
	if err := yaml.UnmarshalStrict([]byte(extra), &jobs); err != nil {
		t.Fatalf("%s: extraScrapeConfigs: %v", prom.ValuesFile, err)
	}
	var raw []map[string]any
	if err := yaml.Unmarshal([]byte(extra), &raw); err != nil {
		t.Fatal(err)
	}
	return jobs, raw
}

// TestUpstreamCAdvisorJob checks the example's cAdvisor job: every node's
// kubelet on https://<node IP>:10250/metrics/cadvisor with the service
// account's token and CA, at the agent's interval, each series labelled
// with its node, only the two series the agent reads kept.
func TestUpstreamCAdvisorJob(t *testing.T) {
	jobs, _ := prometheusJobs(t)
	i := slices.IndexFunc(jobs, func(j scrapeConfig) bool { return j.JobName == cadvisorJob })
	n := slices.IndexFunc(jobs, func(j scrapeConfig) bool { return j.JobName == "node" })
	if i < 0 || n < 0 {
		t.Fatalf("no %s or node job", cadvisorJob)
	}
	j := jobs[i]
	if len(j.KubernetesSDConfigs) != 1 || j.KubernetesSDConfigs[0].Role != "node" {
		t.Errorf("service discovery %+v, want role node", j.KubernetesSDConfigs)
	}
	if j.Scheme != "https" || j.MetricsPath != "/metrics/cadvisor" || j.Authorization.CredentialsFile != saToken || j.TLSConfig.CAFile != saCA {
		t.Errorf("job %+v: want https, /metrics/cadvisor and the service account's token and CA", j)
	}
	if j.ScrapeInterval != jobs[n].ScrapeInterval {
		t.Errorf("scrape_interval %q, the agent's other jobs use %q", j.ScrapeInterval, jobs[n].ScrapeInterval)
	}
	// A node's target, as the node role discovers it.
	got, err := relabel(map[string]string{"__address__": "192.0.2.10:10250", "__meta_kubernetes_node_name": "edge-1",
		"__meta_kubernetes_node_address_InternalIP": "192.0.2.10"}, j.RelabelConfigs)
	if err != nil || got == nil || got["__address__"] != "192.0.2.10:10250" || got["node"] != "edge-1" {
		t.Errorf("target relabelled to %v (%v), want 192.0.2.10:10250 with node=edge-1", got, err)
	}
	for name, keep := range map[string]bool{"container_cpu_usage_seconds_total": true, "container_memory_working_set_bytes": true,
		"container_memory_rss": false, "container_network_receive_bytes_total": false, "machine_cpu_cores": false} {
		got, err := relabel(map[string]string{"__name__": name}, j.MetricRelabelConfigs)
		if err != nil || (got != nil) != keep {
			t.Errorf("series %s kept: %v (%v), want %v", name, got != nil, err, keep)
		}
	}
}

// TestIntegrationPrometheusCAdvisorJob loads the example's cAdvisor job in
// Prometheus, the node discovery replaced by a static target with the
// labels it would give, against a stand-in kubelet over TLS that wants the
// token: Prometheus must scrape it, label the node and keep only the two
// series.
func TestIntegrationPrometheusCAdvisorJob(t *testing.T) {
	bin := needBinary(t, "prometheus")
	jobs, raw := prometheusJobs(t)
	i := slices.IndexFunc(jobs, func(j scrapeConfig) bool { return j.JobName == cadvisorJob })
	if i < 0 {
		t.Fatalf("no %s job", cadvisorJob)
	}
	const token = "service-account-token"
	const page = `# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="figlet",cpu="total",id="/kubepods/pod1/c1",image="",name="",namespace="openfaas-fn",pod="figlet-5d7f8b9c4-x7k2p"} 12.5
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="figlet",id="/kubepods/pod1/c1",image="",name="",namespace="openfaas-fn",pod="figlet-5d7f8b9c4-x7k2p"} 3.1e+07
# TYPE container_memory_rss gauge
container_memory_rss{container="figlet",id="/kubepods/pod1/c1",image="",name="",namespace="openfaas-fn",pod="figlet-5d7f8b9c4-x7k2p"} 2.9e+07
`
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics/cadvisor" || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, page)
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	caFile, tokenFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)

	// The job as written, but for where the pod's files are and the
	// discovery; 1 s between scrapes to finish sooner.
	j := map[string]any{}
	for k, v := range raw[i] {
		j[k] = v
	}
	u, _ := url.Parse(srv.URL)
	delete(j, "kubernetes_sd_configs")
	j["static_configs"] = []any{map[string]any{"targets": []string{u.Host}, "labels": map[string]string{"__meta_kubernetes_node_name": "edge-1"}}}
	j["scrape_interval"] = "1s"
	j["authorization"] = map[string]any{"credentials_file": tokenFile}
	tc := j["tls_config"].(map[string]any)
	tc["ca_file"] = caFile
	addr, exited := startPrometheus(t, bin, dir, []any{j})
	query := func(q string) (map[string]string, error) {
		r, err := http.PostForm("http://"+addr+"/api/v1/query", url.Values{"query": {q}})
		if err != nil {
			return nil, err
		}
		defer r.Body.Close()
		var resp struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  []any             `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&resp); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, s := range resp.Data.Result {
			out[s.Metric["__name__"]+"/"+s.Metric["node"]] = fmt.Sprint(s.Value[1])
		}
		return out, nil
	}
	deadline := time.Now().Add(30 * time.Second)
	var got map[string]string
	var err error
	for {
		if err := exited(); err != nil {
			t.Fatal(err)
		}
		got, err = query(`{job="cadvisor", __name__=~"container_.*|up"}`)
		if err == nil && got["up/edge-1"] == "1" && len(got) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scrape of the stand-in kubelet in 30 s: %v %v", got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	want := map[string]string{"up/edge-1": "1", "container_cpu_usage_seconds_total/edge-1": "12.5", "container_memory_working_set_bytes/edge-1": "31000000"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Prometheus holds %v, want %v", got, want)
	}
}
