package cadvisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
)

// Defaults of PrometheusConfig.
const (
	DefaultFunctionLabel = "faas_function"
)

// DefaultCAdvisorJob is the job of the kubelets' cAdvisor endpoints in the
// example Prometheus configuration (deploy/helm/examples/prometheus.values.yaml).
const DefaultCAdvisorJob = "cadvisor"

// PrometheusConfig configures a Prometheus reader.
type PrometheusConfig struct {
	// URL is Prometheus's base URL, e.g. http://127.0.0.1:9090.
	URL string
	// CAdvisor selects this node's cAdvisor series (default
	// job="cadvisor"); add a matcher of the node (instance, or node) when
	// one Prometheus scrapes several nodes' kubelets.
	CAdvisor promsrc.Selectors
	// PodLabels selects kube-state-metrics' kube_pod_labels (default:
	// any job; no other exporter has that metric), whose
	// label_<FunctionLabel> names each pod's function when
	// kube-state-metrics exposes that label
	// (--metric-labels-allowlist=pods=[faas_function]). Without such
	// series the mapper derives the function from the pod's name.
	PodLabels promsrc.Selectors
	// FunctionLabel is the pod label naming the function; if empty,
	// DefaultFunctionLabel (OpenFaaS' faas_function).
	FunctionLabel string
	// ScrapeInterval is the interval at which Prometheus scrapes the
	// kubelet; the query range spans at least promsrc.MinRangeScrapes of
	// them. If zero, promsrc.DefaultScrapeInterval.
	ScrapeInterval time.Duration
	// Timeout bounds each query; if zero, DefaultTimeout.
	Timeout time.Duration
	// Transport, if not nil, carries the requests (default: a new
	// http.Transport, closed by Close).
	Transport http.RoundTripper
}

// ErrNoTarget is wrapped when Prometheus has no up series for the
// cAdvisor selector, or reports the target down: its series would be
// missing or stale.
var ErrNoTarget = errors.New("cadvisor: cAdvisor scrape target absent or down in Prometheus")

// Prometheus reads the pods' usage from a Prometheus server that scrapes
// the kubelet's cAdvisor endpoint: one instant query per Read (see Query).
// It is a Reader, safe for concurrent use.
type Prometheus struct {
	api     v1.API
	qc      QueryConfig
	scrape  time.Duration
	timeout time.Duration
	own     *http.Transport
}

// NewPrometheus validates cfg and returns a Prometheus reader. It sends
// nothing.
func NewPrometheus(cfg PrometheusConfig) (*Prometheus, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cadvisor: Prometheus URL %q is not an http(s) URL with a host", cfg.URL)
	}
	switch {
	case cfg.ScrapeInterval < 0:
		return nil, fmt.Errorf("cadvisor: negative ScrapeInterval %v", cfg.ScrapeInterval)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("cadvisor: negative Timeout %v", cfg.Timeout)
	}
	qc := QueryConfig{CAdvisor: cfg.CAdvisor, PodLabels: cfg.PodLabels, FunctionLabel: cmp.Or(cfg.FunctionLabel, DefaultFunctionLabel)}
	if qc.CAdvisor == nil {
		qc.CAdvisor = promsrc.Selectors{"job": DefaultCAdvisorJob}
	}
	if err := qc.CAdvisor.Validate(); err != nil {
		return nil, fmt.Errorf("cadvisor: CAdvisor selectors: %w", err)
	}
	if err := qc.PodLabels.Validate(); err != nil {
		return nil, fmt.Errorf("cadvisor: PodLabels selectors: %w", err)
	}
	if err := (promsrc.Selectors{"label_" + qc.FunctionLabel: ""}).Validate(); err != nil {
		return nil, fmt.Errorf("cadvisor: FunctionLabel %q: %w", qc.FunctionLabel, err)
	}
	p := &Prometheus{qc: qc, scrape: cmp.Or(cfg.ScrapeInterval, promsrc.DefaultScrapeInterval), timeout: cmp.Or(cfg.Timeout, DefaultTimeout)}
	rt := cfg.Transport
	if rt == nil {
		p.own = &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second}
		rt = p.own
	}
	c, err := api.NewClient(api.Config{Address: strings.TrimSuffix(cfg.URL, "/"), RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("cadvisor: %w", err)
	}
	p.api = v1.NewAPI(c)
	return p, nil
}

// Close releases idle connections of the reader's own transport.
func (p *Prometheus) Close() error {
	if p.own != nil {
		p.own.CloseIdleConnections()
	}
	return nil
}

