package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/forecast/remote"
)

// fakeForecaster imitates the original service: GET endpoints reading a
// JSON body, a linear "model", and answers shaped as the original's.
type fakeForecaster struct {
	mu     sync.Mutex
	bodies []string
	scale  float64
}

func (f *fakeForecaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, `{"detail":"Method Not Allowed"}`, http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `"DFaaS Forecaster ready."`)
		return
	}
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	f.mu.Unlock()
	var in struct {
		High     *float64 `json:"rate_group_HIGH_USAGE"`
		Low      *float64 `json:"rate_group_LOW_USAGE"`
		Medium   *float64 `json:"rate_group_MEDIUM_USAGE"`
		NodeType *int     `json:"node_type"`
	}
	if err := json.Unmarshal(b, &in); err != nil || in.High == nil || in.Low == nil || in.Medium == nil || in.NodeType == nil {
		http.Error(w, `{"detail":"field required"}`, http.StatusUnprocessableEntity)
		return
	}
	s := f.scale
	if s == 0 {
		s = 1
	}
	cpu := s * (10 + 2**in.High + 0.5**in.Medium + 0.1**in.Low + float64(*in.NodeType))
	ram := s * (1e9 + 1e7**in.High)
	pow := s * (5e5 + 1e4**in.High)
	out := map[string]float64{}
	switch r.URL.Path {
	case "/node_usage":
		out = map[string]float64{"cpu_usage_node": cpu, "ram_usage_node": ram, "power_usage_node": pow}
	case "/cpu_usage_node":
		out["cpu_usage_node"] = cpu
	case "/ram_usage_node":
		out["ram_usage_node"] = ram
	case "/power_usage_node":
		out["power_usage_node"] = pow
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode([]map[string]float64{out})
}

func TestClient(t *testing.T) {
	fake := &fakeForecaster{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := remote.New(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	req := remote.Request{High: 3, Low: 20, Medium: 4, NodeType: remote.Mid}
	u, err := c.NodeUsage(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := remote.Usage{CPU: 10 + 6 + 2 + 2 + 1, RAM: 1e9 + 3e7, Power: 5e5 + 3e4}
	if u != want {
		t.Errorf("NodeUsage = %+v, want %+v", u, want)
	}
	for m, w := range map[remote.Metric]float64{remote.CPU: want.CPU, remote.RAM: want.RAM, remote.Power: want.Power} {
		got, err := c.Predict(ctx, m, req)
		if err != nil || got != w {
			t.Errorf("Predict(%s) = %v, %v; want %v", m, got, err, w)
		}
	}
	// The body is JSON in the column order the service's scaler expects.
	const wantBody = `{"rate_group_HIGH_USAGE":3,"rate_group_LOW_USAGE":20,"rate_group_MEDIUM_USAGE":4,"node_type":1}`
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, b := range fake.bodies {
		if b != wantBody {
			t.Errorf("request body %s, want %s", b, wantBody)
		}
	}
	if len(fake.bodies) != 4 {
		t.Errorf("service got %d bodies, want 4", len(fake.bodies))
	}
}

func TestPredictor(t *testing.T) {
	mean := httptest.NewServer(&fakeForecaster{})
	defer mean.Close()
	upper := httptest.NewServer(&fakeForecaster{scale: 1.5})
	defer upper.Close()
	cm, _ := remote.New(mean.URL, nil)
	cu, _ := remote.New(upper.URL+"/", nil)
	p := &remote.Predictor{
		Client: cm, Upper: cu, NodeType: remote.Light,
		Groups: map[string]remote.Group{"nmap": remote.High, "figlet": remote.Low, "curl": remote.Medium, "eat": remote.High},
	}
	got, err := p.PredictResources(context.Background(), map[string]float64{"nmap": 1, "eat": 2, "figlet": 10, "curl": 4, "unlisted": 99})
	if err != nil {
		t.Fatal(err)
	}
	cpu := 10 + 2*3 + 0.5*4 + 0.1*10 + 2.0
	want := forecast.Prediction{
		Mean:  forecast.Usage{CPU: cpu / 100, Memory: 1e9 + 3e7, Power: (5e5 + 3e4) / 1e6},
		Upper: forecast.Usage{CPU: 1.5 * cpu / 100, Memory: 1.5 * (1e9 + 3e7), Power: 1.5 * (5e5 + 3e4) / 1e6},
	}
	if !close(got.Mean, want.Mean) || !close(got.Upper, want.Upper) {
		t.Errorf("PredictResources = %+v, want %+v", got, want)
	}
	var _ forecast.ResourcePredictor = p
}

func close(a, b forecast.Usage) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y)) }
	return eq(a.CPU, b.CPU) && eq(a.Memory, b.Memory) && eq(a.Power, b.Power)
}

