package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// relabelConfig is one rule of a Prometheus relabel_configs list (the
// actions the examples use).
type relabelConfig struct {
	SourceLabels []string `json:"source_labels"`
	Separator    *string  `json:"separator"`
	Regex        *string  `json:"regex"`
	TargetLabel  string   `json:"target_label"`
	Replacement  *string  `json:"replacement"`
	Action       string   `json:"action"`
}

// scrapeConfig is the part of a Prometheus scrape config the tests check.
type scrapeConfig struct {
	JobName             string `json:"job_name"`
	ScrapeInterval      string `json:"scrape_interval"`
	KubernetesSDConfigs []struct {
		Role       string `json:"role"`
		Namespaces struct {
			Names []string `json:"names"`
		} `json:"namespaces"`
	} `json:"kubernetes_sd_configs"`
	RelabelConfigs []relabelConfig `json:"relabel_configs"`
	// The kubelet's endpoint (the cadvisor job, see cadvisor_test.go).
	Scheme        string `json:"scheme"`
	MetricsPath   string `json:"metrics_path"`
	Authorization struct {
		CredentialsFile string `json:"credentials_file"`
	} `json:"authorization"`
	TLSConfig struct {
		CAFile             string `json:"ca_file"`
		InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	} `json:"tls_config"`
	MetricRelabelConfigs []relabelConfig `json:"metric_relabel_configs"`
}

// relabel applies rules to a target's labels as Prometheus does; it returns
// nil when the target is dropped.
func relabel(labels map[string]string, rules []relabelConfig) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	for i, r := range rules {
		sep, re, repl := ";", "(.*)", "$1"
		if r.Separator != nil {
			sep = *r.Separator
		}
		if r.Regex != nil {
			re = *r.Regex
		}
		if r.Replacement != nil {
			repl = *r.Replacement
		}
		rx, err := regexp.Compile("^(?:" + re + ")$")
		if err != nil {
			return nil, fmt.Errorf("rule %d: regex %q: %w", i, re, err)
		}
		vals := make([]string, len(r.SourceLabels))
		for j, l := range r.SourceLabels {
			vals[j] = out[l]
		}
		src := strings.Join(vals, sep)
		switch r.Action {
		case "keep":
			if !rx.MatchString(src) {
				return nil, nil
			}
		case "drop":
			if rx.MatchString(src) {
				return nil, nil
			}
		case "", "replace":
			m := rx.FindStringSubmatchIndex(src)
			if m == nil {
				continue
			}
			if r.TargetLabel == "" {
				return nil, fmt.Errorf("rule %d: replace without target_label", i)
			}
			v := string(rx.ExpandString(nil, repl, src, m))
			if v == "" {
				delete(out, r.TargetLabel)
			} else {
				out[r.TargetLabel] = v
			}
		default:
			return nil, fmt.Errorf("rule %d: action %q is not modelled by the test", i, r.Action)
		}
	}
	return out, nil
}

// metaLabelName turns a Kubernetes label name into the name Prometheus'
// service discovery gives it (__meta_kubernetes_..._label_<name>).
func metaLabelName(s string) string {
	return regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(s, "_")
}

// upstreamRelease is how the guide installs an upstream chart.
type upstreamRelease struct {
	Release, Namespace, ValuesFile string
}

// guideUpstream returns the guide's install commands of the upstream charts
// and of the dfaas chart with OpenFaaS, by chart.
func guideUpstream(t *testing.T) map[string]upstreamRelease {
	t.Helper()
	out := map[string]upstreamRelease{}
	for _, c := range guideHelmCommands(t) {
		if c.Args[1] != "install" {
			continue
		}
		r, err := parseRelease(c)
		if err != nil {
			t.Fatal(err)
		}
		key := r.Chart
		if r.Local {
			if !slices.Contains(r.ValuesFiles, "deploy/helm/examples/dfaas-openfaas.yaml") {
				continue
			}
			key = "dfaas-openfaas"
		}
		if len(r.ValuesFiles) == 0 {
			t.Fatalf("%v: no values file", c)
		}
		u := upstreamRelease{Release: r.Release, Namespace: r.Namespace, ValuesFile: r.ValuesFiles[0]}
		if old, ok := out[key]; ok && old.Namespace != u.Namespace {
			t.Errorf("%v: namespace %s, another command of the guide uses %s", c, u.Namespace, old.Namespace)
		}
		out[key] = u
	}
	for _, k := range []string{"openfaas/openfaas", "prometheus-community/prometheus", "dfaas-openfaas"} {
		if _, ok := out[k]; !ok {
			t.Fatalf("the guide does not install %s", k)
		}
	}
	return out
}

