package openfaas

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/internal/golden"
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// gateway serves the recorded response file for /system/functions and
// counts requests.
func gateway(t *testing.T, file string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /system/functions", func(w http.ResponseWriter, r *http.Request) {
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRecordedResponses(t *testing.T) {
	for _, tc := range []struct {
		file  string
		names []string
		caps  []float64
	}{
		{"faas-netes-functions.json", []string{"figlet", "shasum", "nodeinfo"}, []float64{100, 80, 0}},
		{"faasd-functions.json", []string{"env", "sleep"}, []float64{12.5, -1}},
		{"null-functions.json", nil, nil},
		{"empty-functions.json", nil, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s := gateway(t, tc.file, nil)
			c := newClient(t, Config{URL: s.URL})
			fns, err := c.Functions(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(fns) != len(tc.names) {
				t.Fatalf("got %d functions, want %d", len(fns), len(tc.names))
			}
			for i, f := range fns {
				if f.Name != tc.names[i] {
					t.Errorf("function %d: name %q, want %q", i, f.Name, tc.names[i])
				}
				c, err := f.Capacity()
				if tc.caps[i] < 0 {
					if err == nil {
						t.Errorf("%s: capacity %v, want an error", f.Name, c)
					}
				} else if err != nil || c != tc.caps[i] {
					t.Errorf("%s: capacity %v, %v; want %v", f.Name, c, err, tc.caps[i])
				}
			}
			golden.Check(t, filepath.Join("testdata", strings.TrimSuffix(tc.file, ".json")+".golden"), mustJSON(t, fns))
		})
	}
}

func TestConvert(t *testing.T) {
	labels := func(kv ...string) *map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return &m
	}
	for _, tc := range []struct {
		name     string
		st       types.FunctionStatus
		capacity string // "" = absent
		conc     string
		timeout  string
		warns    int
	}{
		{"label wins over annotation", types.FunctionStatus{Name: "f", Labels: labels("dfaas.maxrate", "10"), Annotations: labels("dfaas.maxrate", "20")}, "10", "", "", 0},
		{"annotation", types.FunctionStatus{Name: "f", Annotations: labels("dfaas.maxrate", "20", "dfaas.timeout_ms", "900")}, "20", "", "900", 0},
		{"per replica", types.FunctionStatus{Name: "f", AvailableReplicas: 3, Labels: labels("dfaas.maxrate_per_replica", "2.5")}, "7.5", "", "", 0},
		{"per replica, none ready", types.FunctionStatus{Name: "f", Replicas: 2, Labels: labels("dfaas.maxrate_per_replica", "50")}, "0", "", "", 0},
		{"per replica invalid", types.FunctionStatus{Name: "f", AvailableReplicas: 1, Labels: labels("dfaas.maxrate_per_replica", "-1")}, "", "", "", 1},
		{"per replica NaN", types.FunctionStatus{Name: "f", AvailableReplicas: 1, Labels: labels("dfaas.maxrate_per_replica", "NaN")}, "", "", "", 1},
		{"max_inflight", types.FunctionStatus{Name: "f", AvailableReplicas: 2, EnvVars: map[string]string{"max_inflight": "5"}}, "", "10", "", 0},
		{"max_inflight invalid", types.FunctionStatus{Name: "f", AvailableReplicas: 2, EnvVars: map[string]string{"max_inflight": "many"}}, "", "", "", 1},
		{"concurrency label wins", types.FunctionStatus{Name: "f", AvailableReplicas: 2, Labels: labels("dfaas.concurrency", "3"), EnvVars: map[string]string{"max_inflight": "5"}}, "", "3", "", 0},
		{"nothing", types.FunctionStatus{Name: "f"}, "", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, warns := Convert(tc.st)
			check := func(key, want string) {
				got, ok := f.Labels[key]
				if want == "" && ok {
					t.Errorf("label %s=%q, want absent", key, got)
				}
				if want != "" && got != want {
					t.Errorf("label %s=%q, want %q", key, got, want)
				}
			}
			check(faas.LabelMaxRate, tc.capacity)
			check(faas.LabelConcurrency, tc.conc)
			check(faas.LabelTimeout, tc.timeout)
			if len(warns) != tc.warns {
				t.Errorf("warnings %q, want %d", warns, tc.warns)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"name":"figlet"}`, "cannot unmarshal object"},
		{`[{"name":"a"}] [1]`, "trailing data"},
		{`[{"name":"a"}] x`, "trailing data"},
		{`[{"image":"x"}]`, "function 0 has no name"},
		{`[{"name":"a","replicas":-1}]`, "cannot unmarshal number -1"},
		{`[{"name":"a","labels":{"x":1}}]`, "cannot unmarshal number"},
		{``, "EOF"},
		{`[`, "unexpected EOF"},
	} {
		if _, err := DecodeFunctions([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeFunctions(%q) = %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{
		{URL: ""},
		{URL: "gateway:8080"},
		{URL: "ftp://gateway"},
		{URL: "http://gateway?x=1"},
		{URL: "http://gateway", Timeout: -1},
		{URL: "http://gateway", MaxResponseSize: -1},
		{URL: "http://gateway", Password: "secret"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestBasicAuthAndNamespace(t *testing.T) {
	var gotNS atomic.Value
	s := gateway(t, "faas-netes-functions.json", func(w http.ResponseWriter, r *http.Request) {
		gotNS.Store(r.URL.Query().Get("namespace"))
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="Restricted"`)
			http.Error(w, "invalid credentials", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`[{"name":"figlet"}]`))
	})
	_, err := newClient(t, Config{URL: s.URL}).Functions(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("without credentials: %v, want ErrUnauthorized", err)
	}
	_, err = newClient(t, Config{URL: s.URL, Username: "admin", Password: "wrong"}).Functions(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong password: %v, want ErrUnauthorized", err)
	}
	fns, err := newClient(t, Config{URL: s.URL + "/", Username: "admin", Password: "s3cret", Namespace: "openfaas-fn"}).Functions(context.Background())
	if err != nil || len(fns) != 1 || fns[0].Name != "figlet" {
		t.Fatalf("with credentials: %v, %v", fns, err)
	}
	if ns := gotNS.Load(); ns != "openfaas-fn" {
		t.Errorf("namespace query %q, want openfaas-fn", ns)
	}
}

