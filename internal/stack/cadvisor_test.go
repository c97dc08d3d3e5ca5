package stack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
)

// TestCAdvisorWiring: with --cadvisor kubelet the node's metric source
// wraps its usual one and carries each function's memory read from the
// kubelet's page; the reader is closed with the backends.
func TestCAdvisorWiring(t *testing.T) {
	page, err := os.ReadFile("../../metricsrc/cadvisor/testdata/kubelet-cadvisor-v0.61.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(page) }))
	defer srv.Close()
	b := Backends{FaaS: "openfaas", Namespace: "openfaas-fn", Metrics: "proxy",
		CAdvisor: CAdvisor{Mode: "kubelet", URL: srv.URL + "/metrics/cadvisor", TokenFile: "none", Timeout: time.Second}}
	var cfg Config
	rd, err := b.cadvisor(&cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	src, err := cfg.Metrics(metricsrc.NewCounters(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*cadvisor.Source); !ok {
		t.Fatalf("source %T, want *cadvisor.Source", src)
	}
	smp, err := src.Sample(context.Background(), time.Now(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var figlet metricsrc.FunctionRates
	for _, f := range smp.Functions {
		if f.Name == "figlet" {
			figlet = f
		}
	}
	if figlet.Memory <= 0 {
		t.Errorf("figlet's memory %v, want the pods' working set (functions %+v)", figlet.Memory, smp.Functions)
	}
}

// TestCAdvisorFlagErrors: each wrong combination names the flag at fault.
func TestCAdvisorFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Backends
		want string
	}{
		{"embedded FaaS", Backends{FaaS: "embedded", CAdvisor: CAdvisor{Mode: "kubelet", URL: "http://k:1"}}, "--cadvisor kubelet: the embedded FaaS runs no pods"},
		{"unknown mode", Backends{FaaS: "openfaas", CAdvisor: CAdvisor{Mode: "docker"}}, `--cadvisor "docker": want none, kubelet or prometheus`},
		{"no URL, no node IP", Backends{FaaS: "openfaas", CAdvisor: CAdvisor{Mode: "kubelet"}}, "--cadvisor-url: required"},
		{"bad URL", Backends{FaaS: "openfaas", CAdvisor: CAdvisor{Mode: "kubelet", URL: "ftp://k"}}, "--cadvisor-url:"},
		{"bad selector", Backends{FaaS: "openfaas", PrometheusURL: "http://p:9090", CAdvisor: CAdvisor{Mode: "prometheus", Selector: "job"}}, "--cadvisor-selector:"},
		{"openwhisk without namespace", Backends{FaaS: "openwhisk", CAdvisor: CAdvisor{Mode: "kubelet", URL: "http://k:1"}}, "--cadvisor-namespace: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			c, err := tc.b.cadvisor(&cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
			if c != nil || cfg.Metrics != nil {
				t.Errorf("on error: closer %v, metrics hook set %v", c, cfg.Metrics != nil)
			}
		})
	}
	// The default URL is the kubelet's port on --node-ip.
	b := Backends{FaaS: "openfaas", CAdvisor: CAdvisor{Mode: "kubelet", NodeIP: "10.0.0.5", TokenFile: "none"}}
	var cfg Config
	c, err := b.cadvisor(&cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if k, ok := c.(*cadvisor.Kubelet); !ok || k.URL() != "https://10.0.0.5:10250/metrics/cadvisor" {
		t.Errorf("reader %T %v, want the kubelet at 10.0.0.5:10250", c, c)
	}
}
