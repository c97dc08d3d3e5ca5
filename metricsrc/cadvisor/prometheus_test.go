package cadvisor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
)

func TestQueryGolden(t *testing.T) {
	qc := cadvisor.QueryConfig{CAdvisor: promsrc.Selectors{"job": "cadvisor", "node": "edge-1"}, FunctionLabel: "faas_function"}
	var b bytes.Buffer
	b.WriteString(cadvisor.Query(qc, "openfaas-fn", 5*time.Second))
	b.WriteString("\n\n")
	b.WriteString(cadvisor.Query(qc, "openwhisk", 7500*time.Millisecond))
	b.WriteString("\n")
	golden.Check(t, filepath.Join("testdata", "query.golden"), b.Bytes())
}

func sample(q string, labels map[string]string, v float64) *model.Sample {
	m := model.Metric{cadvisor.QueryLabel: model.LabelValue(q)}
	for k, x := range labels {
		m[model.LabelName(k)] = model.LabelValue(x)
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

func TestDecode(t *testing.T) {
	pod := func(p string) map[string]string { return map[string]string{"namespace": "openfaas-fn", "pod": p} }
	vec := model.Vector{
		sample("cpu", pod("figlet-5d7f8b9c4-x7k2p"), 0.25),
		sample("memory", pod("figlet-5d7f8b9c4-x7k2p"), 3e7),
		sample("memory", pod("worker-0"), 8e6),
		sample("pod_function", map[string]string{"namespace": "openfaas-fn", "pod": "worker-0", "label_faas_function": "worker"}, 1),
		sample("cpu", pod("bad"), math.NaN()),
		sample("cpu", map[string]string{"namespace": "openfaas-fn"}, 1),
		sample("surprise", pod("x"), 1),
		nil,
		sample("up", nil, 1),
	}
	rd, up := cadvisor.Decode(vec, "")
	if !up {
		t.Error("target not up")
	}
	want := []cadvisor.Pod{
		{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-x7k2p", CPU: 0.25, Memory: 3e7},
		{Namespace: "openfaas-fn", Pod: "worker-0", Function: "worker", Memory: 8e6},
	}
	if len(rd.Pods) != len(want) {
		t.Fatalf("pods %+v, want %+v", rd.Pods, want)
	}
	for i := range want {
		if rd.Pods[i] != want[i] {
			t.Errorf("pod %d: %+v, want %+v", i, rd.Pods[i], want[i])
		}
	}
	if rd.Problems.Count != 3 || !strings.Contains(rd.Problems.First, "value NaN") {
		t.Errorf("problems %+v", rd.Problems)
	}
	if _, up := cadvisor.Decode(model.Vector{sample("up", nil, 0)}, ""); up {
		t.Error("a target down is up")
	}
}

// fakePrometheus answers /api/v1/query with vec (or status code) and
// records the queries.
func fakePrometheus(t *testing.T, vec model.Vector, code int, queries *[]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		*queries = append(*queries, r.Form.Get("query"))
		if code != http.StatusOK {
			http.Error(w, `{"status":"error","errorType":"bad_data","error":"boom"}`, code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": vec}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPrometheusReader(t *testing.T) {
	var queries []string
	vec := model.Vector{
		sample("cpu", map[string]string{"namespace": "openfaas-fn", "pod": "figlet-5d7f8b9c4-x7k2p"}, 0.5),
		sample("up", nil, 1),
	}
	url := fakePrometheus(t, vec, http.StatusOK, &queries)
	p, err := cadvisor.NewPrometheus(cadvisor.PrometheusConfig{URL: url, ScrapeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rd, err := p.Read(context.Background(), time.Unix(1000, 0), 2*time.Second, "openfaas-fn")
	if err != nil || len(rd.Pods) != 1 || rd.Pods[0].CPU != 0.5 {
		t.Fatalf("Read: %+v, %v", rd, err)
	}
	qc := cadvisor.QueryConfig{CAdvisor: promsrc.Selectors{"job": "cadvisor"}, FunctionLabel: "faas_function"}
	if len(queries) != 1 || queries[0] != cadvisor.Query(qc, "openfaas-fn", 4*time.Second) {
		t.Errorf("queries %q: want the default selector and a 4 s range (4 scrapes)", queries)
	}

	down := fakePrometheus(t, model.Vector{sample("up", nil, 0)}, http.StatusOK, &queries)
	p, _ = cadvisor.NewPrometheus(cadvisor.PrometheusConfig{URL: down})
	if _, err := p.Read(context.Background(), time.Now(), time.Second, "openfaas-fn"); !errors.Is(err, cadvisor.ErrNoTarget) || !strings.Contains(err.Error(), `job="cadvisor"`) {
		t.Errorf("target down: %v", err)
	}
	broken := fakePrometheus(t, nil, http.StatusBadRequest, &queries)
	p, _ = cadvisor.NewPrometheus(cadvisor.PrometheusConfig{URL: broken})
	if _, err := p.Read(context.Background(), time.Now(), time.Second, "openfaas-fn"); err == nil || !strings.Contains(err.Error(), "query Prometheus") {
		t.Errorf("bad request: %v", err)
	}
	if _, err := p.Read(context.Background(), time.Now(), -time.Second, "openfaas-fn"); err == nil {
		t.Error("negative window accepted")
	}

	for _, cfg := range []cadvisor.PrometheusConfig{
		{URL: "prometheus:9090"},
		{URL: "http://p:9090", ScrapeInterval: -1},
		{URL: "http://p:9090", Timeout: -1},
		{URL: "http://p:9090", CAdvisor: promsrc.Selectors{"bad-label": "x"}},
		{URL: "http://p:9090", PodLabels: promsrc.Selectors{"0x": "x"}},
		{URL: "http://p:9090", FunctionLabel: "faas.function"},
	} {
		if _, err := cadvisor.NewPrometheus(cfg); err == nil {
			t.Errorf("NewPrometheus(%+v) accepted", cfg)
		}
	}
}
