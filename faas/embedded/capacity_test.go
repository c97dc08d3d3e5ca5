package embedded

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/golden"
)

func serve(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs
}

func call(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDefaultServesEveryBuiltin(t *testing.T) {
	s, hs := serve(t, Config{})
	fns, err := s.Functions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != len(Handlers()) {
		t.Fatalf("%d functions, want %d", len(fns), len(Handlers()))
	}
	for _, f := range fns {
		if c, err := f.Capacity(); err != nil || c != DefaultCapacity {
			t.Errorf("%s: capacity %v %v", f.Name, c, err)
		}
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/function/echo", "hello", "hello"},
		{"/function/shasum", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n"},
		{"/function/sleep?d=1ms", "", "slept 1ms\n"},
	} {
		code, body := call(t, hs.URL+tc.path, tc.body)
		if code != 200 || body != tc.want {
			t.Errorf("%s: %d %q, want 200 %q", tc.path, code, body, tc.want)
		}
	}
	for _, path := range []string{"/function/cpu?ms=1", "/function/memory?mb=1&ms=1"} {
		if code, body := call(t, hs.URL+path, ""); code != 200 {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if code, _ := call(t, hs.URL+"/function/sleep?d=1h", ""); code != 400 {
		t.Errorf("sleep 1h: %d, want 400", code)
	}
	if code, _ := call(t, hs.URL+"/function/nope", ""); code != 404 {
		t.Errorf("unknown function: %d, want 404", code)
	}
}

func TestFigletGolden(t *testing.T) {
	_, hs := serve(t, Config{Functions: []Function{{Name: "figlet", Capacity: 1e6}}})
	_, got := call(t, hs.URL+"/function/figlet", "DFaaS 2026!")
	golden.Check(t, filepath.Join("testdata", "figlet.golden"), []byte(got))
}

func TestGatewayAPI(t *testing.T) {
	_, hs := serve(t, Config{Functions: []Function{{Name: "figlet", Capacity: 50, Concurrency: 4, Labels: map[string]string{"team": "x"}}}})
	call(t, hs.URL+"/function/figlet", "x")
	resp, err := http.Get(hs.URL + "/system/functions")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 {
		t.Fatalf("list %v", list)
	}
	labels := list[0]["labels"].(map[string]any)
	if labels["dfaas.maxrate"] != "50" || labels["dfaas.concurrency"] != "4" || labels["team"] != "x" {
		t.Errorf("labels %v", labels)
	}
	if list[0]["replicas"] != 1.0 || list[0]["invocationCount"] != 1.0 {
		t.Errorf("status %v", list[0])
	}
	resp, _ = http.Get(hs.URL + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gateway_function_invocation_total{code="200",function_name="figlet"} 1`,
		`gateway_functions_seconds_count{code="200",function_name="figlet"} 1`,
		`gateway_service_count{function_name="figlet"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestOverload: with one slot, a queue of one and a short queue time-out,
// requests beyond what fits are refused (429, the queue full) or time out
// (503, no slot within the time-out) instead of piling up. Requests that
// sleep hold the slot and the place in the queue until the test ends
// (at most 10 s), so that what fits does not depend on how close together
// a loaded machine sends requests (six sent at once, each holding the slot
// 200 ms, had two served now and then under load: "status counts
// map[200:2 429:3 503:1]").
func TestOverload(t *testing.T) {
	s, hs := serve(t, Config{Functions: []Function{
		{Name: "queued", Handler: HandlerSleep, Capacity: 1000, Concurrency: 1, Queue: 1, QueueTimeout: 10 * time.Second},
		{Name: "timed", Handler: HandlerSleep, Capacity: 1000, Concurrency: 1, Queue: 1, QueueTimeout: 30 * time.Millisecond},
	}})
	queued, timed := s.function("queued"), s.function("timed")
	holdSlot(t, hs.URL+"/function/queued", func() bool { return queued.calls.Load() == 1 })
	holdSlot(t, hs.URL+"/function/queued", func() bool { return queued.waiting.Load() == 1 })
	if code, body := call(t, hs.URL+"/function/queued?d=1ms", ""); code != http.StatusTooManyRequests {
		t.Errorf("slot and queue taken: %d %q, want 429", code, body)
	}
	holdSlot(t, hs.URL+"/function/timed", func() bool { return timed.calls.Load() == 1 })
	if code, body := call(t, hs.URL+"/function/timed?d=1ms", ""); code != http.StatusServiceUnavailable {
		t.Errorf("slot taken, queue time-out 30 ms: %d %q, want 503", code, body)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		fns  []Function
		want string
	}{
		{"bad name", []Function{{Name: "a b"}}, "function 0"},
		{"duplicate", []Function{{Name: "echo"}, {Name: "echo"}}, "defined twice"},
		{"unknown handler", []Function{{Name: "x"}}, `handler "x"`},
		{"negative capacity", []Function{{Name: "echo", Capacity: -1}}, "capacity"},
		{"huge concurrency", []Function{{Name: "echo", Concurrency: 1 << 20}}, "concurrency"},
	} {
		_, err := New(Config{Functions: tc.fns})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}