// scrapeCase is a scrape job of the Prometheus example, the targets its
// service discovery would find, and the one address it must keep.
type scrapeCase struct {
	job        scrapeConfig
	raw        map[string]any // the job as written
	candidates []map[string]string
	want       string
}

// upstreamSetup renders the dfaas release the guide installs with OpenFaaS
// and Prometheus, checks its values against the upstream charts' values,
// and returns the scrape cases of the Prometheus example.
//
// The upstream charts cannot be fetched here: their objects are modelled
// from their templates (openfaas 14.x: gateway pod labelled app=gateway,
// container ports 8080 and 8081, metrics on 8082, Secret basic-auth;
// prometheus 27.x: Service <release>-server on port 80, node_exporter
// Services labelled app.kubernetes.io/name=prometheus-node-exporter with
// the port metrics).
func upstreamSetup(t *testing.T) []scrapeCase {
	t.Helper()
	flags := binaryFlags(t, "agent")
	up := guideUpstream(t)
	of, prom, df := up["openfaas/openfaas"], up["prometheus-community/prometheus"], up["dfaas-openfaas"]

	ofv, err := loadValues(filepath.Join(repoRoot, of.ValuesFile))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"basic_auth": true, "generateBasicAuth": true, "exposeServices": false, "async": false} {
		if ofv[k] != want {
			t.Errorf("%s: %s is %v, want %v", of.ValuesFile, k, ofv[k], want)
		}
	}

	// The dfaas release with OpenFaaS.
	values := chartValues(t, df.ValuesFile)
	_, n := render(t, df.Release, chartPath, "--namespace", df.Namespace, "-f", df.ValuesFile)
	p := checkNode(t, n, values, flags, df.Release)
	if df.Namespace != of.Namespace {
		t.Errorf("dfaas is installed in %s, OpenFaaS (and its Secret basic-auth) in %s", df.Namespace, of.Namespace)
	}
	if str(values, "openfaas.passwordSecret") != "basic-auth" || str(values, "openfaas.passwordKey") != "basic-auth-password" || get(p, "openfaas-user") != "admin" {
		t.Errorf("the agent does not use the gateway's generated credentials (Secret basic-auth, user admin)")
	}
	if get(p, "faas-namespace") != ofv["functionNamespace"] {
		t.Errorf("--faas-namespace %q, OpenFaaS functions are in %v", get(p, "faas-namespace"), ofv["functionNamespace"])
	}
	checkURL(t, "--openfaas-url", get(p, "openfaas-url"), "gateway."+of.Namespace+".svc", "8080")
	checkURL(t, "--prometheus-url", get(p, "prometheus-url"), prom.Release+"-server."+prom.Namespace+".svc", "80")
	if get(p, "faas") != "openfaas" || get(p, "metrics") != "prometheus" {
		t.Errorf("--faas %q --metrics %q, want openfaas and prometheus", get(p, "faas"), get(p, "metrics"))
	}

	// Prometheus' scrape jobs.
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
	interval, err := time.ParseDuration(get(p, "prometheus-scrape-interval"))
	if err != nil {
		t.Fatal(err)
	}
	// The targets service discovery finds: the endpoints of both dfaas
	// Services, the gateway pod's container ports, node_exporter's
	// endpoint.
	podIP := "10.42.0.9"
	var dfaasTargets []map[string]string
	for _, svc := range []*corev1.Service{n.Admin, n.Public} {
		for _, sp := range svc.Spec.Ports {
			l := map[string]string{
				"__address__":                          net.JoinHostPort(podIP, fmt.Sprint(sp.Port)),
				"__meta_kubernetes_namespace":          df.Namespace,
				"__meta_kubernetes_service_name":       svc.Name,
				"__meta_kubernetes_endpoint_port_name": sp.Name,
			}
			for k, v := range svc.Labels {
				l["__meta_kubernetes_service_label_"+metaLabelName(k)] = v
			}
			dfaasTargets = append(dfaasTargets, l)
		}
	}
	var gatewayTargets []map[string]string
	for _, port := range []string{"8080", "8081"} {
		gatewayTargets = append(gatewayTargets, map[string]string{
			"__address__": net.JoinHostPort("10.42.0.12", port), "__meta_kubernetes_namespace": of.Namespace,
			"__meta_kubernetes_pod_label_app": "gateway", "__meta_kubernetes_pod_ip": "10.42.0.12",
			"__meta_kubernetes_pod_container_port_number": port,
		})
	}
	nodeTargets := []map[string]string{{
		"__address__": "192.0.2.10:9100", "__meta_kubernetes_namespace": prom.Namespace,
		"__meta_kubernetes_service_label_app_kubernetes_io_name": "prometheus-node-exporter",
		"__meta_kubernetes_endpoint_port_name":                   "metrics",
	}}
	var cases []scrapeCase
	for _, tc := range []struct {
		selector   string
		role       string
		namespace  string
		candidates []map[string]string
		want       string
	}{
		{get(p, "prometheus-agent"), "endpoints", df.Namespace, dfaasTargets, net.JoinHostPort(podIP, fmt.Sprint(n.Admin.Spec.Ports[0].Port))},
		{get(p, "prometheus-gateway"), "pod", of.Namespace, gatewayTargets, "10.42.0.12:8082"},
		{get(p, "prometheus-node"), "endpoints", prom.Namespace, nodeTargets, "192.0.2.10:9100"},
	} {
		job, ok := strings.CutPrefix(tc.selector, "job=")
		if !ok || strings.Contains(job, ",") {
			t.Errorf("selector %q: the test expects job=NAME", tc.selector)
			continue
		}
		i := slices.IndexFunc(jobs, func(j scrapeConfig) bool { return j.JobName == job })
		if i < 0 {
			t.Errorf("no scrape job %q (selector %s)", job, tc.selector)
			continue
		}
		j := jobs[i]
		if d, err := time.ParseDuration(j.ScrapeInterval); err != nil || d != interval {
			t.Errorf("job %s: scrape_interval %q, the agent's --prometheus-scrape-interval is %v", job, j.ScrapeInterval, interval)
		}
		if len(j.KubernetesSDConfigs) != 1 || j.KubernetesSDConfigs[0].Role != tc.role || !slices.Contains(j.KubernetesSDConfigs[0].Namespaces.Names, tc.namespace) {
			t.Errorf("job %s: service discovery %+v, want role %s in namespace %s", job, j.KubernetesSDConfigs, tc.role, tc.namespace)
		}
		cases = append(cases, scrapeCase{job: j, raw: raw[i], candidates: tc.candidates, want: tc.want})
	}
	return cases
}

