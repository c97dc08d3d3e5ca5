package dfaas_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// noID is a transport whose local ID is empty.
type noID struct{ peer.Transport }

func (noID) LocalID() peer.ID { return "" }

// TestConfigRules: each rule of Config.Validate rejects its bad value with
// its own message, naming the field, and accepts the value at its limit.
func TestConfigRules(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	good := dfaas.Config{
		Strategy: strategy.AllLocal{}, Proxy: proxyctl.NewRecorder(0), FaaS: faas.NewStatic(),
		Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: tr, ProxyURL: "http://127.0.0.1:30080",
	}
	tests := []struct {
		name   string
		change func(c *dfaas.Config)
		want   string // "" when valid
	}{
		{"empty local ID", func(c *dfaas.Config) { c.Peers = noID{tr} }, "Peers: transport has an empty local ID"},
		{"https proxy URL", func(c *dfaas.Config) {
			c.ProxyURL, c.DataCert, c.CheckDataCert = "https://x:1", []byte{1}, func(peer.ID, []byte) error { return nil }
		}, ""},
		{"https proxy URL without a certificate", func(c *dfaas.Config) { c.ProxyURL = "https://x:1" }, "DataCert: required with an https ProxyURL"},
		{"negative period", func(c *dfaas.Config) { c.Period = -time.Second }, "Period: negative"},
		{"period of 10ms", func(c *dfaas.Config) { c.Period = 10 * time.Millisecond }, ""},
		{"period under 10ms", func(c *dfaas.Config) { c.Period = 10*time.Millisecond - 1 }, "Period: 9.999999ms is shorter than 10ms"},
		{"negative expiry", func(c *dfaas.Config) { c.NeighbourExpiry = -time.Second }, "NeighbourExpiry: negative"},
		{"expiry equal to the period", func(c *dfaas.Config) { c.Period, c.NeighbourExpiry = time.Second, time.Second }, ""},
		{"expiry under the default period", func(c *dfaas.Config) { c.NeighbourExpiry = dfaas.DefaultPeriod - 1 }, "NeighbourExpiry: 4.999999999s is shorter than the period 5s"},
		{"negative advice timeout", func(c *dfaas.Config) { c.AdviceTimeout = -1 }, "AdviceTimeout: negative"},
		{"negative nearest", func(c *dfaas.Config) { c.Nearest = -1 }, "Nearest: negative"},
		{"negative max RTT", func(c *dfaas.Config) { c.MaxRTT = -1 }, "MaxRTT: negative"},
		{"negative message size", func(c *dfaas.Config) { c.MaxMessageSize = -1 }, "MaxMessageSize: negative"},
		{"empty bootstrap entry", func(c *dfaas.Config) { c.Bootstrap = []peer.ID{"b", ""} }, "Bootstrap: entry 1 is empty"},
		// The credential rotation may not be shorter than the neighbour
		// expiry (the grace of the previous credential); equal is accepted.
		{"negative rotation", func(c *dfaas.Config) { c.CredentialRotation = -time.Second }, "CredentialRotation: negative"},
		{"rotation equal to the default expiry", func(c *dfaas.Config) { c.Period, c.CredentialRotation = time.Second, 3*time.Second }, ""},
		{"rotation under the default expiry", func(c *dfaas.Config) { c.Period, c.CredentialRotation = time.Second, 3*time.Second-1 }, "CredentialRotation: 2.999999999s is shorter than the neighbour expiry 3s"},
		{"rotation equal to the expiry", func(c *dfaas.Config) { c.CredentialRotation, c.NeighbourExpiry = 5*time.Second, 5*time.Second }, ""},
		{"rotation under the expiry", func(c *dfaas.Config) { c.CredentialRotation, c.NeighbourExpiry = 4*time.Second, 5*time.Second }, "CredentialRotation: 4s is shorter than the neighbour expiry 5s"},
		{"negative idle periods", func(c *dfaas.Config) { c.IdlePeriods = -1 }, "IdlePeriods: negative"},
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

// TestSharedRegistryRefused: a second node cannot register its metrics in
// the registry of a first one; New says so instead of failing later.
func TestSharedRegistryRefused(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	reg := prometheus.NewRegistry()
	for i, id := range []peer.ID{"a", "b"} {
		tr, err := net.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		n, err := dfaas.New(dfaas.Config{
			Strategy: strategy.AllLocal{}, Proxy: proxyctl.NewRecorder(0), FaaS: faas.NewStatic(),
			Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: tr, ProxyURL: "http://127.0.0.1:30080", Registerer: reg,
		})
		switch {
		case i == 0 && err != nil:
			t.Fatal(err)
		case i == 0:
			defer n.Close()
		case !errors.Is(err, dfaas.ErrConfig) || !strings.Contains(err.Error(), "Registerer"):
			t.Errorf("second node on the same registry: %v, want ErrConfig naming Registerer", err)
		}
	}
}
