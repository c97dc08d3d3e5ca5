package cli

import (
	"flag"

	"github.com/dfaas-go/dfaas/faas/openfaas"
	"github.com/dfaas-go/dfaas/internal/stack"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
)

// backendFlags are the agent's flags that choose its FaaS platform and its
// metric source.
type backendFlags struct{ stack.Backends }

// register adds the flags to fs.
func (b *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.FaaS, "faas", "embedded", "FaaS platform: embedded (start the built-in FaaS), openfaas (an OpenFaaS gateway at --openfaas-url) or openwhisk (an OpenWhisk controller at --openwhisk-url)")
	fs.StringVar(&b.OpenFaaSURL, "openfaas-url", "http://127.0.0.1:8080", "URL of the OpenFaaS gateway (env AGENT_OPENFAAS_HOST and AGENT_OPENFAAS_PORT)")
	fs.StringVar(&b.OpenFaaSUser, "openfaas-user", "", "basic-auth user of the OpenFaaS gateway (usually admin)")
	fs.StringVar(&b.OpenFaaSPasswordFile, "openfaas-password-file", "", "file holding the basic-auth password of the OpenFaaS gateway")
	fs.StringVar(&b.Namespace, "faas-namespace", "openfaas-fn", "namespace suffix removed from the OpenFaaS gateway's function_name metric labels")
	fs.DurationVar(&b.OpenFaaSTimeout, "openfaas-timeout", openfaas.DefaultTimeout, "time-out of each request to the OpenFaaS gateway")
	fs.StringVar(&b.OpenWhiskURL, "openwhisk-url", "http://127.0.0.1:3233", "URL of the OpenWhisk controller (or its nginx), for --faas openwhisk")
	fs.StringVar(&b.OpenWhiskAuthFile, "openwhisk-auth-file", "", "file holding the OpenWhisk namespace's API key UUID:KEY, readable by its owner only (or by its group if root owns it, as a Kubernetes Secret with fsGroup); required with --faas openwhisk")
	fs.StringVar(&b.OpenWhiskNamespace, "openwhisk-namespace", "_", "OpenWhisk namespace whose actions are the node's functions (_: the key's own)")
	fs.StringVar(&b.OpenWhiskCA, "openwhisk-ca", "", "PEM file of the certificate authorities of the OpenWhisk controller's certificate (https; default: the system's)")
	fs.StringVar(&b.Metrics, "metrics", "scrape", "metric source: proxy (the proxy's counters only), scrape (plus the FaaS gateway's and node_exporter's /metrics), prometheus (a Prometheus server at --prometheus-url, falling back to the proxy's counters)")
	fs.StringVar(&b.FaaSMetricsURL, "faas-metrics-url", "", "/metrics URL of the FaaS gateway for --metrics scrape (default: the FaaS URL + /metrics; an OpenFaaS gateway serves it on port 8082; with --faas openwhisk, the user-events service's, else none)")
	fs.StringVar(&b.NodeExporterURL, "node-exporter-url", "", "/metrics URL of node_exporter for --metrics scrape (default: read /proc; none: no node usage)")
	fs.StringVar(&b.PrometheusURL, "prometheus-url", "http://127.0.0.1:9090", "URL of Prometheus for --metrics prometheus (env AGENT_PROMETHEUS_HOST and AGENT_PROMETHEUS_PORT)")
	fs.DurationVar(&b.PrometheusScrape, "prometheus-scrape-interval", promsrc.DefaultScrapeInterval, "interval at which Prometheus scrapes this node's targets (query ranges span at least 4)")
	fs.StringVar(&b.PrometheusAgent, "prometheus-agent", "job=dfaas-agent", "label matchers of this agent's scrape target in Prometheus, as name=value,...")
	fs.StringVar(&b.PrometheusGateway, "prometheus-gateway", "job=openfaas-gateway", "label matchers of this node's FaaS gateway target in Prometheus (if not given with --faas openwhisk: job=openwhisk-user-events)")
	fs.StringVar(&b.PrometheusNode, "prometheus-node", "job=node", "label matchers of this node's node_exporter target in Prometheus")
	fs.DurationVar(&b.PrometheusTimeout, "prometheus-timeout", promsrc.DefaultTimeout, "time-out of each Prometheus query")
	c := &b.CAdvisor
	fs.StringVar(&c.Mode, "cadvisor", "none", "per-function CPU and memory from cAdvisor (FaaS on Kubernetes): none, kubelet (scrape --cadvisor-url) or prometheus (query --prometheus-url)")
	fs.StringVar(&c.URL, "cadvisor-url", "", "the kubelet's cAdvisor endpoint for --cadvisor kubelet (default https://<--node-ip>:10250/metrics/cadvisor)")
	fs.StringVar(&c.TokenFile, "cadvisor-token-file", "", "bearer token file for --cadvisor kubelet, read at every scrape (default: the pod's service account token when present; none: no token)")
	fs.StringVar(&c.CAFile, "cadvisor-ca-file", "", "CA certificates of the kubelet's serving certificate (default: the pod's service account CA when present, else the system's; none: the system's)")
	fs.BoolVar(&c.Insecure, "cadvisor-insecure-skip-verify", false, "do not verify the kubelet's certificate (kubelets that sign their own)")
	fs.StringVar(&c.Selector, "cadvisor-selector", "job="+cadvisor.DefaultCAdvisorJob, "label matchers of this node's cAdvisor target in Prometheus for --cadvisor prometheus; add node=<node name> when Prometheus scrapes several nodes")
	fs.StringVar(&c.Namespace, "cadvisor-namespace", "", "Kubernetes namespace of the function pods (default: --faas-namespace)")
	fs.DurationVar(&c.Timeout, "cadvisor-timeout", cadvisor.DefaultTimeout, "time-out of each cAdvisor scrape or query")
}

