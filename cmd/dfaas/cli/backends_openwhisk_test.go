package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/faas/openwhisk"
	"github.com/dfaas-go/dfaas/internal/usage"
)

// TestBackendOpenWhiskFlags: --faas openwhisk and its flags (or their
// AGENT_ variables) make an OpenWhisk client of the node's FaaS;
// --prometheus-gateway then defaults to the user-events service's job
// unless given; a missing key file is a usage error naming its flag.
func TestBackendOpenWhiskFlags(t *testing.T) {
	key, err := openwhisk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ow.key")
	if err := openwhisk.WriteKeyFile(file, key); err != nil {
		t.Fatal(err)
	}
	b, cfg, err := parseBackends(t, "--faas", "openwhisk", "--openwhisk-url", "http://controller:3233", "--openwhisk-auth-file", file, "--openwhisk-namespace", "guest")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := cfg.FaaS.(*openwhisk.Client)
	if !ok || c.URL() != "http://controller:3233" || c.Namespace() != "guest" || cfg.FaaSHandler == nil {
		t.Errorf("--faas openwhisk: FaaS %T, front %v", cfg.FaaS, cfg.FaaSHandler != nil)
	}
	if b.PrometheusGateway != "job=openwhisk-user-events" {
		t.Errorf("--faas openwhisk: --prometheus-gateway %q, want job=openwhisk-user-events", b.PrometheusGateway)
	}
	b, _, err = parseBackends(t, "--faas", "openwhisk", "--openwhisk-auth-file", file, "--prometheus-gateway", "job=ue,instance=x")
	if err != nil || b.PrometheusGateway != "job=ue,instance=x" {
		t.Errorf("--prometheus-gateway given: %q %v", b.PrometheusGateway, err)
	}

	t.Setenv("AGENT_FAAS", "openwhisk")
	t.Setenv("AGENT_OPENWHISK_URL", "https://ow.example")
	t.Setenv("AGENT_OPENWHISK_AUTH_FILE", file)
	b, cfg, err = parseBackends(t)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := cfg.FaaS.(*openwhisk.Client); !ok || c.URL() != "https://ow.example" || b.PrometheusGateway != "job=openwhisk-user-events" {
		t.Errorf("from the environment: %+v, FaaS %T", b, cfg.FaaS)
	}

	t.Setenv("AGENT_OPENWHISK_AUTH_FILE", "")
	_, _, err = parseBackends(t)
	if !usage.Is(err) || !strings.Contains(err.Error(), "--openwhisk-auth-file") {
		t.Errorf("no key file: %v, want a usage error naming --openwhisk-auth-file", err)
	}
}
