package cli

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/dfaas-go/dfaas/faas/openfaas"
	"github.com/dfaas-go/dfaas/internal/stack"
	promsrc "github.com/dfaas-go/dfaas/metricsrc/prometheus"
)

// backendFlags are the agent's flags that choose its FaaS platform and its
// metric source.
type backendFlags struct{ stack.Backends }

// register adds the flags to fs.
func (b *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.FaaS, "faas", "embedded", "FaaS platform: embedded (start the built-in FaaS) or openfaas (an OpenFaaS gateway at --openfaas-url)")
	fs.StringVar(&b.OpenFaaSURL, "openfaas-url", "http://127.0.0.1:8080", "URL of the OpenFaaS gateway (env AGENT_OPENFAAS_HOST and AGENT_OPENFAAS_PORT)")
	fs.StringVar(&b.OpenFaaSUser, "openfaas-user", "", "basic-auth user of the OpenFaaS gateway (usually admin)")
	fs.StringVar(&b.OpenFaaSPasswordFile, "openfaas-password-file", "", "file holding the basic-auth password of the OpenFaaS gateway")
	fs.StringVar(&b.Namespace, "faas-namespace", "openfaas-fn", "namespace suffix removed from the gateway's function_name metric labels")
	fs.DurationVar(&b.OpenFaaSTimeout, "openfaas-timeout", openfaas.DefaultTimeout, "time-out of each request to the OpenFaaS gateway")
	fs.StringVar(&b.Metrics, "metrics", "scrape", "metric source: proxy (the proxy's counters only), scrape (plus the FaaS gateway's and node_exporter's /metrics), prometheus (a Prometheus server at --prometheus-url, falling back to the proxy's counters)")
	fs.StringVar(&b.FaaSMetricsURL, "faas-metrics-url", "", "/metrics URL of the FaaS gateway for --metrics scrape (default: the FaaS URL + /metrics; an OpenFaaS gateway serves it on port 8082)")
	fs.StringVar(&b.NodeExporterURL, "node-exporter-url", "", "/metrics URL of node_exporter for --metrics scrape (default: read /proc; none: no node usage)")
	fs.StringVar(&b.PrometheusURL, "prometheus-url", "http://127.0.0.1:9090", "URL of Prometheus for --metrics prometheus (env AGENT_PROMETHEUS_HOST and AGENT_PROMETHEUS_PORT)")
	fs.DurationVar(&b.PrometheusScrape, "prometheus-scrape-interval", promsrc.DefaultScrapeInterval, "interval at which Prometheus scrapes this node's targets (query ranges span at least 4)")
	fs.StringVar(&b.PrometheusAgent, "prometheus-agent", "job=dfaas-agent", "label matchers of this agent's scrape target in Prometheus, as name=value,...")
	fs.StringVar(&b.PrometheusGateway, "prometheus-gateway", "job=openfaas-gateway", "label matchers of this node's FaaS gateway target in Prometheus")
	fs.StringVar(&b.PrometheusNode, "prometheus-node", "job=node", "label matchers of this node's node_exporter target in Prometheus")
	fs.DurationVar(&b.PrometheusTimeout, "prometheus-timeout", promsrc.DefaultTimeout, "time-out of each Prometheus query")
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
