package cadvisor_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
)

// fakeReader returns a settable reading or error, and records the
// namespaces asked for.
type fakeReader struct {
	mu  sync.Mutex
	rd  cadvisor.Reading
	err error
	ns  []string
}

func (f *fakeReader) Read(ctx context.Context, now time.Time, window time.Duration, namespace string) (cadvisor.Reading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ns = append(f.ns, namespace)
	return f.rd, f.err
}

func TestSource(t *testing.T) {
	inner := metricsrc.NewStatic(metricsrc.Sample{Node: metricsrc.NodeUsage{CPU: 1.5}, Functions: []metricsrc.FunctionRates{
		{Name: "figlet", Offered: 10, Local: 9},
		{Name: "shasum", Offered: 1, Local: 1},
	}})
	fr := &fakeReader{rd: cadvisor.Reading{Pods: []cadvisor.Pod{
		{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-q9zrt", CPU: 0.25, Memory: 3e7},
		{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-x7k2p", CPU: 0.5, Memory: 2e7},
		{Namespace: "openfaas-fn", Pod: "nodeinfo-6b8d7f4c5d-2kq9x", Memory: 1e7},
		{Namespace: "openfaas-fn", Pod: "db-0", CPU: 3, Memory: 1e9},
	}, Problems: cadvisor.Problems{Count: 1, First: "container_cpu_usage_seconds_total{...}: no pod label"}}}
	var logs bytes.Buffer
	src, err := cadvisor.New(cadvisor.Config{Inner: inner, Reader: fr, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Sample(context.Background(), time.Unix(100, 0), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []metricsrc.FunctionRates{
		{Name: "figlet", Offered: 10, Local: 9, CPU: 0.75, Memory: 5e7}, // summed over its two replicas
		{Name: "nodeinfo", Memory: 1e7},                                 // deployed, no request yet
		{Name: "shasum", Offered: 1, Local: 1},                          // no pod: unknown
	}
	if len(s.Functions) != len(want) {
		t.Fatalf("functions %+v, want %+v", s.Functions, want)
	}
	for i := range want {
		if got := s.Functions[i]; got.Name != want[i].Name || got.Offered != want[i].Offered || got.Local != want[i].Local || got.CPU != want[i].CPU || got.Memory != want[i].Memory {
			t.Errorf("function %d: %+v, want %+v", i, got, want[i])
		}
	}
	if s.Node.CPU != 1.5 || s.Window != 5*time.Second {
		t.Errorf("the inner sample's node usage or window changed: %+v", s)
	}
	if fr.ns[0] != "openfaas-fn" {
		t.Errorf("read namespace %q", fr.ns[0])
	}
	if !strings.Contains(logs.String(), "no pod label") {
		t.Errorf("skipped series not logged: %q", logs.String())
	}
	logs.Reset()
	src.Sample(context.Background(), time.Unix(105, 0), 5*time.Second)
	if logs.Len() != 0 {
		t.Errorf("the same problem logged again: %q", logs.String())
	}

	// The reader fails: the inner sample, degraded.
	fr.mu.Lock()
	fr.err = errors.New("kubelet down")
	fr.mu.Unlock()
	s, err = src.Sample(context.Background(), time.Unix(110, 0), 5*time.Second)
	if !errors.Is(err, metricsrc.ErrDegraded) || !strings.Contains(err.Error(), "kubelet down") || len(s.Functions) != 2 || s.Functions[0].CPU != 0 {
		t.Errorf("reader failing: %+v, %v; want the inner sample and a degraded error", s, err)
	}
	// The inner source is degraded too: both said.
	deg := metricsrc.Fallback(failing{}, inner)
	src2, _ := cadvisor.New(cadvisor.Config{Inner: deg, Reader: fr})
	if _, err := src2.Sample(context.Background(), time.Unix(110, 0), 5*time.Second); !errors.Is(err, metricsrc.ErrDegraded) || !strings.Contains(err.Error(), "kubelet down") || !strings.Contains(err.Error(), "prometheus down") {
		t.Errorf("both degraded: %v", err)
	}
	// The inner source fails: no sample.
	inner.SetErr(errors.New("counters gone"))
	if _, err := src.Sample(context.Background(), time.Unix(115, 0), 5*time.Second); err == nil || errors.Is(err, metricsrc.ErrDegraded) {
		t.Errorf("inner failing: %v, want its error, not degraded", err)
	}
	// A cancelled context is not a degraded sample.
	inner.SetErr(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fr.mu.Lock()
	fr.err = context.Canceled
	fr.mu.Unlock()
	if _, err := src.Sample(ctx, time.Unix(120, 0), 5*time.Second); !errors.Is(err, context.Canceled) || errors.Is(err, metricsrc.ErrDegraded) {
		t.Errorf("cancelled: %v", err)
	}

	for _, cfg := range []cadvisor.Config{{Reader: fr}, {Inner: inner}, {Inner: inner, Reader: fr, Mapper: cadvisor.OpenWhisk{}}} {
		if _, err := cadvisor.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

type failing struct{}

func (failing) Sample(context.Context, time.Time, time.Duration) (metricsrc.Sample, error) {
	return metricsrc.Sample{}, errors.New("prometheus down")
}

// TestSourceConcurrent: Sample is safe for concurrent use (run with
// -race).
func TestSourceConcurrent(t *testing.T) {
	url, caFile, tokenFile := kubeletServer(t, "tok", nil)
	k, err := cadvisor.NewKubelet(cadvisor.KubeletConfig{URL: url, CAFile: caFile, TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := cadvisor.New(cadvisor.Config{Inner: metricsrc.NewStatic(metricsrc.Sample{}), Reader: k})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			s, err := src.Sample(context.Background(), time.Unix(int64(i), 0), time.Second)
			if err != nil || len(s.Functions) != 2 { // figlet and shasum; worker-0 is not a Deployment's pod
				t.Errorf("sample %+v, %v", s.Functions, err)
			}
		})
	}
	wg.Wait()
	if err := src.Close(); err != nil {
		t.Error(err)
	}
}
