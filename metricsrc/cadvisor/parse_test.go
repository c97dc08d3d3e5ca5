package cadvisor_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
)

// recorded is a /metrics/cadvisor page of the cAdvisor library (v0.61.0)
// recorded by internal/cadvisorreal (see the file's head): two replicas of
// figlet (one with a pause container), shasum, worker-0, and coredns in
// kube-system.
const recorded = "testdata/kubelet-cadvisor-v0.61.0.txt"

func TestParseRecorded(t *testing.T) {
	page, err := os.ReadFile(recorded)
	if err != nil {
		t.Fatal(err)
	}
	ss, probs, err := cadvisor.Parse(bytes.NewReader(page), "openfaas-fn", cadvisor.Limits{})
	if err != nil || probs.Count != 0 {
		t.Fatalf("Parse: %v, problems %+v", err, probs)
	}
	got := map[string]int{}
	for _, s := range ss {
		kind := "cpu"
		if s.Memory {
			kind = "memory"
		}
		got[s.Pod+"/"+s.Container+" "+kind]++
		if s.Time.IsZero() || s.Value <= 0 || !strings.Contains(s.Key, "/kubepods/burstable/pod") {
			t.Errorf("series %+v: no timestamp, value or cgroup", s)
		}
		if !s.Memory && !strings.HasSuffix(s.Key, "|cpu=total") {
			t.Errorf("CPU series key %q has no cpu label", s.Key)
		}
	}
	want := map[string]int{}
	for _, pc := range []string{"figlet-5d7f8b9c4-x7k2p/figlet", "figlet-5d7f8b9c4-q9zrt/figlet", "shasum-7c9bd5f8f6-bq2zl/shasum", "worker-0/worker"} {
		want[pc+" cpu"], want[pc+" memory"] = 1, 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series %v, want %v (no pod-level cgroup, no pause container, no other namespace)", got, want)
	}
	// The recorded processes touched 24 MiB (figlet) and 40 MiB (shasum).
	for _, s := range ss {
		if s.Memory && (s.Container == "figlet" && s.Value < 24<<20 || s.Container == "shasum" && s.Value < 40<<20) {
			t.Errorf("%s/%s working set %v", s.Pod, s.Container, s.Value)
		}
	}
	ss, _, err = cadvisor.Parse(bytes.NewReader(page), "kube-system", cadvisor.Limits{})
	if err != nil || len(ss) != 2 || ss[0].Pod != "coredns-6799fbcd5-9wtnb" {
		t.Errorf("kube-system: %+v, %v", ss, err)
	}
}

