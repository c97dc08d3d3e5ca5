package stack

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/faas/openfaas"
	"github.com/dfaas-go/dfaas/faas/openwhisk"
	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// owRequest is a request that reached the OpenWhisk API.
type owRequest struct {
	method, path, query, auth string
}

// owServer is the embedded FaaS's OpenWhisk API on a loopback port, with
// the functions echo, sleep and the web action page, recording every
// request that reaches it.
type owServer struct {
	URL     string
	Key     openwhisk.Key
	KeyFile string
	mu      sync.Mutex
	reqs    []owRequest
}

func newOWServer(t *testing.T) *owServer {
	t.Helper()
	srv, err := embedded.New(embedded.Config{Functions: []embedded.Function{
		{Name: "echo", Capacity: 1000, Concurrency: 50}, {Name: "sleep", Capacity: 1000, Concurrency: 50},
		{Name: "page", Handler: embedded.HandlerEcho, Capacity: 1000, Concurrency: 50, Annotations: map[string]string{openwhisk.AnnotationWebExport: "true"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := openwhisk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ow, err := embedded.NewOpenWhisk(srv, embedded.OpenWhiskConfig{Key: key.Auth(), BlockingWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &owServer{Key: key, KeyFile: filepath.Join(t.TempDir(), "ow.key")}
	if err := openwhisk.WriteKeyFile(s.KeyFile, key); err != nil {
		t.Fatal(err)
	}
	h := ow.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, owRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization")})
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { hs.Close(); ow.Close(); srv.Close() })
	s.URL = hs.URL
	return s
}

// requests returns the requests recorded since the last call.
func (s *owServer) requests() []owRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

// quietLog discards logs.
func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestOpenWhiskBackends: --faas openwhisk makes the FaaS a Client of the
// controller and the proxy's target a front served by the stack; bad
// settings are usage errors naming their flag.
func TestOpenWhiskBackends(t *testing.T) {
	ow := newOWServer(t)
	b := Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL, OpenWhiskAuthFile: ow.KeyFile, Metrics: "proxy"}
	var cfg Config
	release, err := b.Configure(&cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	c, ok := cfg.FaaS.(*openwhisk.Client)
	if !ok || cfg.FaaSHandler == nil || c.URL() != ow.URL || c.Namespace() != "_" {
		t.Fatalf("FaaS %T, handler %v", cfg.FaaS, cfg.FaaSHandler != nil)
	}
	fns, err := c.Functions(context.Background())
	if err != nil || len(fns) != 3 {
		t.Fatalf("functions %v, %v", fns, err)
	}

	open := filepath.Join(t.TempDir(), "open.key")
	os.WriteFile(open, []byte(ow.Key.Auth()), 0o644)
	plain := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(plain, []byte("no certificate"), 0o600)
	for _, tc := range []struct {
		b         Backends
		functions bool
		want      string
	}{
		{Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL}, false, "--openwhisk-auth-file"},
		{Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL, OpenWhiskAuthFile: open}, false, "chmod 600"},
		{Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL, OpenWhiskAuthFile: "/nonexistent"}, false, "--openwhisk-auth-file"},
		{Backends{FaaS: "openwhisk", OpenWhiskURL: "controller:3233", OpenWhiskAuthFile: ow.KeyFile}, false, "--openwhisk-url"},
		{Backends{FaaS: "openwhisk", OpenWhiskURL: "http://u:p@controller", OpenWhiskAuthFile: ow.KeyFile}, false, "--openwhisk-url"},
		{Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL, OpenWhiskAuthFile: ow.KeyFile, OpenWhiskCA: plain}, false, "--openwhisk-ca"},
		{Backends{FaaS: "openwhisk", OpenWhiskURL: "https://controller", OpenWhiskAuthFile: ow.KeyFile, OpenWhiskCA: plain}, false, "--openwhisk-ca"},
		{Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL, OpenWhiskAuthFile: ow.KeyFile, OpenWhiskNamespace: "a/b"}, false, "--openwhisk-namespace"},
		{Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL, OpenWhiskAuthFile: ow.KeyFile}, true, "--function"},
		{Backends{FaaS: "lambda"}, false, "want embedded, openfaas or openwhisk"},
	} {
		cfg := Config{}
		if tc.functions {
			cfg.Functions = []embedded.Function{{Name: "figlet"}}
		}
		tc.b.Metrics = "proxy"
		release, err := tc.b.Configure(&cfg, quietLog())
		if err == nil {
			release()
			t.Errorf("%+v: accepted", tc.b)
			continue
		}
		if !usage.Is(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want a usage error with %q", tc.b, err, tc.want)
		}
		if strings.Contains(err.Error(), ow.Key.Secret) {
			t.Errorf("%+v: the error shows the key: %v", tc.b, err)
		}
	}
}

