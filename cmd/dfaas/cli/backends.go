package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/faas/openfaas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/host"
	promsrc "github.com/dfaas-go/dfaas/metricsrc/prometheus"
	"github.com/dfaas-go/dfaas/metricsrc/scrape"
)

// backendFlags are the agent's flags that choose its FaaS platform and its
// metric source.
type backendFlags struct {
	faas, metrics           string
	openfaasURL             string
	openfaasUser, pwFile    string
	namespace               string
	faasMetricsURL          string
	nodeExporterURL         string
	prometheusURL           string
	promScrape              time.Duration
	promAgent, promGateway  string
	promNode                string
	faasTimeout, promTimout time.Duration
}

// register adds the flags to fs.
func (b *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.faas, "faas", "embedded", "FaaS platform: embedded (start the built-in FaaS) or openfaas (an OpenFaaS gateway at --openfaas-url)")
	fs.StringVar(&b.openfaasURL, "openfaas-url", "http://127.0.0.1:8080", "URL of the OpenFaaS gateway (env AGENT_OPENFAAS_HOST and AGENT_OPENFAAS_PORT)")
	fs.StringVar(&b.openfaasUser, "openfaas-user", "", "basic-auth user of the OpenFaaS gateway (usually admin)")
	fs.StringVar(&b.pwFile, "openfaas-password-file", "", "file holding the basic-auth password of the OpenFaaS gateway")
	fs.StringVar(&b.namespace, "faas-namespace", "openfaas-fn", "namespace suffix removed from the gateway's function_name metric labels")
	fs.DurationVar(&b.faasTimeout, "openfaas-timeout", openfaas.DefaultTimeout, "time-out of each request to the OpenFaaS gateway")
	fs.StringVar(&b.metrics, "metrics", "scrape", "metric source: proxy (the proxy's counters only), scrape (plus the FaaS gateway's and node_exporter's /metrics), prometheus (a Prometheus server at --prometheus-url, falling back to the proxy's counters)")
	fs.StringVar(&b.faasMetricsURL, "faas-metrics-url", "", "/metrics URL of the FaaS gateway for --metrics scrape (default: the FaaS URL + /metrics; an OpenFaaS gateway serves it on port 8082)")
	fs.StringVar(&b.nodeExporterURL, "node-exporter-url", "", "/metrics URL of node_exporter for --metrics scrape (default: read /proc; none: no node usage)")
	fs.StringVar(&b.prometheusURL, "prometheus-url", "http://127.0.0.1:9090", "URL of Prometheus for --metrics prometheus (env AGENT_PROMETHEUS_HOST and AGENT_PROMETHEUS_PORT)")
	fs.DurationVar(&b.promScrape, "prometheus-scrape-interval", promsrc.DefaultScrapeInterval, "interval at which Prometheus scrapes this node's targets (query ranges span at least 4)")
	fs.StringVar(&b.promAgent, "prometheus-agent", "job=dfaas-agent", "label matchers of this agent's scrape target in Prometheus, as name=value,...")
	fs.StringVar(&b.promGateway, "prometheus-gateway", "job=openfaas-gateway", "label matchers of this node's FaaS gateway target in Prometheus")
	fs.StringVar(&b.promNode, "prometheus-node", "job=node", "label matchers of this node's node_exporter target in Prometheus")
	fs.DurationVar(&b.promTimout, "prometheus-timeout", promsrc.DefaultTimeout, "time-out of each Prometheus query")
}

// backendEnv maps the flags to environment variables (besides the
// HOST/PORT pairs handled by applyBackendEnv).
func backendEnv() map[string]string {
	return map[string]string{
		"faas":                       "AGENT_FAAS",
		"openfaas-user":              "AGENT_OPENFAAS_USER",
		"openfaas-password-file":     "AGENT_OPENFAAS_PASSWORD_FILE",
		"faas-namespace":             "AGENT_FAAS_NAMESPACE",
		"metrics":                    "AGENT_METRICS",
		"faas-metrics-url":           "AGENT_FAAS_METRICS_URL",
		"node-exporter-url":          "AGENT_NODE_EXPORTER_URL",
		"prometheus-scrape-interval": "AGENT_PROMETHEUS_SCRAPE_INTERVAL",
		"prometheus-agent":           "AGENT_PROMETHEUS_AGENT",
		"prometheus-gateway":         "AGENT_PROMETHEUS_GATEWAY",
		"prometheus-node":            "AGENT_PROMETHEUS_NODE",
	}
}