func TestParseErrors(t *testing.T) {
	const ok = `# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="f",cpu="total",id="/a",namespace="ns",pod="f-5d7f8b9c4-x7k2p"} 1.5 1700000000000
`
	tests := []struct {
		name, page string
		lim        cadvisor.Limits
		err        string // substring; "" when Parse succeeds
		problem    string // substring of Problems.First
		n          int    // series returned
	}{
		{name: "valid", page: ok, n: 1},
		{name: "no timestamp", page: strings.Replace(ok, " 1700000000000", "", 1), n: 1},
		{name: "wrong type", page: strings.Replace(ok, "counter", "histogram", 1), err: "container_cpu_usage_seconds_total has type histogram, want counter"},
		{name: "syntax", page: ok + "container_cpu_usage_seconds_total{namespace=\"ns\",pod=\"x\" 1\n", err: "parse"},
		{name: "negative", page: strings.Replace(ok, "1.5", "-1", 1), problem: `container_cpu_usage_seconds_total{namespace="ns", pod="f-5d7f8b9c4-x7k2p", container="f"}: value -1`},
		{name: "NaN", page: strings.Replace(ok, "1.5", "NaN", 1), problem: "value NaN"},
		{name: "infinite", page: strings.Replace(ok, "1.5", "+Inf", 1), problem: "value +Inf"},
		{name: "no pod", page: strings.Replace(ok, `,pod="f-5d7f8b9c4-x7k2p"`, "", 1), problem: "no pod label"},
		{name: "other namespace", page: strings.Replace(ok, `namespace="ns"`, `namespace="nsx"`, 1)},
		{name: "label value naming the namespace", page: strings.Replace(ok, `namespace="ns"`, `namespace="x",image="namespace=\"ns\""`, 1)},
		{name: "pod-level cgroup", page: strings.Replace(ok, `container="f"`, `container=""`, 1)},
		{name: "pause container", page: strings.Replace(ok, `container="f"`, `container="POD"`, 1)},
		{name: "other metric", page: strings.ReplaceAll(ok, "container_cpu_usage_seconds_total", "container_cpu_usage_seconds_totalx")},
		{name: "too many bytes", page: ok, lim: cadvisor.Limits{MaxBytes: 50}, err: "more than 50 bytes"},
		{name: "line too long", page: ok, lim: cadvisor.Limits{MaxLine: 64}, err: "line 2 longer than 64 bytes"},
		{name: "too many series", page: ok + strings.Replace(ok, `id="/a"`, `id="/b"`, 1)[len("# TYPE container_cpu_usage_seconds_total counter\n"):], lim: cadvisor.Limits{MaxSeries: 1}, err: "more than 1 series"},
		{name: "empty", page: "", err: "empty exposition"},
		{name: "nothing of the namespace", page: "# HELP up x\nup 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss, probs, err := cadvisor.Parse(strings.NewReader(tt.page), "ns", tt.lim)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				if strings.Contains(tt.name, "too") && !errors.Is(err, cadvisor.ErrTooLarge) {
					t.Errorf("%v does not wrap ErrTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.problem != "" && (probs.Count != 1 || !strings.Contains(probs.First, tt.problem)) {
				t.Errorf("problems %+v, want one with %q", probs, tt.problem)
			}
			if tt.problem == "" && probs.Count != 0 {
				t.Errorf("unexpected problems %+v", probs)
			}
			if len(ss) != tt.n {
				t.Errorf("%d series, want %d: %+v", len(ss), tt.n, ss)
			}
		})
	}
	ss, _, _ := cadvisor.Parse(strings.NewReader(ok), "ns", cadvisor.Limits{})
	if want := time.UnixMilli(1700000000000); len(ss) != 1 || !ss[0].Time.Equal(want) || ss[0].Value != 1.5 || ss[0].Key != "/a|cpu=total" {
		t.Errorf("parsed %+v", ss)
	}
}

// FuzzParse: Parse never panics, and what it returns respects its limits
// and contract.
func FuzzParse(f *testing.F) {
	page, err := os.ReadFile(recorded)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(page[:min(len(page), 8<<10)])
	f.Add([]byte("# TYPE container_memory_working_set_bytes gauge\ncontainer_memory_working_set_bytes{namespace=\"openfaas-fn\",pod=\"a-1-bcdfg\",container=\"a\"} 1e9 1\n"))
	f.Add([]byte("container_cpu_usage_seconds_total{namespace=\"openfaas-fn\",pod=\"p\",container=\"c\",cpu=\"cpu00\"} 12\ncontainer_cpu_usage_seconds_total{namespace=\"openfaas-fn\",pod=\"p\",container=\"c\",cpu=\"cpu01\"} 3\n"))
	lim := cadvisor.Limits{MaxBytes: 64 << 10, MaxLine: 4 << 10, MaxSeries: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, probs, err := cadvisor.Parse(bytes.NewReader(data), "openfaas-fn", lim)
		if err != nil {
			if ss != nil {
				t.Fatal("series returned with an error")
			}
			return
		}
		if len(ss) > lim.MaxSeries || probs.Count < 0 || probs.Count > 0 && probs.First == "" {
			t.Fatalf("%d series, problems %+v", len(ss), probs)
		}
		for _, s := range ss {
			if s.Namespace != "openfaas-fn" || s.Pod == "" || s.Container == "" || s.Container == "POD" || !(s.Value >= 0) || s.Value > 1e308 || s.Key == "" {
				t.Fatalf("bad series %+v", s)
			}
		}
	})
}

// BenchmarkParse compares Parse on the recorded kubelet page with parsing
// the whole page with expfmt (the baseline): Parse drops the lines of
// other metrics and namespaces before parsing.
func BenchmarkParse(b *testing.B) {
	page, err := os.ReadFile(recorded)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-expfmt-whole-page", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			p := expfmt.NewTextParser(model.UTF8Validation)
			if _, err := p.TextToMetricFamilies(bytes.NewReader(page)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parse", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := cadvisor.Parse(bytes.NewReader(page), "openfaas-fn", cadvisor.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
