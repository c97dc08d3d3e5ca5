package promsrc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/metricsrc"
)

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		window, scrape, want time.Duration
		text                 string
	}{
		{5 * time.Second, time.Second, 5 * time.Second, "5s"},
		{time.Second, time.Second, 4 * time.Second, "4s"},
		{100 * time.Millisecond, 250 * time.Millisecond, time.Second, "1s"},
		{1500 * time.Millisecond, 100 * time.Millisecond, 1500 * time.Millisecond, "1500ms"},
		{10*time.Second + 1, time.Second, 10*time.Second + time.Millisecond, "10001ms"},
		{0, 5 * time.Second, 20 * time.Second, "20s"},
		{0, 0, time.Millisecond, "1ms"},
		{90 * time.Second, 15 * time.Second, 90 * time.Second, "90s"},
	} {
		got := Range(tc.window, tc.scrape)
		if got != tc.want || FormatRange(got) != tc.text {
			t.Errorf("Range(%v, %v) = %v (%s), want %v (%s)", tc.window, tc.scrape, got, FormatRange(got), tc.want, tc.text)
		}
	}
}

func TestParseSelectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Selectors
		err  string
	}{
		{"", Selectors{}, ""},
		{"job=dfaas-agent", Selectors{"job": "dfaas-agent"}, ""},
		{` job = "node" , instance=10.0.0.5:9100`, Selectors{"job": "node", "instance": "10.0.0.5:9100"}, ""},
		{"job", nil, "want name=value"},
		{"job=a,job=b", nil, "given twice"},
		{"1job=a", nil, "not [a-zA-Z_]"},
		{"a-b=c", nil, "not [a-zA-Z_]"},
	} {
		got, err := ParseSelectors(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSelectors(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseSelectors(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestQueryGolden pins the PromQL for a few configurations and periods.
func TestQueryGolden(t *testing.T) {
	da, dg, dn := defaultSelectors()
	var buf bytes.Buffer
	for _, tc := range []struct {
		name          string
		qc            QueryConfig
		window, scrap time.Duration
	}{
		{"defaults, 5s period, 5s scrapes", QueryConfig{Agent: da, Gateway: dg, Node: dn}, 5 * time.Second, 5 * time.Second},
		{"one instance, 100ms period, 1s scrapes", QueryConfig{
			Agent:   Selectors{"job": "dfaas-agent", "instance": "10.0.0.5:8080"},
			Gateway: Selectors{"job": "openfaas-gateway", "instance": `we"ird\host`},
			Node:    Selectors{}}, 100 * time.Millisecond, time.Second},
		{"1.5s period, 250ms scrapes", QueryConfig{Agent: da, Gateway: dg, Node: dn}, 1500 * time.Millisecond, 250 * time.Millisecond},
		{"OpenWhisk's user-events series, namespace guest", QueryConfig{Agent: da, Gateway: DefaultOpenWhiskSelectors(), Node: dn,
			Series: SeriesOpenWhisk, Namespace: "guest"}, 5 * time.Second, time.Second},
	} {
		fmt.Fprintf(&buf, "# %s\n%s\n\n", tc.name, Query(tc.qc, Range(tc.window, tc.scrap)))
	}
	golden.Check(t, filepath.Join("testdata", "query.golden"), buf.Bytes())
}

func TestCollector(t *testing.T) {
	c := metricsrc.NewCounters()
	f := c.Function("figlet")
	f.Offered.Add(10)
	f.Local.Add(7)
	f.Rejected.Add(2)
	f.Failed.Add(1)
	f.AddForwarded("b")
	f.AddReceived("c")
	f.AddReceived("c")
	f.ObserveLatency(250 * time.Millisecond)
	f.ObserveLatency(750 * time.Millisecond)
	c.Function("bad\xff")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(c, 0))
	golden.Check(t, filepath.Join("testdata", "collector.golden"), gatherText(t, reg))

	failing := prometheus.NewPedanticRegistry()
	failing.MustRegister(NewCollector(errReader{}, time.Second))
	if got := string(gatherText(t, failing)); !strings.Contains(got, MetricCountersUp+" 0") || strings.Contains(got, "dfaas_proxy_offered") {
		t.Errorf("failing reader exported:\n%s", got)
	}
}

// gatherText gathers reg and writes it in the text format.
func gatherText(t *testing.T, reg prometheus.Gatherer) []byte {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

type errReader struct{}

func (errReader) Totals(context.Context) (metricsrc.Totals, error) {
	return metricsrc.Totals{}, errors.New("proxy down")
}

// fakeProm answers /api/v1/query with a vector built by the test, and
// records the queries.
type fakeProm struct {
	srv     *httptest.Server
	vec     atomic.Value // []map[string]any of {"metric":..., "value":[ts, "v"]}
	status  atomic.Int32
	queries atomic.Value
}

func newFakeProm(t *testing.T) *fakeProm {
	fp := &fakeProm{}
	fp.status.Store(200)
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		r.ParseForm()
		fp.queries.Store(r.Form.Get("query") + "@" + r.Form.Get("time"))
		if code := int(fp.status.Load()); code != 200 {
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "execution", "error": "boom"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": fp.vec.Load()}})
	}))
	t.Cleanup(fp.srv.Close)
	return fp
}

func series(q string, v float64, kv ...string) map[string]any {
	m := map[string]string{QueryLabel: q}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return map[string]any{"metric": m, "value": []any{1000.0, fmt.Sprint(v)}}
}

func TestSourceSample(t *testing.T) {
	fp := newFakeProm(t)
	fp.vec.Store([]map[string]any{
		series(qAgentUp, 1), series(qGatewayUp, 1), series(qNodeUp, 1),
		series(qOffered, 170, "function", "figlet"),
		series(qLocal, 100, "function", "figlet"),
		series(qReceived, 5, "function", "figlet"),
		series(qForwarded, 40, "function", "figlet"),
		series(qRejected, 30, "function", "figlet"),
		series(qFailed, 1, "function", "figlet"),
		series(qNbForwarded, 25, "function", "figlet", "neighbour", "c"),
		series(qNbForwarded, 15, "function", "figlet", "neighbour", "b"),
		series(qNbReceived, 5, "function", "figlet", "neighbour", "b"),
		series(qProxySecs, 2, "function", "figlet"),
		series(qProxyCount, 100, "function", "figlet"),
		series(qGwInvoked, 95, "function_name", "figlet.openfaas-fn", "code", "200"),
		series(qGwInvoked, 4, "function_name", "figlet.openfaas-fn", "code", "429"),
		series(qGwInvoked, 1, "function_name", "figlet.openfaas-fn", "code", "503"),
		series(qGwSecs, 1.9, "function_name", "figlet.openfaas-fn"),
		series(qGwCount, 95, "function_name", "figlet.openfaas-fn"),
		series(qGwInvoked, 3, "function_name", "env.openfaas-fn", "code", "200"),
		series(qCPUBusy, 1.25), series(qCPUCores, 2),
		series(qMemTotal, 8e9), series(qMemAvailable, 6e9),
		series(qOffered, math.NaN(), "function", "nan"),
		series("unknown", 7, "function", "x"),
		series(qOffered, 3),
	})
	src, err := New(Config{URL: fp.srv.URL, ScrapeInterval: time.Second, Namespace: "openfaas-fn"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	now := time.Unix(1000, 0)
	s, err := src.Sample(context.Background(), now, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := fp.queries.Load().(string); !strings.Contains(q, "[4s]") || !strings.HasSuffix(q, "@1000") {
		t.Errorf("query sent: %s", q)
	}
	if s.Window != 4*time.Second || !s.Time.Equal(now) {
		t.Errorf("window %v time %v", s.Window, s.Time)
	}
	want := []metricsrc.FunctionRates{
		{Name: "env", Local: 3},
		{Name: "figlet", Offered: 170, Local: 100, FromNeighbours: 5, Forwarded: 40, Rejected: 30, Failed: 1,
			Latency:    20 * time.Millisecond,
			Neighbours: []metricsrc.NeighbourRates{{ID: "b", Forwarded: 15, Received: 5}, {ID: "c", Forwarded: 25}}},
	}
	if fmt.Sprint(s.Functions) != fmt.Sprint(want) {
		t.Errorf("functions\n got %+v\nwant %+v", s.Functions, want)
	}
	if s.Node != (metricsrc.NodeUsage{CPU: 1.25, CPUCores: 2, Memory: 2e9, MemoryTotal: 8e9}) {
		t.Errorf("node %+v", s.Node)
	}
	r, err := src.Read(context.Background(), now, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fig := r.Functions[1]
	if fig.Invocations != 100 || fig.Success != 95 || fig.Refused != 4 || fig.Errors != 1 || fig.Proxy.Latency != 20*time.Millisecond {
		t.Errorf("gateway reading %+v", fig)
	}

	// The agent's target down: an error, so that a Fallback takes over.
	fp.vec.Store([]map[string]any{series(qAgentUp, 0), series(qOffered, 170, "function", "figlet")})
	if _, err := src.Sample(context.Background(), now, time.Second); !errors.Is(err, ErrNoAgentTarget) {
		t.Errorf("agent down: %v, want ErrNoAgentTarget", err)
	}
	fp.vec.Store([]map[string]any{})
	if _, err := src.Sample(context.Background(), now, time.Second); !errors.Is(err, ErrNoAgentTarget) {
		t.Errorf("agent absent: %v, want ErrNoAgentTarget", err)
	}
	fp.status.Store(500)
	if _, err := src.Sample(context.Background(), now, time.Second); err == nil {
		t.Error("Prometheus error: Sample succeeded")
	}
	if _, err := src.Sample(context.Background(), now, -time.Second); err == nil {
		t.Error("negative window accepted")
	}
}

func TestFallbackWhenUnreachable(t *testing.T) {
	fp := newFakeProm(t)
	fp.vec.Store([]map[string]any{series(qAgentUp, 1), series(qOffered, 9, "function", "f")})
	src, err := New(Config{URL: fp.srv.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	counters := metricsrc.NewCounters()
	source := metricsrc.Fallback(src, metricsrc.NewDelta(counters))
	now := time.Unix(1000, 0)
	s, err := source.Sample(context.Background(), now, time.Second)
	if err != nil || len(s.Functions) != 1 || s.Functions[0].Offered != 9 {
		t.Fatalf("Prometheus up: %+v, %v", s, err)
	}
	counters.Function("f").Offered.Add(50)
	fp.srv.Close()
	s, err = source.Sample(context.Background(), now.Add(time.Second), time.Second)
	if !errors.Is(err, metricsrc.ErrDegraded) {
		t.Fatalf("Prometheus down: %v, want ErrDegraded", err)
	}
	if len(s.Functions) != 1 || s.Functions[0].Offered != 50 || s.Window != time.Second {
		t.Errorf("fallback sample %+v: want the proxy's 50 req/s over the window", s)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "localhost:9090"},
		{URL: "http://p", ScrapeInterval: -1},
		{URL: "http://p", Timeout: -1},
		{URL: "http://p", Agent: Selectors{"bad-name": "x"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`[{"metric":{"dfaas_q":"offered","function":"a"},"value":[1,"3"]},{"metric":{"dfaas_q":"gw_invocations","function_name":"a.ns","code":"200"},"value":[1,"2"]}]`))
	f.Add([]byte(`[{"metric":{"dfaas_q":"nb_forwarded","function":"a","neighbour":"b"},"value":[1,"+Inf"]},{"metric":{"dfaas_q":"node_memory_available"},"value":[1,"9"]},{"metric":{"dfaas_q":"node_memory_total"},"value":[1,"4"]}]`))
	f.Add([]byte(`[{"metric":{"dfaas_q":"gw_seconds_sum","function_name":"x"},"value":[1,"1e308"]},{"metric":{"dfaas_q":"gw_seconds_count","function_name":"x"},"value":[1,"1e-308"]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var vec model.Vector
		if json.Unmarshal(data, &vec) != nil {
			return
		}
		r := Decode(vec, "ns")
		s := r.Sample()
		if !slices.IsSortedFunc(s.Functions, func(a, b metricsrc.FunctionRates) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatal("functions not sorted")
		}
		ok := func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }
		for _, f := range s.Functions {
			for _, v := range []float64{f.Offered, f.Local, f.FromNeighbours, f.Forwarded, f.Rejected, f.Failed} {
				if !ok(v) {
					t.Fatalf("bad rate in %+v", f)
				}
			}
			if f.Latency < 0 {
				t.Fatalf("negative latency %+v", f)
			}
		}
		n := s.Node
		for _, v := range []float64{n.CPU, n.CPUCores, n.Memory, n.MemoryTotal} {
			if !ok(v) {
				t.Fatalf("bad node usage %+v", n)
			}
		}
		if n.Memory > n.MemoryTotal {
			t.Fatalf("memory %v above total %v", n.Memory, n.MemoryTotal)
		}
	})
}

func FuzzParseSelectors(f *testing.F) {
	f.Add("job=dfaas-agent,instance=10.0.0.5:8080")
	f.Add(`job="a\"b"`)
	f.Add("a=,b=\xff")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSelectors(in)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed selectors invalid: %v", err)
		}
		// Every value is rendered as a PromQL string that reads back
		// as the value: no injection into the query.
		for k, v := range s {
			m := Selectors{k: v}.matchers()
			q, ok := strings.CutPrefix(m, k+"=")
			if !ok {
				t.Fatalf("matcher %q", m)
			}
			if got, err := strconv.Unquote(q); err != nil || got != v {
				t.Fatalf("value %q rendered as %s", v, q)
			}
		}
	})
}