// TestOpenWhiskScrapeMetrics: with --metrics scrape, an OpenWhisk node
// reads the user-events series of --faas-metrics-url; without it, the
// proxy's counters alone (the controller serves no such page).
func TestOpenWhiskScrapeMetrics(t *testing.T) {
	ow := newOWServer(t)
	for _, metricsURL := range []string{"", ow.URL + "/metrics"} {
		b := Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL, OpenWhiskAuthFile: ow.KeyFile, Metrics: "scrape", NodeExporterURL: "none", FaaSMetricsURL: metricsURL}
		var cfg Config
		release, err := b.Configure(&cfg, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		cfg.Transport, cfg.Strategy, cfg.ProxyListen, cfg.Logger = memTransport(t, "a"), strategy.AllLocal{}, "127.0.0.1:0", quietLog()
		cfg.Period = 100 * time.Millisecond
		s := runStack(t, cfg, 3)
		for range 5 {
			invoke(t, s.ProxyURL()+"/function/echo", `{"x":1}`, 200)
		}
		ow.requests()
		cycles := s.Node().Status(time.Now()).Cycles
		var st dfaas.Status
		for deadline := time.Now().Add(10 * time.Second); st.Cycles < cycles+2; {
			if time.Now().After(deadline) {
				t.Fatal("no cycle in 10 s")
			}
			time.Sleep(20 * time.Millisecond)
			st = s.Node().Status(time.Now())
		}
		scraped := false
		for _, r := range ow.requests() {
			scraped = scraped || r.path == "/metrics"
		}
		if scraped != (metricsURL != "") {
			t.Errorf("--faas-metrics-url %q: user-events page scraped %v", metricsURL, scraped)
		}
		if st.Health[dfaas.ComponentMetrics] != "ok" {
			t.Errorf("--faas-metrics-url %q: metrics health %q", metricsURL, st.Health[dfaas.ComponentMetrics])
		}
	}
}

// memTransport joins a new in-memory peer network as id.
func memTransport(t *testing.T, id peer.ID) peer.Transport {
	t.Helper()
	n := peer.NewMemNetwork(peer.MemNetworkOptions{})
	t.Cleanup(func() { n.Close() })
	tr, err := n.Join(id)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// invoke POSTs body to url and checks the status.
func invoke(t *testing.T, url, body string, want int) string {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %q, want %d", url, resp.StatusCode, b, want)
	}
	return string(b)
}

