package quic

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/peer"
)

func TestTwoPeers(t *testing.T) {
	ts := startNet(t, 2, nil)
	eventually(t, 5*time.Second, "connected", func() bool { return fullyConnected(ts) })
	ctx := context.Background()
	if err := ts[1].Send(ctx, ts[0].LocalID(), []byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ts[0].Recv():
		if m.From != ts[1].LocalID() || string(m.Data) != "hi" {
			t.Fatalf("got %q from %s", m.Data, m.From)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	eventually(t, 5*time.Second, "RTT measured", func() bool {
		p := ts[0].Peers()
		return len(p) == 1 && p[0].RTT > 0
	})
	t.Logf("peers: %+v", ts[0].Peers())
}

func TestCollector(t *testing.T) {
	ts := startNet(t, 2, nil)
	eventually(t, 5*time.Second, "connected", func() bool { return fullyConnected(ts) })
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(ts[0].Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
		if mf.GetName() == "dfaas_transport_peers_up" && mf.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Errorf("peers_up = %v, want 1", mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	if want := 12 + len(dropReasons()) + len(rejectReasons()); n != want {
		t.Fatalf("%d metrics, want %d", n, want)
	}
}

func TestConfigErrors(t *testing.T) {
	k := mustKey(t)
	tests := []struct {
		name, field string
		edit        func(c *Config)
	}{
		{"no key", "Key", func(c *Config) { c.Key = nil }},
		{"no listen", "Listen", func(c *Config) { c.Listen = "" }},
		{"bad listen", "Listen", func(c *Config) { c.Listen = "nowhere" }},
		{"bad member", "Members", func(c *Config) { c.Members = []peer.ID{"x"} }},
		{"bad federation", "Federation", func(c *Config) { c.Federation = []peer.ID{"x"} }},
		{"bad certificate", "Certificate", func(c *Config) { c.Certificate = []byte("x") }},
		{"bad bootstrap ID", "Bootstrap", func(c *Config) { c.Bootstrap = []Addr{{HostPort: "h:1", ID: "x"}} }},
		{"bad bootstrap address", "Bootstrap", func(c *Config) { c.Bootstrap = []Addr{{HostPort: "h", ID: k.ID()}} }},
		{"negative ping", "PingInterval", func(c *Config) { c.PingInterval = -1 }},
		{"tiny ping", "PingInterval", func(c *Config) { c.PingInterval = time.Millisecond }},
		{"down too soon", "DownAfter", func(c *Config) { c.PingInterval, c.DownAfter = time.Second, time.Second }},
		{"backoff order", "MaxBackoff", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }},
		{"negative buffer", "Buffer", func(c *Config) { c.Buffer = -1 }},
		{"huge messages", "MaxMessageSize", func(c *Config) { c.MaxMessageSize = 1 << 30 }},
		{"negative rate", "RateMessages", func(c *Config) { c.RateMessages = -1 }},
		{"negative unverified", "UnverifiedPerPeer", func(c *Config) { c.UnverifiedPerPeer = -1 }},
		{"negative unverified dials", "UnverifiedDials", func(c *Config) { c.UnverifiedDials = -1 }},
		{"negative log interval", "LogInterval", func(c *Config) { c.LogInterval = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Listen: "127.0.0.1:0", Key: k}
			tt.edit(&c)
			_, err := Listen(c)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want ErrConfig naming %s", err, tt.field)
			}
		})
	}
}

func TestLabSettingLogged(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(c *Config)
		lab  bool
	}{
		{"open", func(*Config) {}, true},
		{"members", func(c *Config) { c.Members = []peer.ID{c.Key.ID()} }, false},
		{"federation", func(c *Config) { c.Federation = []peer.ID{mustKey(t).ID()} }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			c := fastConfig(t, mustKey(t))
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			tt.edit(&c)
			listen(t, c).Close()
			if got := strings.Contains(logs.String(), "lab setting"); got != tt.lab {
				t.Fatalf("lab setting logged: %v, want %v; logs:\n%s", got, tt.lab, logs.String())
			}
		})
	}
}
