package dfaas_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestConfigCredentialRules: the credential rotation may not be negative
// nor shorter than the neighbour expiry (the grace of the previous
// credential), equal is accepted; idle periods may not be negative.
func TestConfigCredentialRules(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	good := dfaas.Config{
		Strategy: strategy.AllLocal{}, Proxy: proxyctl.NewRecorder(0), FaaS: faas.NewStatic(),
		Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: tr, ProxyURL: "http://127.0.0.1:30080",
		Period: time.Second,
	}
	tests := []struct {
		name   string
		change func(c *dfaas.Config)
		want   string // "" when valid
	}{
		{"negative rotation", func(c *dfaas.Config) { c.CredentialRotation = -time.Second }, "CredentialRotation: negative"},
		{"rotation equal to the default expiry", func(c *dfaas.Config) { c.CredentialRotation = 3 * time.Second }, ""},
		{"rotation under the default expiry", func(c *dfaas.Config) { c.CredentialRotation = 3*time.Second - 1 }, "CredentialRotation: 2.999999999s is shorter than the neighbour expiry 3s"},
		{"rotation equal to the expiry", func(c *dfaas.Config) { c.CredentialRotation, c.NeighbourExpiry = 5*time.Second, 5*time.Second }, ""},
		{"rotation under the expiry", func(c *dfaas.Config) { c.CredentialRotation, c.NeighbourExpiry = 4*time.Second, 5*time.Second }, "CredentialRotation: 4s is shorter than the neighbour expiry 5s"},
		{"negative idle periods", func(c *dfaas.Config) { c.IdlePeriods = -1 }, "IdlePeriods: negative"},
		{"zero idle periods", func(c *dfaas.Config) { c.IdlePeriods = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, dfaas.ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrConfig with %q", err, tt.want)
			}
		})
	}
}