// TestOpenWhiskFrontHealth: the front's /healthz follows the controller's
// health check, at most one check a second.
func TestOpenWhiskFrontHealth(t *testing.T) {
	ow := newOWServer(t)
	check := func(key openwhisk.Key) (int, int) {
		c, err := openwhisk.New(openwhisk.Config{URL: ow.URL, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		h, err := OpenWhiskFront(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		ow.requests()
		var status int
		for range 5 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			status = rec.Code
		}
		return status, len(ow.requests())
	}
	if status, n := check(ow.Key); status != 200 || n != 1 {
		t.Errorf("right key: /healthz %d after %d checks, want 200 after 1", status, n)
	}
	wrong, _ := openwhisk.GenerateKey()
	if status, n := check(wrong); status != 503 || n != 1 {
		t.Errorf("wrong key: /healthz %d after %d checks, want 503 after 1", status, n)
	}
}

// haproxyPeriod is the period of the nodes with HAProxy: an update checks
// HAProxy's configuration (haproxy -c) within the period, which takes over
// a second on a loaded machine.
const haproxyPeriod = 2 * time.Second

// publicStack runs a node whose FaaS is the OpenWhisk at ow, with the
// given proxy, until the test ends, once it has listed its functions.
func publicStack(t *testing.T, ow *owServer, proxy string) *Stack {
	t.Helper()
	cfg := Config{Transport: memTransport(t, "a"), Strategy: strategy.AllLocal{}, ProxyListen: "127.0.0.1:0", Period: 200 * time.Millisecond, Logger: quietLog()}
	if proxy == "haproxy" {
		cfg.Proxy = Proxy{Kind: "haproxy", HAProxy: haproxy.Config{Binary: promtest.Binary(t, "haproxy"), MetricsAddr: haproxy.MetricsOff}}
		cfg.ProxyListen, cfg.Period = promtest.FreePort(t), haproxyPeriod
	}
	b := Backends{FaaS: "openwhisk", OpenWhiskURL: ow.URL, OpenWhiskAuthFile: ow.KeyFile, Metrics: "proxy"}
	release, err := b.Configure(&cfg, cfg.Logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return runStack(t, cfg, 3)
}

// runStack builds and runs a stack until the test ends, and returns it
// once its node has listed fns functions and its proxy serves.
func runStack(t *testing.T, cfg Config, fns int) *Stack {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	s.Run(gctx, g)
	t.Cleanup(func() {
		cancel()
		g.Wait()
		s.Close()
	})
	for deadline := time.Now().Add(60 * time.Second); ; {
		st := s.Node().Status(time.Now())
		if st.Cycles > 1 && len(st.Functions) == fns && st.Health[dfaas.ComponentProxy] == "ok" {
			if resp, err := http.Get(s.ProxyURL() + "/dfaas/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready after 60 s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawRequest sends one request exactly as written (path included) to
// addr and returns the answer with its body.
func rawRequest(t *testing.T, addr, method, target, auth, body string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: node\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, target, len(body))
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestOpenWhiskPublicPort attacks the public port of an OpenWhisk node:
// functions are invoked (the operator's key added for the
// API, no credentials for a web action, a blocking call turned
// asynchronous answers 504), no other path of OpenWhisk's API is
// reachable whatever the path tricks, the user's credentials never reach
// OpenWhisk, and the key never appears in an answer or its headers (the
// embedded proxy; TestIntegrationOpenWhiskPublicPortHAProxy does the same
// with HAProxy).
func TestOpenWhiskPublicPort(t *testing.T) { checkPublicPortOn(t, "embedded") }

// TestIntegrationOpenWhiskPublicPortHAProxy: TestOpenWhiskPublicPort with
// HAProxy as the node's proxy.
func TestIntegrationOpenWhiskPublicPortHAProxy(t *testing.T) { checkPublicPortOn(t, "haproxy") }

func checkPublicPortOn(t *testing.T, proxy string) {
	ow := newOWServer(t)
	s := publicStack(t, ow, proxy)
	checkPublicPort(t, ow, strings.TrimPrefix(s.ProxyURL(), "http://"))
}

func checkPublicPort(t *testing.T, ow *owServer, addr string) {
	operator := "Basic " + base64.StdEncoding.EncodeToString([]byte(ow.Key.Auth()))
	user := "Basic " + base64.StdEncoding.EncodeToString([]byte("someone:else"))
	ow.requests()
	for _, tc := range []struct {
		method, target, auth, body string
		want                       int // 0: any refusal (4xx)
		wantBody                   string
	}{
		{"POST", "/function/echo", "", `{"a":1}`, 200, `"a":1`},
		{"POST", "/function/echo?q=2", user, `{"a":1}`, 200, `"q":"2"`},
		{"POST", "/function/page/x?y=1", user, "hello", 200, "hello"},
		{"POST", "/function/sleep", "", `{"d":"2s"}`, 504, ""},
		{"POST", "/function/nope", "", `{}`, 404, ""},
		{"GET", "/api/v1/namespaces", operator, "", 0, ""},
		{"GET", "/api/v1/namespaces/_/actions", operator, "", 0, ""},
		{"POST", "/api/v1/namespaces/_/actions/echo?blocking=true&result=true", operator, `{}`, 0, ""},
		{"GET", "/api/v1/namespaces/_/activations", operator, "", 0, ""},
		{"GET", "/api/v1/web/guest/default/page.http", "", "", 0, ""},
		{"GET", "/ping", "", "", 0, ""},
		{"GET", "/metrics", "", "", 0, ""},
		{"GET", "/healthz", "", "", 0, ""},
		{"GET", "//api/v1/namespaces", operator, "", 0, ""},
		{"GET", "/function/echo/../../api/v1/namespaces", operator, "", 0, ""},
		{"GET", "/function/page/../../api/v1/namespaces/_/actions", operator, "", 0, ""},
		{"GET", "/function/page/%2e%2e/%2e%2e/api/v1/namespaces", operator, "", 0, ""},
		{"GET", "/function/..%2f..%2fapi%2fv1%2fnamespaces", operator, "", 0, ""},
		{"GET", "/function/echo%2f..%2f..%2fapi/v1/namespaces", operator, "", 0, ""},
		{"GET", "/function/%2e%2e/api/v1/namespaces", operator, "", 0, ""},
		{"GET", "/function/page/.%2e/.%2e/api/v1/namespaces", operator, "", 0, ""},
		{"GET", "/function/page/..\\..\\api\\v1\\namespaces", operator, "", 0, ""},
		{"GET", "/FUNCTION/echo/../../api/v1/namespaces", operator, "", 0, ""},
		{"GET", "http://controller/api/v1/namespaces", operator, "", 0, ""},
		{"GET", "/function/page/x/../../../api/v1/namespaces", "", "", 0, ""},
	} {
		resp, body := rawRequest(t, addr, tc.method, tc.target, tc.auth, tc.body)
		switch {
		case tc.want == 0 && (resp.StatusCode < 400 || resp.StatusCode > 499):
			t.Errorf("%s %s: %d %q, want a refusal", tc.method, tc.target, resp.StatusCode, body)
		case tc.want != 0 && (resp.StatusCode != tc.want || !strings.Contains(body, tc.wantBody)):
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.target, resp.StatusCode, body, tc.want, tc.wantBody)
		}
		for _, secret := range []string{ow.Key.Secret, strings.TrimPrefix(operator, "Basic ")} {
			if strings.Contains(body, secret) {
				t.Errorf("%s %s: the answer holds the key: %q", tc.method, tc.target, body)
			}
			for k, vs := range resp.Header {
				if strings.Contains(strings.Join(vs, " "), secret) {
					t.Errorf("%s %s: header %s holds the key", tc.method, tc.target, k)
				}
			}
		}
		for _, h := range []string{"WWW-Authenticate", openwhisk.HeaderActivationID} {
			if resp.Header.Get(h) != "" {
				t.Errorf("%s %s: OpenWhisk's header %s reached the user", tc.method, tc.target, h)
			}
		}
	}
	for _, r := range ow.requests() {
		api := r.method == "POST" && strings.HasPrefix(r.path, "/api/v1/namespaces/") && r.query == "blocking=true&result=true"
		web := strings.HasPrefix(r.path, "/api/v1/web/guest/default/page.http")
		health := r.method == "GET" && (r.path == "/api/v1/namespaces" || strings.HasPrefix(r.path, "/api/v1/namespaces/_/actions")) && r.query != "blocking=true&result=true"
		switch {
		case api && r.auth != operator:
			t.Errorf("invocation %s %s without the operator's key: %q", r.method, r.path, r.auth)
		case web && r.auth != "":
			t.Errorf("web action %s %s called with credentials %q", r.method, r.path, r.auth)
		case health && r.auth == operator:
			// The node's own listing and health checks.
		case !api && !web && !health:
			t.Errorf("%s %s?%s reached OpenWhisk", r.method, r.path, r.query)
		}
	}
}

// TestMixedFederation runs three nodes, each forwarding every request to
// its neighbours (static, no local share): a, the embedded FaaS with its
// OpenFaaS API; b, the embedded FaaS with its OpenWhisk API; c, an
// OpenFaaS-API server through faas/openfaas. Every node's requests are
// served by each of the two others, whatever platform they run (every
// node with the embedded proxy here; TestIntegrationMixedFederationHAProxy
// mixes the proxies too).
func TestMixedFederation(t *testing.T) { checkMixedFederation(t, "embedded") }

// TestIntegrationMixedFederationHAProxy: TestMixedFederation with HAProxy
// as the proxy of b, the OpenWhisk node: HAProxy reaches OpenWhisk
// through the node's front, forwards to embedded proxies and takes their
// forwarded requests. (One HAProxy: three, each reloaded as its
// neighbours join, overrun a loaded machine under the race detector.)
func TestIntegrationMixedFederationHAProxy(t *testing.T) { checkMixedFederation(t, "haproxy") }

func checkMixedFederation(t *testing.T, proxy string) {
	mem := peer.NewMemNetwork(peer.MemNetworkOptions{})
	t.Cleanup(func() { mem.Close() })
	ids := []peer.ID{"a", "b", "c"}
	fn := []embedded.Function{{Name: "echo", Capacity: 500, Concurrency: 20}}
	stacks := make([]*Stack, len(ids))
	for i, id := range ids {
		tr, err := mem.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{
			Transport: tr, Strategy: &strategy.Static{LocalShare: 0}, StrategyName: "static",
			ProxyListen: "127.0.0.1:0", Period: 200 * time.Millisecond, Seed: uint64(i + 1), Logger: quietLog(),
			Bootstrap: ids[:i], Functions: fn,
		}
		if proxy == "haproxy" {
			cfg.Period = haproxyPeriod
			if id == "b" {
				cfg.Proxy = Proxy{Kind: "haproxy", HAProxy: haproxy.Config{Binary: promtest.Binary(t, "haproxy"), MetricsAddr: haproxy.MetricsOff}}
				cfg.ProxyListen = promtest.FreePort(t)
			}
		}
		switch id {
		case "b":
			cfg.FaaSAPI = "openwhisk"
		case "c":
			setOpenFaaS(t, &cfg, fn)
		}
		stacks[i] = runStack(t, cfg, 1)
	}
	served := map[string]int{} // "from>to"
	var failed atomic.Int64
	for deadline := time.Now().Add(60 * time.Second); len(served) < 6; {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s, requests were served on the paths %v only (failed %d)", served, failed.Load())
		}
		for i, s := range stacks {
			resp, err := http.Post(s.ProxyURL()+"/function/echo", "text/plain", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			to := peer.ID(resp.Header.Get(proxyctl.HeaderForwardedTo))
			if resp.StatusCode != 200 || !strings.Contains(string(body), "hello") {
				failed.Add(1)
				continue
			}
			if to != "" {
				if to == ids[i] || !slices.Contains(ids, to) {
					t.Fatalf("node %s forwarded to %q", ids[i], to)
				}
				served[string(ids[i])+">"+string(to)]++
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("served %v, failed %d", served, failed.Load())
}

// setOpenFaaS makes cfg's FaaS an OpenFaaS-API server (the embedded FaaS
// with fns) reached through faas/openfaas.
func setOpenFaaS(t *testing.T, cfg *Config, fns []embedded.Function) {
	t.Helper()
	srv, err := embedded.New(embedded.Config{Functions: fns, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := openfaas.New(openfaas.Config{URL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cfg.FaaS, cfg.FaaSURL, cfg.Functions = c, c.URL(), nil
}
