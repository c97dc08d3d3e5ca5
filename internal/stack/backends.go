package stack

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/faas/openfaas"
	"github.com/dfaas-go/dfaas/faas/openwhisk"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/host"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
	"github.com/dfaas-go/dfaas/metricsrc/scrape"
)

// Backends choose a node's FaaS platform and metric source. Each field is
// the value of the agent flag in brackets.
type Backends struct {
	FaaS                 string        // [--faas] embedded, openfaas or openwhisk
	OpenFaaSURL          string        // [--openfaas-url]
	OpenFaaSUser         string        // [--openfaas-user]
	OpenFaaSPasswordFile string        // [--openfaas-password-file]
	OpenFaaSTimeout      time.Duration // [--openfaas-timeout]
	Namespace            string        // [--faas-namespace] OpenFaaS's metric label suffix
	OpenWhiskURL         string        // [--openwhisk-url]
	OpenWhiskAuthFile    string        // [--openwhisk-auth-file] required with openwhisk
	OpenWhiskNamespace   string        // [--openwhisk-namespace] "" or "_": the key's own
	OpenWhiskCA          string        // [--openwhisk-ca]
	Metrics              string        // [--metrics] proxy, scrape or prometheus
	FaaSMetricsURL       string        // [--faas-metrics-url]
	NodeExporterURL      string        // [--node-exporter-url] "", a URL, or none
	PrometheusURL        string        // [--prometheus-url]
	PrometheusScrape     time.Duration // [--prometheus-scrape-interval]
	PrometheusAgent      string        // [--prometheus-agent]
	PrometheusGateway    string        // [--prometheus-gateway]
	PrometheusNode       string        // [--prometheus-node]
	PrometheusTimeout    time.Duration // [--prometheus-timeout]
	CAdvisor             CAdvisor      // [--cadvisor...] per-function CPU and memory
}

// Configure sets the FaaS backend and the metric source of cfg. The
// returned function releases what it opened.
func (b Backends) Configure(cfg *Config, log *slog.Logger) (func(), error) {
	var closers []io.Closer
	release := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	c, err := b.faas(cfg, log)
	if err != nil {
		return nil, err
	}
	if c != nil {
		closers = append(closers, c)
	}
	switch b.Metrics {
	case "proxy":
	case "scrape":
		err = b.scrape(cfg)
	case "prometheus":
		var src *promsrc.Source
		if src, err = b.prometheus(); err == nil {
			closers = append(closers, src)
			cfg.Metrics = func(proxy metricsrc.TotalsReader, _ string) (metricsrc.Source, error) {
				return metricsrc.Fallback(src, metricsrc.NewDelta(proxy)), nil
			}
		}
	default:
		err = usage.Errorf("--metrics %q: want proxy, scrape or prometheus", b.Metrics)
	}
	if err != nil {
		return nil, err
	}
	if c, err = b.cadvisor(cfg, log); err != nil {
		return nil, err
	}
	if c != nil {
		closers = append(closers, c)
	}
	ok = true
	return release, nil
}

// faas sets the FaaS of cfg; it returns the client to close, if any.
func (b Backends) faas(cfg *Config, log *slog.Logger) (io.Closer, error) {
	switch b.FaaS {
	case "embedded":
		return nil, nil
	case "openfaas", "openwhisk":
	default:
		return nil, usage.Errorf("--faas %q: want embedded, openfaas or openwhisk", b.FaaS)
	}
	if len(cfg.Functions) > 0 {
		return nil, usage.Errorf("--function configures the embedded FaaS; it cannot be used with --faas %s", b.FaaS)
	}
	if b.FaaS == "openwhisk" {
		return b.openWhisk(cfg, log)
	}
	var pw string
	if b.OpenFaaSPasswordFile != "" {
		data, err := os.ReadFile(b.OpenFaaSPasswordFile)
		if err != nil {
			return nil, usage.Errorf("--openfaas-password-file: %v", err)
		}
		pw = strings.TrimSpace(string(data))
	}
	c, err := openfaas.New(openfaas.Config{URL: b.OpenFaaSURL, Username: b.OpenFaaSUser, Password: pw, Timeout: b.OpenFaaSTimeout, Logger: log})
	if err != nil {
		return nil, usage.Errorf("--openfaas-url: %v", err)
	}
	cfg.FaaS, cfg.FaaSURL = c, c.URL()
	return c, nil
}

// scrape sets the metric source of cfg to the FaaS gateway's and
// node_exporter's /metrics (or /proc), beside the proxy's counters.
func (b Backends) scrape(cfg *Config) error {
	var node metricsrc.TotalsReader
	switch b.NodeExporterURL {
	case "none":
	case "":
		if runtime.GOOS == "linux" {
			node = host.New("")
		}
	default:
		t, err := scrape.NewTarget(b.NodeExporterURL, 0, nil)
		if err != nil {
			return usage.Errorf("--node-exporter-url: %v", err)
		}
		node = scrape.NewNodeExporter(t)
	}
	if b.FaaSMetricsURL != "" {
		if _, err := scrape.NewTarget(b.FaaSMetricsURL, 0, nil); err != nil {
			return usage.Errorf("--faas-metrics-url: %v", err)
		}
	}
	ns, metricsURL, series := b.Namespace, b.FaaSMetricsURL, scrape.SeriesOpenFaaS
	if b.FaaS == "openwhisk" {
		// The user-events service is not the controller: without its URL
		// the proxy's counters count the local invocations.
		ns, series = b.OpenWhiskNamespace, scrape.SeriesOpenWhisk
		if metricsURL == "" {
			cfg.Metrics = func(proxy metricsrc.TotalsReader, _ string) (metricsrc.Source, error) {
				return scrape.NewSource(proxy, nil, node)
			}
			return nil
		}
	}
	cfg.Metrics = func(proxy metricsrc.TotalsReader, faasURL string) (metricsrc.Source, error) {
		if metricsURL == "" {
			metricsURL = strings.TrimSuffix(faasURL, "/") + "/metrics"
		}
		t, err := scrape.NewTarget(metricsURL, 0, nil)
		if err != nil {
			return nil, fmt.Errorf("FaaS metrics: %w", err)
		}
		page, err := scrape.NewFaaS(t, ns, series)
		if err != nil {
			return nil, err
		}
		return scrape.NewSource(proxy, page, node)
	}
	return nil
}

// prometheus returns the Prometheus metric source.
func (b Backends) prometheus() (*promsrc.Source, error) {
	var sel [3]promsrc.Selectors
	for i, f := range []struct{ name, v string }{{"--prometheus-agent", b.PrometheusAgent}, {"--prometheus-gateway", b.PrometheusGateway}, {"--prometheus-node", b.PrometheusNode}} {
		s, err := promsrc.ParseSelectors(f.v)
		if err != nil {
			return nil, usage.Errorf("%s: %v", f.name, err)
		}
		sel[i] = s
	}
	pc := promsrc.Config{
		URL: b.PrometheusURL, ScrapeInterval: b.PrometheusScrape, Timeout: b.PrometheusTimeout,
		Agent: sel[0], Gateway: sel[1], Node: sel[2], Namespace: b.Namespace,
	}
	if b.FaaS == "openwhisk" {
		pc.Series, pc.Namespace = promsrc.SeriesOpenWhisk, cmp.Or(b.OpenWhiskNamespace, openwhisk.DefaultNamespace)
	}
	src, err := promsrc.New(pc)
	if err != nil {
		return nil, usage.Errorf("--prometheus-url: %v", err)
	}
	return src, nil
}