func TestErrors(t *testing.T) {
	respond := func(status int, body string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
	}
	ctx := context.Background()
	ok := remote.Request{High: 1}
	tests := []struct {
		name   string
		status int
		body   string
		req    remote.Request
		want   string
	}{
		{"status", 500, `Internal Server Error`, ok, "status 500"},
		{"validation", 422, `{"detail":"field required"}`, ok, "status 422"},
		{"not json", 200, `<html>`, ok, "want a JSON array"},
		{"object", 200, `{"cpu_usage_node": 1}`, ok, "want a JSON array"},
		{"empty array", 200, `[]`, ok, "got 0 elements"},
		{"two rows", 200, `[{},{}]`, ok, "got 2 elements"},
		{"null row", 200, `[null]`, ok, "got 1 elements"},
		{"missing", 200, `[{"cpu_usage_node": 1, "ram_usage_node": 2}]`, ok, `no "power_usage_node"`},
		{"null value", 200, `[{"cpu_usage_node": null, "ram_usage_node": 2, "power_usage_node": 3}]`, ok, `"cpu_usage_node" is "null"`},
		{"string value", 200, `[{"cpu_usage_node": "1", "ram_usage_node": 2, "power_usage_node": 3}]`, ok, "want a number"},
		{"NaN literal", 200, `[{"cpu_usage_node": NaN, "ram_usage_node": 2, "power_usage_node": 3}]`, ok, "want a JSON array"},
		{"huge", 200, `[{"cpu_usage_node": 1e999, "ram_usage_node": 2, "power_usage_node": 3}]`, ok, "want a number"},
		{"negative rate", 200, `[]`, remote.Request{High: -1}, "rate_group_HIGH_USAGE is -1"},
		{"NaN rate", 200, `[]`, remote.Request{Low: math.NaN()}, "rate_group_LOW_USAGE is NaN"},
		{"node type", 200, `[]`, remote.Request{NodeType: 3}, "node_type 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := respond(tt.status, tt.body)
			defer srv.Close()
			c, _ := remote.New(srv.URL, nil)
			_, err := c.NodeUsage(ctx, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NodeUsage error %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("negative prediction", func(t *testing.T) {
		srv := respond(200, `[{"cpu_usage_node": -0.01, "ram_usage_node": 2, "power_usage_node": 3}]`)
		defer srv.Close()
		c, _ := remote.New(srv.URL, nil)
		u, err := c.NodeUsage(ctx, ok)
		if err != nil || u != (remote.Usage{CPU: 0, RAM: 2, Power: 3}) {
			t.Fatalf("NodeUsage = %+v, %v; want CPU clamped to 0", u, err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		srv := respond(200, "["+strings.Repeat(" ", remote.MaxResponseSize)+"]")
		defer srv.Close()
		c, _ := remote.New(srv.URL, nil)
		if _, err := c.NodeUsage(ctx, ok); !errors.Is(err, remote.ErrResponse) {
			t.Fatalf("NodeUsage error %v, want ErrResponse", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := respond(200, "")
		srv.Close()
		c, _ := remote.New(srv.URL, nil)
		if err := c.Ready(ctx); err == nil {
			t.Fatal("Ready on a closed server succeeded")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		srv := respond(200, `[{"cpu_usage_node": 1}]`)
		defer srv.Close()
		c, _ := remote.New(srv.URL, nil)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.Predict(cctx, remote.CPU, ok); !errors.Is(err, context.Canceled) {
			t.Fatalf("Predict error %v, want context.Canceled", err)
		}
	})
	t.Run("unknown metric", func(t *testing.T) {
		c, _ := remote.New("http://127.0.0.1:1", nil)
		if _, err := c.Predict(ctx, "gpu", ok); err == nil || !strings.Contains(err.Error(), `"gpu"`) {
			t.Fatalf("Predict error %v, want unknown metric", err)
		}
	})
	t.Run("bad group", func(t *testing.T) {
		c, _ := remote.New("http://127.0.0.1:1", nil)
		p := &remote.Predictor{Client: c, Groups: map[string]remote.Group{"f": "HUGE"}}
		if _, err := p.PredictResources(ctx, nil); err == nil || !strings.Contains(err.Error(), `"HUGE"`) {
			t.Fatalf("PredictResources error %v, want unknown group", err)
		}
	})
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "dfaas-forecaster:80", "ftp://x", "http://", "://x", "http://[::1"} {
		if _, err := remote.New(u, nil); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
	if _, err := remote.New("http://dfaas-forecaster:80", nil); err != nil {
		t.Errorf("New: %v", err)
	}
}

func FuzzDecodeUsage(f *testing.F) {
	for _, s := range []string{
		`[{"cpu_usage_node": 1.5, "ram_usage_node": 2e9, "power_usage_node": 3e6}]`,
		`[{"cpu_usage_node": -1}]`, `[]`, `[{}]`, `{}`, `null`, `[null]`, `[{"cpu_usage_node": "x"}]`,
		`[{"cpu_usage_node": 1e308, "ram_usage_node": 1e-320, "power_usage_node": 0}]`, `"DFaaS Forecaster ready."`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := remote.DecodeUsage(b, remote.CPU, remote.RAM, remote.Power)
		if err != nil {
			if !errors.Is(err, remote.ErrResponse) {
				t.Fatalf("error %v does not wrap ErrResponse", err)
			}
			return
		}
		for _, v := range []float64{u.CPU, u.RAM, u.Power} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("decoded %+v from %q", u, b)
			}
		}
	})
}

func ExampleClient_NodeUsage() {
	// A stand-in for the original forecaster service.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"cpu_usage_node": 150.0, "ram_usage_node": 2.5e9, "power_usage_node": 1.2e6}]`)
	}))
	defer srv.Close()

	c, err := remote.New(srv.URL, nil)
	if err != nil {
		panic(err)
	}
	u, err := c.NodeUsage(context.Background(), remote.Request{High: 10, Low: 50, Medium: 5, NodeType: remote.Mid})
	if err != nil {
		panic(err)
	}
	r := u.Resources()
	fmt.Printf("cores %.2f, memory %.1f GB, power %.1f W\n", r.CPU, r.Memory/1e9, r.Power)
	// Output: cores 1.50, memory 2.5 GB, power 1.2 W
}
