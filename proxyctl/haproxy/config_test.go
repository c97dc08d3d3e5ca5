package haproxy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{GatewayURL: "http://127.0.0.1:8080"}
	cases := []struct {
		name  string
		mod   func(*Config)
		field string // "" when valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"full", func(c *Config) {
			c.Dir, c.ListenAddr, c.MetricsAddr, c.Slots = "/run/dfaas", "10.0.0.1:30080", MetricsOff, 64
			c.GatewayURL = "http://gateway.openfaas:8080/"
		}, ""},
		{"ipv6 listen", func(c *Config) { c.ListenAddr = "[::1]:30080" }, ""},
		{"no gateway", func(c *Config) { c.GatewayURL = "" }, "GatewayURL"},
		{"https gateway", func(c *Config) { c.GatewayURL = "https://127.0.0.1:8080" }, "GatewayURL"},
		{"gateway with a path", func(c *Config) { c.GatewayURL = "http://127.0.0.1:8080/api" }, "GatewayURL"},
		{"gateway with a bad host", func(c *Config) { c.GatewayURL = "http://gate_way:8080" }, "GatewayURL"},
		{"gateway port 0", func(c *Config) { c.GatewayURL = "http://127.0.0.1:0" }, "GatewayURL"},
		{"listen without port", func(c *Config) { c.ListenAddr = "127.0.0.1" }, "ListenAddr"},
		{"listen on a name", func(c *Config) { c.ListenAddr = "localhost:30080" }, "ListenAddr"},
		{"metrics port 70000", func(c *Config) { c.MetricsAddr = ":70000" }, "MetricsAddr"},
		{"negative slots", func(c *Config) { c.Slots = -1 }, "Slots"},
		{"too many slots", func(c *Config) { c.Slots = maxSlots + 1 }, "Slots"},
		{"negative queue time-out", func(c *Config) { c.QueueTimeout = -time.Second }, "QueueTimeout"},
		{"sub-millisecond check", func(c *Config) { c.CheckInterval = time.Microsecond }, "CheckInterval"},
		{"negative maxconn", func(c *Config) { c.MaxConn = -5 }, "MaxConn"},
		{"huge maxconn", func(c *Config) { c.MaxConn = maxMaxConn + 1 }, "MaxConn"},
		{"negative idle time-out", func(c *Config) { c.IdleTimeout = -time.Second }, "IdleTimeout"},
		{"sub-millisecond header time-out", func(c *Config) { c.HeaderTimeout = time.Nanosecond }, "HeaderTimeout"},
		{"negative request time-out", func(c *Config) { c.RequestTimeout = -1 }, "RequestTimeout"},
		{"too many threads", func(c *Config) { c.Threads = 65 }, "Threads"},
		{"no per-source cap, no body limit", func(c *Config) { c.MaxConnPerSource, c.MaxBodySize = -1, -1 }, ""},
		{"dir with a space", func(c *Config) { c.Dir = "/tmp/my dir" }, "Dir"},
		{"dir too long", func(c *Config) { c.Dir = "/" + strings.Repeat("d", 100) }, "Dir"},
		{"attach without dir", func(c *Config) { c.Attach = true }, "Dir"},
		{"health path relative", func(c *Config) { c.GatewayHealthPath = "healthz" }, "GatewayHealthPath"},
		{"health path with a quote", func(c *Config) { c.GatewayHealthPath = "/he\"althz" }, "GatewayHealthPath"},
		{"socket path too long", func(c *Config) { c.RuntimeSocket = "/" + strings.Repeat("s", 120) }, "RuntimeSocket"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.mod(&cfg)
			err := cfg.Validate()
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.field != "" && err == nil:
				t.Fatalf("no error, want one naming %s", c.field)
			case c.field != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.field+":")):
				t.Fatalf("error %q does not wrap ErrConfig or name %s", err, c.field)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	s, err := Config{Dir: "/run/x", GatewayURL: "http://[::1]:8080"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.listen != DefaultListenAddr || s.metrics != DefaultMetricsAddr || s.slots != DefaultSlots || s.gateway != "ipv6@::1:8080" ||
		s.configPath != "/run/x/haproxy.cfg" || s.runtimeSocket != "/run/x/runtime.sock" || s.masterSocket != "/run/x/master.sock" ||
		s.check != DefaultCheckInterval || s.drain != DefaultDrainTime || s.binary != DefaultBinary ||
		s.idle != DefaultIdleTimeout || s.header != DefaultHeaderTimeout || s.request != DefaultRequestTimeout ||
		s.maxConn != DefaultMaxConn || s.maxConnPerSrc != DefaultMaxConnPerSrc || s.maxBody != DefaultMaxBodySize || s.threads != DefaultThreads {
		t.Errorf("defaults: %+v", s)
	}
	if s, _ := (Config{GatewayURL: "http://a:1", MaxConnPerSource: -1, MaxBodySize: -1}).resolve(); s.maxConnPerSrc != 0 || s.maxBody != 0 {
		t.Errorf("negative caps do not disable them: %+v", s)
	}
	if s, _ := (Config{GatewayURL: "http://a:1", MetricsAddr: MetricsOff}).resolve(); s.metrics != "" || !s.tempDir {
		t.Errorf("metrics off / temp dir: %+v", s)
	}
}

func TestHealthPathMatchesEmbedded(t *testing.T) {
	// Nodes running either data plane probe each other's health path.
	if HealthPath != goproxy.HealthPath {
		t.Errorf("HealthPath %q, the embedded proxy's is %q", HealthPath, goproxy.HealthPath)
	}
}