func TestFailures(t *testing.T) {
	slow := gateway(t, "empty-functions.json", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	c := newClient(t, Config{URL: slow.URL, Timeout: 50 * time.Millisecond})
	if _, err := c.Functions(context.Background()); err == nil || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("slow gateway: %v, want a time-out", err)
	}

	broken := gateway(t, "empty-functions.json", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "provider unreachable", http.StatusBadGateway)
	})
	if _, err := newClient(t, Config{URL: broken.URL}).Functions(context.Background()); err == nil || !strings.Contains(err.Error(), "status 502") {
		t.Errorf("502: %v", err)
	}

	big := gateway(t, "empty-functions.json", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"name":"` + strings.Repeat("a", 2000) + `"}]`))
	})
	if _, err := newClient(t, Config{URL: big.URL, MaxResponseSize: 1000}).Functions(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than 1000") {
		t.Errorf("oversize: %v", err)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	c = newClient(t, Config{URL: url, Timeout: time.Second})
	if _, err := c.Functions(context.Background()); err == nil {
		t.Error("gateway down: Functions succeeded")
	}
	if err := c.Health(context.Background()); err == nil {
		t.Error("gateway down: Health succeeded")
	}

	missing := gateway(t, "empty-functions.json", nil)
	if _, err := newClient(t, Config{URL: missing.URL}).Function(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing function: %v, want ErrNotFound", err)
	}
	if _, err := newClient(t, Config{URL: missing.URL}).Function(context.Background(), "a/b"); err == nil {
		t.Error("bad name accepted")
	}
}

func FuzzDecodeFunctions(f *testing.F) {
	for _, name := range []string{"faas-netes-functions.json", "faasd-functions.json", "null-functions.json", "empty-functions.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"name":"a","labels":{"dfaas.maxrate_per_replica":"1e308"},"availableReplicas":18446744073709551615}]`))
	f.Add([]byte(`[{"name":"a","envVars":{"max_inflight":"65535"},"availableReplicas":9}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sts, err := DecodeFunctions(data)
		if err != nil {
			return
		}
		for _, st := range sts {
			fn, _ := Convert(st)
			if fn.Name != st.Name || fn.Name == "" {
				t.Fatalf("name %q became %q", st.Name, fn.Name)
			}
			if fn.Replicas < 0 || fn.AvailableReplicas < 0 {
				t.Fatalf("negative replicas %+v", fn)
			}
			// A resolved capacity is always a valid number.
			if _, ok := fn.Labels[faas.LabelMaxRate]; ok && !has(st.Labels, faas.LabelMaxRate) && !has(st.Annotations, faas.LabelMaxRate) {
				if _, err := fn.Capacity(); err != nil {
					t.Fatalf("derived capacity invalid: %v", err)
				}
			}
			if _, ok := fn.Labels[faas.LabelConcurrency]; ok && !has(st.Labels, faas.LabelConcurrency) && !has(st.Annotations, faas.LabelConcurrency) {
				if _, err := fn.Concurrency(); err != nil {
					t.Fatalf("derived concurrency invalid: %v", err)
				}
			}
		}
	})
}

func has(m *map[string]string, k string) bool {
	if m == nil {
		return false
	}
	_, ok := (*m)[k]
	return ok
}