// applyBackendEnv sets the backend flags not given on the command line from
// the environment, including the original agent's HOST/PORT pairs:
// AGENT_OPENFAAS_HOST/PORT (default port 8080) and AGENT_PROMETHEUS_HOST/PORT
// (default port 9090) make --openfaas-url and --prometheus-url.
func applyBackendEnv(fs *flag.FlagSet) error {
	if err := applyEnv(fs, backendEnv()); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, p := range []struct{ flag, env, port string }{
		{"openfaas-url", "AGENT_OPENFAAS", "8080"},
		{"prometheus-url", "AGENT_PROMETHEUS", "9090"},
	} {
		h, okH := os.LookupEnv(p.env + "_HOST")
		port, okP := os.LookupEnv(p.env + "_PORT")
		if given[p.flag] || (!okH && !okP) {
			continue
		}
		if h == "" {
			h = "127.0.0.1"
		}
		if port == "" {
			port = p.port
		}
		if strings.ContainsAny(h, "/@?#") || strings.ContainsAny(port, "/@?#:") {
			return usageError{fmt.Sprintf("environment %s_HOST=%q / %s_PORT=%q: not a host and a port", p.env, h, p.env, port)}
		}
		fs.Set(p.flag, "http://"+net.JoinHostPort(h, port))
	}
	return nil
}

// configure sets the FaaS backend and the metric source of cfg from the
// flags. The returned function releases what it opened.
func (b *backendFlags) configure(cfg *stackConfig, log *slog.Logger) (func(), error) {
	var closers []io.Closer
	release := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	switch b.faas {
	case "embedded":
	case "openfaas":
		if len(cfg.Functions) > 0 {
			return nil, usageError{"--function configures the embedded FaaS; it cannot be used with --faas openfaas"}
		}
		var pw string
		if b.pwFile != "" {
			data, err := os.ReadFile(b.pwFile)
			if err != nil {
				return nil, usageError{fmt.Sprintf("--openfaas-password-file: %v", err)}
			}
			pw = strings.TrimSpace(string(data))
		}
		c, err := openfaas.New(openfaas.Config{URL: b.openfaasURL, Username: b.openfaasUser, Password: pw, Timeout: b.faasTimeout, Logger: log})
		if err != nil {
			return nil, usageError{"--openfaas-url: " + err.Error()}
		}
		closers = append(closers, c)
		cfg.FaaS, cfg.FaaSURL = c, c.URL()
	default:
		return nil, usageError{fmt.Sprintf("--faas %q: want embedded or openfaas", b.faas)}
	}
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	switch b.metrics {
	case "proxy":
	case "scrape":
		var node metricsrc.TotalsReader
		switch b.nodeExporterURL {
		case "none":
		case "":
			if runtime.GOOS == "linux" {
				node = host.New("")
			}
		default:
			t, err := scrape.NewTarget(b.nodeExporterURL, 0, nil)
			if err != nil {
				return nil, usageError{"--node-exporter-url: " + err.Error()}
			}
			node = scrape.NewNodeExporter(t)
		}
		if b.faasMetricsURL != "" {
			if _, err := scrape.NewTarget(b.faasMetricsURL, 0, nil); err != nil {
				return nil, usageError{"--faas-metrics-url: " + err.Error()}
			}
		}
		ns, metricsURL := b.namespace, b.faasMetricsURL
		cfg.Metrics = func(proxy metricsrc.TotalsReader, faasURL string) (metricsrc.Source, error) {
			if metricsURL == "" {
				metricsURL = strings.TrimSuffix(faasURL, "/") + "/metrics"
			}
			t, err := scrape.NewTarget(metricsURL, 0, nil)
			if err != nil {
				return nil, fmt.Errorf("FaaS metrics: %w", err)
			}
			return scrape.NewSource(proxy, scrape.NewGateway(t, ns), node)
		}
	case "prometheus":
		var sel [3]promsrc.Selectors
		for i, f := range []struct{ name, v string }{{"--prometheus-agent", b.promAgent}, {"--prometheus-gateway", b.promGateway}, {"--prometheus-node", b.promNode}} {
			s, err := promsrc.ParseSelectors(f.v)
			if err != nil {
				return nil, usageError{f.name + ": " + err.Error()}
			}
			sel[i] = s
		}
		src, err := promsrc.New(promsrc.Config{
			URL: b.prometheusURL, ScrapeInterval: b.promScrape, Timeout: b.promTimout,
			Agent: sel[0], Gateway: sel[1], Node: sel[2], Namespace: b.namespace,
		})
		if err != nil {
			return nil, usageError{"--prometheus-url: " + err.Error()}
		}
		closers = append(closers, src)
		cfg.Metrics = func(proxy metricsrc.TotalsReader, _ string) (metricsrc.Source, error) {
			return metricsrc.Fallback(src, metricsrc.NewDelta(proxy)), nil
		}
	default:
		return nil, usageError{fmt.Sprintf("--metrics %q: want proxy, scrape or prometheus", b.metrics)}
	}
	ok = true
	return release, nil
}