// backendEnv maps the flags to environment variables (besides the
// HOST/PORT pairs handled by applyBackendEnv).
func backendEnv() map[string]string {
	return map[string]string{
		"faas":                       "AGENT_FAAS",
		"openfaas-user":              "AGENT_OPENFAAS_USER",
		"openfaas-password-file":     "AGENT_OPENFAAS_PASSWORD_FILE",
		"faas-namespace":             "AGENT_FAAS_NAMESPACE",
		"openwhisk-url":              "AGENT_OPENWHISK_URL",
		"openwhisk-auth-file":        "AGENT_OPENWHISK_AUTH_FILE",
		"openwhisk-namespace":        "AGENT_OPENWHISK_NAMESPACE",
		"openwhisk-ca":               "AGENT_OPENWHISK_CA",
		"metrics":                    "AGENT_METRICS",
		"faas-metrics-url":           "AGENT_FAAS_METRICS_URL",
		"node-exporter-url":          "AGENT_NODE_EXPORTER_URL",
		"prometheus-scrape-interval": "AGENT_PROMETHEUS_SCRAPE_INTERVAL",
		"prometheus-agent":           "AGENT_PROMETHEUS_AGENT",
		"prometheus-gateway":         "AGENT_PROMETHEUS_GATEWAY",
		"prometheus-node":            "AGENT_PROMETHEUS_NODE",
		"cadvisor":                   "AGENT_CADVISOR",
		"cadvisor-url":               "AGENT_CADVISOR_URL",
		"cadvisor-selector":          "AGENT_CADVISOR_SELECTOR",
		"cadvisor-namespace":         "AGENT_CADVISOR_NAMESPACE",
	}
}

// applyBackendEnv sets the backend flags not given on the command line from
// the environment, including the original agent's HOST/PORT pairs:
// AGENT_OPENFAAS_HOST/PORT (default port 8080) and AGENT_PROMETHEUS_HOST/PORT
// (default port 9090) make --openfaas-url and --prometheus-url. With --faas
// openwhisk, --prometheus-gateway defaults to the user-events service's job.
func applyBackendEnv(fs *flag.FlagSet) error {
	if err := usage.ApplyEnv(fs, backendEnv()); err != nil {
		return err
	}
	if err := usage.ApplyHostPortEnv(fs, "openfaas-url", "AGENT_OPENFAAS", "8080"); err != nil {
		return err
	}
	if err := usage.ApplyHostPortEnv(fs, "prometheus-url", "AGENT_PROMETHEUS", "9090"); err != nil {
		return err
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "prometheus-gateway" })
	if fs.Lookup("faas").Value.String() == "openwhisk" && !given {
		fs.Set("prometheus-gateway", "job=openwhisk-user-events") // promsrc.DefaultOpenWhiskSelectors
	}
	return nil
}