// TestUpstreamValues checks the values for the upstream OpenFaaS and
// Prometheus charts against the dfaas chart: the agent finds the gateway,
// its password and Prometheus where the guide installs them, the gateway's
// management API is on no node port, and Prometheus scrapes, at the
// agent's interval, exactly the targets the agent's selectors name (the
// relabelling as modelled by relabel; TestIntegrationPrometheusScrapeConfig
// runs it in Prometheus).
func TestUpstreamValues(t *testing.T) {
	for _, c := range upstreamSetup(t) {
		var got []string
		for _, cand := range c.candidates {
			l, err := relabel(cand, c.job.RelabelConfigs)
			if err != nil {
				t.Fatalf("job %s: %v", c.job.JobName, err)
			}
			if l != nil && !slices.Contains(got, l["__address__"]) {
				got = append(got, l["__address__"])
			}
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("job %s scrapes %q, want exactly %s", c.job.JobName, got, c.want)
		}
	}
}

// checkURL checks that raw is http://host:port.
func checkURL(t *testing.T, what, raw, host, port string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Hostname() != host || u.Port() != port || strings.Trim(u.Path, "/") != "" {
		t.Errorf("%s %q, want http://%s:%s", what, raw, host, port)
	}
}

// TestIntegrationPrometheusScrapeConfig loads the example's scrape jobs in
// Prometheus and checks which targets it keeps. The service discovery is
// replaced by static targets carrying the labels the Kubernetes discovery
// would give them (Debian's Prometheus is built without it); the relabel
// rules, intervals and the rest of each job are the example's.
func TestIntegrationPrometheusScrapeConfig(t *testing.T) {
	bin := needBinary(t, "prometheus")
	cases := upstreamSetup(t)
	var jobs []any
	for _, c := range cases {
		j := map[string]any{}
		for k, v := range c.raw {
			j[k] = v
		}
		delete(j, "kubernetes_sd_configs")
		var static []any
		for _, cand := range c.candidates {
			labels := map[string]string{}
			for k, v := range cand {
				if k != "__address__" {
					labels[k] = v
				}
			}
			static = append(static, map[string]any{"targets": []string{cand["__address__"]}, "labels": labels})
		}
		j["static_configs"] = static
		jobs = append(jobs, j)
	}
	addr, exited := startPrometheus(t, bin, t.TempDir(), jobs)
	type target struct {
		ScrapePool string            `json:"scrapePool"`
		Labels     map[string]string `json:"labels"`
		Discovered map[string]string `json:"discoveredLabels"`
	}
	var resp struct {
		Data struct {
			Active  []target `json:"activeTargets"`
			Dropped []target `json:"droppedTargets"`
		} `json:"data"`
	}
	// Static targets of a job arrive in one update: a job is complete
	// once any of its targets is listed, active or dropped.
	complete := func() bool {
		seen := map[string]bool{}
		for _, tg := range append(resp.Data.Active, resp.Data.Dropped...) {
			seen[tg.Discovered["job"]] = true
		}
		for _, c := range cases {
			if !seen[c.job.JobName] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := exited(); err != nil {
			t.Fatal(err)
		}
		r, err := http.Get("http://" + addr + "/api/v1/targets?state=any")
		if err == nil {
			err = json.NewDecoder(r.Body).Decode(&resp)
			r.Body.Close()
		}
		if err == nil && complete() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not list the targets of every job in 30 s: %v %+v", err, resp.Data)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range cases {
		var got []string
		for _, a := range resp.Data.Active {
			if a.ScrapePool == c.job.JobName {
				got = append(got, a.Labels["instance"])
			}
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("prometheus: job %s scrapes %q, want exactly %s", c.job.JobName, got, c.want)
		}
	}
}

func TestRelabel(t *testing.T) {
	s := func(v string) *string { return &v }
	rules := []relabelConfig{
		{SourceLabels: []string{"a", "b"}, Regex: s("x;y+"), Action: "keep"},
		{SourceLabels: []string{"ip"}, Regex: s("(.+)"), TargetLabel: "__address__", Replacement: s("$1:8082")},
		{SourceLabels: []string{"c"}, Regex: s("drop"), Action: "drop"},
	}
	got, err := relabel(map[string]string{"a": "x", "b": "yy", "ip": "10.0.0.1", "__address__": "10.0.0.1:80"}, rules)
	if err != nil || got["__address__"] != "10.0.0.1:8082" {
		t.Errorf("relabel: %v %v", got, err)
	}
	for _, l := range []map[string]string{{"a": "x", "b": "z"}, {"a": "xx", "b": "y"}, {"a": "x", "b": "y", "c": "drop"}} {
		if got, err := relabel(l, rules); got != nil || err != nil {
			t.Errorf("relabel(%v) kept %v %v", l, got, err)
		}
	}
	if _, err := relabel(nil, []relabelConfig{{Action: "labelmap"}}); err == nil {
		t.Error("an unmodelled action did not fail")
	}
}
