package openfaas

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

func embeddedGateway(t *testing.T, cfg embedded.Config) (*embedded.Server, *httptest.Server) {
	t.Helper()
	s, err := embedded.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs
}

// TestEmbedded: the client sees over HTTP what dfaas faas reports
// in-process, and manages its functions.
func TestEmbedded(t *testing.T) {
	ctx := context.Background()
	srv, hs := embeddedGateway(t, embedded.Config{
		Functions: []embedded.Function{
			{Name: "figlet", Capacity: 100, Concurrency: 10, Labels: map[string]string{"team": "edge"}},
			{Name: "hash", Handler: embedded.HandlerShasum, Capacity: 12.5, Concurrency: 2, Annotations: map[string]string{"note": "x"}},
		},
		Namespace: "openfaas-fn", Username: "admin", Password: "pw",
	})
	c := newClient(t, Config{URL: hs.URL, Username: "admin", Password: "pw", Namespace: "openfaas-fn"})

	resp, err := http.Get(hs.URL + "/system/functions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous list: %d, want 401", resp.StatusCode)
	}

	check := func(stage string) {
		t.Helper()
		got, err := c.Functions(ctx)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		want, _ := srv.Functions(ctx)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: over HTTP\n %+v\nin-process\n %+v", stage, got, want)
		}
	}
	check("initial")
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}

	lbl := map[string]string{"dfaas.maxrate": "30", "dfaas.timeout_ms": "2000"}
	if err := c.Deploy(ctx, types.FunctionDeployment{Service: "sleepy", Image: "ghcr.io/openfaas/sleep:latest", Labels: &lbl}); err != nil {
		t.Fatal(err)
	}
	if err := c.Deploy(ctx, types.FunctionDeployment{Service: "sleepy", Image: "sleep"}); err == nil {
		t.Error("second deployment of the same name succeeded")
	}
	if err := c.Scale(ctx, "sleepy", 2); err != nil {
		t.Fatal(err)
	}
	check("after deploy and scale")
	f, err := c.Function(ctx, "sleepy")
	if err != nil {
		t.Fatal(err)
	}
	if cp, _ := f.Capacity(); cp != 60 || f.AvailableReplicas != 2 {
		t.Errorf("sleepy after scaling to 2: capacity %v replicas %d, want 60 and 2", cp, f.AvailableReplicas)
	}
	if to, _ := f.Timeout(); to != 2*time.Second {
		t.Errorf("timeout %v", to)
	}
	if err := c.Delete(ctx, "sleepy"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "sleepy"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if err := c.Scale(ctx, "sleepy", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("scale of a deleted function: %v, want ErrNotFound", err)
	}
	check("after delete")

	// Record a real answer of dfaas faas (without its time stamps).
	req, _ := http.NewRequest("GET", hs.URL+"/system/functions", nil)
	req.SetBasicAuth("admin", "pw")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sts, err := DecodeFunctions(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sts {
		sts[i].CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	golden.Check(t, filepath.Join("testdata", "dfaas-faas-functions.json"), mustJSON(t, sts))
}

// TestNodeKeepsFunctionsWhenGatewayDown: a node over this backend keeps the
// last known functions and reports the faas component unhealthy while the
// gateway is down, and recovers when it returns.
func TestNodeKeepsFunctionsWhenGatewayDown(t *testing.T) {
	srv, err := embedded.New(embedded.Config{Functions: []embedded.Function{{Name: "figlet", Capacity: 50}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)

	c := newClient(t, Config{URL: "http://" + addr, Timeout: time.Second})
	mem := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer mem.Close()
	tr, err := mem.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	rec := &proxyctl.Recorder{}
	node, err := dfaas.New(dfaas.Config{
		Strategy: strategy.AllLocal{}, Proxy: rec, FaaS: c, Metrics: metricsrc.NewStatic(metricsrc.Sample{}),
		Peers: tr, ProxyURL: "http://127.0.0.1:1", Period: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ctx := context.Background()
	now := time.Unix(1000, 0)
	step := func() dfaas.Status {
		t.Helper()
		now = now.Add(time.Second)
		node.Step(ctx, now)
		return node.Status(now)
	}
	deployed := func(st dfaas.Status) bool {
		for _, f := range st.Functions {
			if f.Name == "figlet" && f.Deployed && f.Capacity == 50 {
				return true
			}
		}
		return false
	}
	st := step()
	if st.Health[dfaas.ComponentFaaS] != "ok" || !deployed(st) {
		t.Fatalf("gateway up: health %v functions %+v", st.Health, st.Functions)
	}

	hs.Close() // the gateway goes down
	st = step()
	if ok, _ := node.Healthy(); ok || st.Health[dfaas.ComponentFaaS] == "ok" {
		t.Fatalf("gateway down: node healthy, health %v", st.Health)
	}
	if !deployed(st) {
		t.Fatalf("gateway down: the last known functions were lost: %+v", st.Functions)
	}
	if route, ok := st.Decision.Route("figlet"); !ok || route.Local != 1 {
		t.Errorf("gateway down: decision %+v", st.Decision)
	}

	// It comes back on the same address (free again at once: nothing else
	// listens on it, but retry for a while rather than skip the recovery).
	deadline := time.Now().Add(5 * time.Second)
	for ln, err = net.Listen("tcp", addr); err != nil; ln, err = net.Listen("tcp", addr) {
		if time.Now().After(deadline) {
			t.Fatalf("cannot listen again on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	hs = &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	st = step()
	if ok, failing := node.Healthy(); !ok || !deployed(st) {
		t.Fatalf("gateway back: healthy %v (%v), functions %+v", ok, failing, st.Functions)
	}
}