// Read implements Reader. The CPU is averaged over the query range
// (promsrc.Range of window and the scrape interval).
func (p *Prometheus) Read(ctx context.Context, now time.Time, window time.Duration, namespace string) (Reading, error) {
	if window < 0 {
		return Reading{}, fmt.Errorf("cadvisor: negative window %v", window)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	q := Query(p.qc, namespace, promsrc.Range(window, p.scrape))
	val, _, _, err := p.api.Query(ctx, q, now, v1.WithTimeout(p.timeout))
	if err != nil {
		return Reading{}, fmt.Errorf("cadvisor: query Prometheus: %w", err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return Reading{}, fmt.Errorf("cadvisor: query returned a %s, want a vector", val.Type())
	}
	rd, up := Decode(vec, p.qc.FunctionLabel)
	if !up {
		return Reading{}, fmt.Errorf("%w (selector {%s})", ErrNoTarget, matchers(p.qc.CAdvisor))
	}
	return rd, nil
}

// QueryConfig says which series Query reads.
type QueryConfig struct {
	CAdvisor, PodLabels promsrc.Selectors
	FunctionLabel       string
}

// The values of the dfaas_q label that tell the parts of the query apart.
const (
	qCPU    = "cpu"
	qMemory = "memory"
	qLabels = "pod_function"
	qUp     = "up"
)

// QueryLabel is the label Query adds to each part of its result.
const QueryLabel = promsrc.QueryLabel

// Parts returns the expressions Query combines, for the pods of namespace
// and a rate() range rng: per pod, the CPU (cores, over rng) and the
// working set of its containers (not the pod-level cgroup, label container
// "", nor the pause container "POD"), the function its labels name, and
// whether the cAdvisor target is up.
func Parts(c QueryConfig, namespace string, rng time.Duration) []promsrc.Part {
	ns := "namespace=" + strconv.Quote(namespace)
	sel := matchers(c.CAdvisor, ns, `container!=""`, `container!="POD"`)
	fl := "label_" + c.FunctionLabel
	return []promsrc.Part{
		{Name: qCPU, Expr: fmt.Sprintf("sum by (namespace, pod) (rate(%s{%s}[%s]))", MetricCPU, sel, promsrc.FormatRange(rng))},
		{Name: qMemory, Expr: fmt.Sprintf("sum by (namespace, pod) (%s{%s})", MetricMemory, sel)},
		{Name: qLabels, Expr: fmt.Sprintf("max by (namespace, pod, %s) (kube_pod_labels{%s})", fl, matchers(c.PodLabels, ns, fl+`!=""`))},
		{Name: qUp, Expr: fmt.Sprintf("min(up{%s})", matchers(c.CAdvisor))},
	}
}

// Query returns the single PromQL expression a Prometheus reader
// evaluates: every part of Parts, tagged with its name in the dfaas_q
// label and joined with or.
func Query(c QueryConfig, namespace string, rng time.Duration) string {
	parts := Parts(c, namespace, rng)
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = fmt.Sprintf("label_replace(%s, %q, %q, \"\", \"\")", p.Expr, QueryLabel, p.Name)
	}
	return strings.Join(out, "\nor ")
}

// matchers renders s and extra matchers as the inside of a PromQL
// selector, sorted by label name (as promsrc renders them).
func matchers(s promsrc.Selectors, extra ...string) string {
	parts := make([]string, 0, len(s)+len(extra))
	for _, k := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, k+"="+strconv.Quote(s[k]))
	}
	return strings.Join(append(parts, extra...), ", ")
}

// Decode turns the result of Query into a Reading and whether the
// cAdvisor target is up. Samples with unknown tags, without a pod label,
// or with values that are not finite and non-negative are skipped
// (counted in Problems, the first described).
func Decode(vec model.Vector, functionLabel string) (Reading, bool) {
	var rd Reading
	up := false
	pods := map[[2]string]*Pod{}
	fl := model.LabelName("label_" + cmp.Or(functionLabel, DefaultFunctionLabel))
	for _, smp := range vec {
		if smp == nil {
			continue
		}
		m := smp.Metric
		q := string(m[QueryLabel])
		v := float64(smp.Value)
		if !(v >= 0) || math.IsInf(v, 0) {
			rd.Problems.add("%s part, series %s: value %v is not a finite non-negative number", q, m, v)
			continue
		}
		if q == qUp {
			up = v == 1
			continue
		}
		k := [2]string{string(m["namespace"]), string(m["pod"])}
		if k[1] == "" || (q != qCPU && q != qMemory && q != qLabels) {
			rd.Problems.add("series %s: no pod label or unknown part", m)
			continue
		}
		p := pods[k]
		if p == nil {
			p = &Pod{Namespace: k[0], Pod: k[1]}
			pods[k] = p
		}
		switch q {
		case qCPU:
			p.CPU = v
		case qMemory:
			p.Memory = v
		case qLabels:
			p.Function = string(m[fl])
		}
	}
	for _, p := range pods {
		rd.Pods = append(rd.Pods, *p)
	}
	slices.SortFunc(rd.Pods, func(a, b Pod) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Pod, b.Pod)
	})
	return rd, up
}

// Interface guards.
var _ Reader = (*Prometheus)(nil)
