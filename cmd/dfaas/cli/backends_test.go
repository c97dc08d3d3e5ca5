package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/faas/openfaas"
	"github.com/dfaas-go/dfaas/internal/stack"
	"github.com/dfaas-go/dfaas/internal/usage"
)

// parseBackends parses agent-like flags with the backend flags and the
// environment, and configures a stack.Config.
func parseBackends(t *testing.T, args ...string) (*backendFlags, stack.Config, error) {
	t.Helper()
	fs := newFlagSet("agent", stdio{err: &strings.Builder{}})
	var fns functionsFlag
	fs.Var(&fns, "function", "")
	var b backendFlags
	b.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, stack.Config{}, err
	}
	if err := applyBackendEnv(fs); err != nil {
		return nil, stack.Config{}, err
	}
	cfg := stack.Config{Functions: fns}
	release, err := b.Configure(&cfg, nil)
	if err == nil {
		t.Cleanup(release)
	}
	return &b, cfg, err
}

func TestBackendFlags(t *testing.T) {
	b, cfg, err := parseBackends(t)
	if err != nil || b.FaaS != "embedded" || b.Metrics != "scrape" || cfg.FaaS != nil || cfg.Metrics == nil {
		t.Fatalf("defaults: %+v %+v %v", b, cfg, err)
	}
	_, cfg, err = parseBackends(t, "--metrics", "proxy")
	if err != nil || cfg.Metrics != nil {
		t.Errorf("--metrics proxy: %v, hook set %v", err, cfg.Metrics != nil)
	}

	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	b, cfg, err = parseBackends(t, "--faas", "openfaas", "--openfaas-url", "http://gw:8080/", "--openfaas-user", "admin",
		"--openfaas-password-file", pw, "--metrics", "prometheus", "--prometheus-url", "http://prom:9090",
		"--prometheus-agent", "job=dfaas-agent,instance=10.0.0.5:8080")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := cfg.FaaS.(*openfaas.Client); !ok || cfg.FaaSURL != "http://gw:8080" || c.URL() != "http://gw:8080" {
		t.Errorf("openfaas backend: %T %q", cfg.FaaS, cfg.FaaSURL)
	}
	if cfg.Metrics == nil {
		t.Error("prometheus: no metrics hook")
	}
}

func TestBackendEnv(t *testing.T) {
	t.Setenv("AGENT_OPENFAAS_HOST", "gateway")
	t.Setenv("AGENT_PROMETHEUS_PORT", "80")
	t.Setenv("AGENT_FAAS", "openfaas")
	t.Setenv("AGENT_METRICS", "prometheus")
	b, _, err := parseBackends(t)
	if err != nil {
		t.Fatal(err)
	}
	if b.OpenFaaSURL != "http://gateway:8080" || b.PrometheusURL != "http://127.0.0.1:80" || b.FaaS != "openfaas" || b.Metrics != "prometheus" {
		t.Errorf("from the environment: %+v", b)
	}
	// Flags win over the environment.
	b, _, err = parseBackends(t, "--openfaas-url", "http://other:1")
	if err != nil || b.OpenFaaSURL != "http://other:1" {
		t.Errorf("flag over env: %q %v", b.OpenFaaSURL, err)
	}
	t.Setenv("AGENT_OPENFAAS_PORT", "80/x")
	if _, _, err := parseBackends(t); !isUsage(err) || !strings.Contains(err.Error(), "AGENT_OPENFAAS") {
		t.Errorf("bad port: %v", err)
	}
}

func TestBackendFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--faas", "lambda"}, "--faas"},
		{[]string{"--metrics", "statsd"}, "--metrics"},
		{[]string{"--faas", "openfaas", "--openfaas-url", "gateway:8080"}, "--openfaas-url"},
		{[]string{"--faas", "openfaas", "--openfaas-password-file", "/nonexistent/pw"}, "--openfaas-password-file"},
		{[]string{"--faas", "openfaas", "--function", "figlet"}, "--function"},
		{[]string{"--metrics", "prometheus", "--prometheus-url", "prom"}, "--prometheus-url"},
		{[]string{"--metrics", "prometheus", "--prometheus-agent", "job"}, "--prometheus-agent"},
		{[]string{"--metrics", "prometheus", "--prometheus-node", "bad-label=x"}, "--prometheus-node"},
		{[]string{"--metrics", "prometheus", "--prometheus-scrape-interval", "-1s"}, "--prometheus-url"},
		{[]string{"--node-exporter-url", "localhost:9100"}, "--node-exporter-url"},
		{[]string{"--faas-metrics-url", "ftp://x"}, "--faas-metrics-url"},
	} {
		_, _, err := parseBackends(t, tc.args...)
		if !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error naming %s", tc.args, err, tc.want)
		}
	}
	if _, _, err := runMain(t, "agent", "--faas", "nope"); !isUsage(err) {
		t.Errorf("agent --faas nope: %v", err)
	}
	if _, _, err := runMain(t, "faas", "--listen", "127.0.0.1:0", "--basic-auth-user", "admin"); !isUsage(err) {
		t.Errorf("faas --basic-auth-user without a password file: %v", err)
	}
}

// isUsage reports whether err is a usage error (exit status 2).
func isUsage(err error) bool { return errors.As(err, new(usageError)) || usage.Is(err) }
