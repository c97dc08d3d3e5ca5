package stack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	t.Cleanup(func() { net.Close() })
	tr, err := net.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Transport: tr, Strategy: strategy.AllLocal{}, StrategyName: "alllocal",
		Functions:   []embedded.Function{{Name: "figlet", Capacity: 100}},
		ProxyListen: "127.0.0.1:0", Period: 100 * time.Millisecond, Seed: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// TestStackServes runs a node of embedded parts: its proxy serves a
// function, and /status answers the documented JSON with the strategy's
// name.
func TestStackServes(t *testing.T) {
	s, err := New(context.Background(), testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	s.Run(gctx, g)
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
	}()
	resp, err := http.Post(s.ProxyURL()+"/function/figlet", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("proxy: status %d", resp.StatusCode)
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var st dfaas.Status
		if err := getJSON(admin.URL+"/status", &st); err != nil {
			t.Fatal(err)
		}
		if st.Cycles > 0 && len(st.Functions) == 1 {
			if st.Strategy != "alllocal" || st.ProxyURL != s.ProxyURL() || st.Functions[0].Name != "figlet" || st.Period != 100*time.Millisecond {
				t.Fatalf("status %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cycle after 10 s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var raw map[string]any
	if err := getJSON(admin.URL+"/status", &raw); err != nil {
		t.Fatal(err)
	}
	if raw["period_s"] != 0.1 || raw["strategy"] != "alllocal" {
		t.Errorf("/status JSON: %v", raw)
	}
	if err := getJSON(admin.URL+"/healthz", &raw); err != nil || raw["status"] != "ok" {
		t.Errorf("/healthz: %v %v", raw, err)
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestStackConfigErrors: bad settings are usage errors naming the flag;
// a port in use names --proxy-listen.
func TestStackConfigErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		mutate  func(*Config)
		want    string
		isUsage bool
	}{
		{"proxy kind", func(c *Config) { c.Proxy.Kind = "nginx" }, `--proxy "nginx"`, true},
		{"forecast", func(c *Config) { c.Forecast = "crystal-ball" }, "--forecast", true},
		{"haproxy listen", func(c *Config) { c.Proxy.Kind, c.ProxyListen = "haproxy", "no-port" }, `--proxy-listen "no-port"`, true},
		{"port in use", func(c *Config) { c.ProxyListen = busy.Addr().String() }, `--proxy-listen "` + busy.Addr().String() + `"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.mutate(&cfg)
			s, err := New(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) || usage.Is(err) != tt.isUsage {
				t.Fatalf("error %v (usage %v), want one naming %s (usage %v)", err, usage.Is(err), tt.want, tt.isUsage)
			}
		})
	}
}
