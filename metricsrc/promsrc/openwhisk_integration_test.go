package promsrc_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/faas/openwhisk"
	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
	"github.com/dfaas-go/dfaas/metricsrc/scrape"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
)

// openWhiskNode starts the data path of an OpenWhisk node in the test: the
// embedded FaaS's OpenWhisk API (figlet, sleep), a Client and an Invoker on
// it, the embedded proxy with the Invoker as its FaaS URL, and the agent's
// counters exported for Prometheus. It returns the addresses of the
// OpenWhisk API, the proxy and the agent's /metrics, and the proxy.
func openWhiskNode(t *testing.T) (owAddr, proxyAddr, agentAddr string, proxy *goproxy.Proxy) {
	t.Helper()
	faasSrv, err := embedded.New(embedded.Config{Functions: []embedded.Function{
		{Name: "figlet", Capacity: 2000, Concurrency: 50},
		{Name: "sleep", Capacity: 1000, Concurrency: 50},
	}})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := openwhisk.GenerateKey()
	ow, err := embedded.NewOpenWhisk(faasSrv, embedded.OpenWhiskConfig{Key: key.Auth()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ow.Close() })
	owAddr = serve(t, ow.Handler())
	client, err := openwhisk.New(openwhisk.Config{URL: "http://" + owAddr, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if _, err := client.Functions(context.Background()); err != nil {
		t.Fatal(err)
	}
	invoker, err := openwhisk.NewInvoker(openwhisk.InvokerConfig{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	proxy, err = goproxy.New(goproxy.Config{FaaSURL: "http://" + serve(t, invoker)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	// Counters are kept for the functions of the routing state only.
	if err := proxy.Apply(context.Background(), proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}, {Name: "sleep"}}}); err != nil {
		t.Fatal(err)
	}
	proxyAddr = serve(t, proxy)
	reg := prometheus.NewRegistry()
	reg.MustRegister(promsrc.NewCollector(proxy.Counters(), 0))
	agentAddr = serve(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return owAddr, proxyAddr, agentAddr, proxy
}

// TestIntegrationPrometheusOpenWhisk: users call /function/{name} on the
// embedded proxy, whose FaaS URL is an openwhisk.Invoker in front of the
// embedded FaaS's OpenWhisk API; a real Prometheus scrapes the agent's
// counters and the user-events series every second. The Prometheus source
// and the scraping source, set to OpenWhisk's series, report the rates sent
// (within 10 %) and the latency of the actions.
func TestIntegrationPrometheusOpenWhisk(t *testing.T) {
	promtest.Binary(t, "prometheus")
	owAddr, proxyAddr, agentAddr, proxy := openWhiskNode(t)
	pr := promtest.StartPrometheus(t, time.Second,
		promtest.Job{Name: "dfaas-agent", Targets: []string{agentAddr}},
		promtest.Job{Name: "openwhisk-user-events", Targets: []string{owAddr}},
	)
	pr.WaitUp(t, 30*time.Second, "dfaas-agent", "openwhisk-user-events")
	src, err := promsrc.New(promsrc.Config{URL: pr.URL, ScrapeInterval: time.Second, Series: promsrc.SeriesOpenWhisk, Namespace: "guest"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	target, _ := scrape.NewTarget("http://"+owAddr+"/metrics", 0, nil)
	users, err := scrape.NewFaaS(target, "guest", scrape.SeriesOpenWhisk)
	if err != nil {
		t.Fatal(err)
	}
	scr, err := scrape.NewSource(proxy.Counters(), users, nil)
	if err != nil {
		t.Fatal(err)
	}

	const (
		figletRate = 40.0 // req/s
		sleepRate  = 10.0 // req/s, 30 ms each
		window     = 10 * time.Second
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	var sentFig, sentSleep sendLog
	constantLoad(ctx, &wg, httpc, "http://"+proxyAddr+"/function/figlet", figletRate, &sentFig)
	constantLoad(ctx, &wg, httpc, "http://"+proxyAddr+"/function/sleep?d=30ms", sleepRate, &sentSleep)
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(3 * time.Second)
	if _, err := scr.Sample(context.Background(), time.Now(), window); err != nil {
		t.Fatal(err)
	}
	time.Sleep(window)
	// A scrape that times out on a loaded machine marks a target down for
	// a second: read again rather than fail on it.
	var now time.Time
	var r promsrc.Reading
	for attempt := 1; ; attempt++ {
		now = time.Now()
		r, err = src.Read(context.Background(), now, window)
		if err == nil || attempt == 3 || !errors.Is(err, promsrc.ErrNoAgentTarget) {
			break
		}
		t.Logf("read %d: %v", attempt, err)
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	ss, err := scr.Sample(context.Background(), now, window)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source string
		s      metricsrc.Sample
	}{{"prometheus", r.Sample()}, {"scrape", ss}} {
		for _, want := range []struct {
			name string
			sent *sendLog
		}{{"figlet", &sentFig}, {"sleep", &sentSleep}} {
			rate := want.sent.rate(now.Add(-tc.s.Window), now)
			f, ok := tc.s.Function(want.name)
			t.Logf("%s: %s sent %.2f req/s: offered %.2f local %.2f failed %.2f latency %v", tc.source, want.name, rate, f.Offered, f.Local, f.Failed, f.Latency)
			if !ok || !within(f.Offered, rate, 0.1) || !within(f.Local, rate, 0.1) || f.Failed > 0 {
				t.Errorf("%s: %s rates %+v, want offered and local %.2f req/s ±10%% and no failures", tc.source, want.name, f, rate)
			}
		}
		if sl, _ := tc.s.Function("sleep"); sl.Latency < 30*time.Millisecond || sl.Latency > time.Second {
			t.Errorf("%s: sleep latency %v, want at least its 30 ms", tc.source, sl.Latency)
		}
	}
	for _, f := range r.Functions {
		if f.Name == "figlet" && (!f.HasGateway || !within(f.Success, sentFig.rate(now.Add(-r.Range), now), 0.1) || f.Errors > 0) {
			t.Errorf("user-events figlet: %+v", f)
		}
	}
	if !r.AgentUp || !r.GatewayUp {
		t.Errorf("targets up: agent %v user-events %v", r.AgentUp, r.GatewayUp)
	}
}
