package stack

import (
	"cmp"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
)

// CAdvisor chooses where a node reads each function's CPU and memory
// (metricsrc/cadvisor). Each field is the value of the agent flag in
// brackets.
type CAdvisor struct {
	Mode      string        // [--cadvisor] none, kubelet or prometheus
	URL       string        // [--cadvisor-url] default https://<NodeIP>:10250/metrics/cadvisor
	TokenFile string        // [--cadvisor-token-file]
	CAFile    string        // [--cadvisor-ca-file]
	Insecure  bool          // [--cadvisor-insecure-skip-verify]
	Selector  string        // [--cadvisor-selector]
	Namespace string        // [--cadvisor-namespace] default: Backends.Namespace
	Timeout   time.Duration // [--cadvisor-timeout]
	// NodeIP [--node-ip] makes the default URL.
	NodeIP string
}

// cadvisor wraps the metric source of cfg so that its samples carry each
// function's CPU and memory read from cAdvisor. It returns the reader to
// close, if any.
func (b Backends) cadvisor(cfg *Config, log *slog.Logger) (io.Closer, error) {
	c := b.CAdvisor
	if c.Mode == "" || c.Mode == "none" {
		return nil, nil
	}
	mapper, err := b.cadvisorMapper()
	if err != nil {
		return nil, err
	}
	rd, err := c.reader(b)
	if err != nil {
		return nil, err
	}
	inner := cfg.Metrics
	cfg.Metrics = func(proxy metricsrc.TotalsReader, faasURL string) (metricsrc.Source, error) {
		var src metricsrc.Source = metricsrc.NewDelta(proxy)
		if inner != nil {
			var err error
			if src, err = inner(proxy, faasURL); err != nil {
				return nil, err
			}
		}
		return cadvisor.New(cadvisor.Config{Inner: src, Reader: rd, Mapper: mapper, Logger: log})
	}
	return rd, nil
}

// cadvisorMapper returns how pods map to the functions of the FaaS.
func (b Backends) cadvisorMapper() (cadvisor.Mapper, error) {
	switch b.FaaS {
	case "openfaas":
		return cadvisor.OpenFaaS{FunctionNamespace: cmp.Or(b.CAdvisor.Namespace, b.Namespace)}, nil
	case "openwhisk":
		if b.CAdvisor.Namespace == "" {
			return nil, usage.Errorf("--cadvisor-namespace: required with --faas openwhisk (the Kubernetes namespace of the action pods)")
		}
		return cadvisor.OpenWhisk{PodNamespace: b.CAdvisor.Namespace}, nil
	default:
		return nil, usage.Errorf("--cadvisor %s: the %s FaaS runs no pods; use it with a FaaS on Kubernetes (--faas openfaas)", b.CAdvisor.Mode, b.FaaS)
	}
}

// readCloser is a cadvisor.Reader that holds resources.
type readCloser interface {
	cadvisor.Reader
	io.Closer
}

// reader returns the reader of the pods' usage: the kubelet scraped
// directly, or Prometheus (at b.PrometheusURL).
func (c CAdvisor) reader(b Backends) (readCloser, error) {
	switch c.Mode {
	case "kubelet":
		url := c.URL
		if url == "" {
			if c.NodeIP == "" {
				return nil, usage.Errorf("--cadvisor-url: required with --cadvisor kubelet unless --node-ip names this node")
			}
			url = "https://" + net.JoinHostPort(c.NodeIP, "10250") + "/metrics/cadvisor"
		}
		kb, err := cadvisor.NewKubelet(cadvisor.KubeletConfig{URL: url, TokenFile: c.TokenFile, CAFile: c.CAFile, InsecureSkipVerify: c.Insecure, Timeout: c.Timeout})
		if err != nil {
			return nil, usage.Errorf("--cadvisor-url: %v", err)
		}
		return kb, nil
	case "prometheus":
		sel, err := promsrc.ParseSelectors(c.Selector)
		if err != nil {
			return nil, usage.Errorf("--cadvisor-selector: %v", err)
		}
		p, err := cadvisor.NewPrometheus(cadvisor.PrometheusConfig{URL: b.PrometheusURL, CAdvisor: sel, ScrapeInterval: b.PrometheusScrape, Timeout: c.Timeout})
		if err != nil {
			return nil, usage.Errorf("--prometheus-url: %v", err)
		}
		return p, nil
	default:
		return nil, usage.Errorf("--cadvisor %q: want none, kubelet or prometheus", c.Mode)
	}
}
