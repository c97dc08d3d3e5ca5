package haproxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// goldenState is a node with two local functions, one of them with a
// decision that forwards, rejects and caps, and three neighbours.
func goldenState() proxyctl.State {
	return proxyctl.State{
		Self: "node-a",
		Functions: []proxyctl.Function{
			{Name: "figlet", Capacity: 100, Concurrency: 8, Timeout: 5 * time.Second, MaxQueue: 32},
			{Name: "shasum", Capacity: 12.5, MaxQueue: 5}, // no queue cap: its concurrency is unknown
		},
		Neighbours: []proxyctl.Neighbour{
			{ID: "node b", URL: "http://10.0.0.2:30080", Functions: []string{"figlet", "ocr"}, TokenOut: "out-b", TokenIn: "in-b", TokenInPrev: "in-b-old", Forward: true, Cap: proxyctl.ForwardCap{On: true, Share: 1.0 / 3, Rate: 12.7, Growth: 3}},
			{ID: "node-c", URL: "http://[fd00::3]:30080/", Functions: []string{"figlet"}, TokenOut: "out-c", TokenIn: "in-c", Forward: true},
			{ID: "node-d", URL: "http://10.0.0.4:30080", Functions: []string{"sleep"}, TokenOut: "out-d", TokenIn: "in-d"},
		},
		Decision: strategy.Decision{Routes: []strategy.Route{{
			Function: "figlet", Local: 0.5, Reject: 0.1,
			Forward:    []strategy.Share{{Node: "node b", Share: 0.3}, {Node: "node-c", Share: 0.1}},
			LocalLimit: 80,
			Admit:      []strategy.Limit{{Node: "node b", Rate: 7.4}, {Node: "node-d", Rate: 0}},
		}}},
	}
}

func goldenConfig() Config {
	return Config{
		Dir:        "/run/dfaas",
		GatewayURL: "http://127.0.0.1:8080",
		Slots:      2,
	}
}

func TestRenderGolden(t *testing.T) {
	cases := []struct {
		name string
		s    proxyctl.State
	}{
		{"full", goldenState()},
		{"alone", proxyctl.State{Self: "solo", Functions: []proxyctl.Function{{Name: "echo"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Render(goldenConfig(), c.s)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", c.name+".cfg"), []byte(f.Config))
			var maps strings.Builder
			names := make([]string, 0, len(f.Maps))
			for n := range f.Maps {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				maps.WriteString("== " + n + "\n" + f.Maps[n])
			}
			golden.Check(t, filepath.Join("testdata", c.name+".maps"), []byte(maps.String()))
		})
	}
}

func TestRenderDeterministic(t *testing.T) {
	a, err := Render(goldenConfig(), goldenState())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := Render(goldenConfig(), goldenState())
		if err != nil {
			t.Fatal(err)
		}
		if a.Config != b.Config {
			t.Fatal("two renders of the same state differ")
		}
	}
}

// haproxyBinary returns the haproxy binary, skipping the test when it is
// absent (failing under DFAAS_INTEGRATION=1).
func haproxyBinary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("DFAAS_INTEGRATION") == "1" {
			t.Fatalf("DFAAS_INTEGRATION=1 but haproxy is not installed: %v", err)
		}
		t.Skip("haproxy not installed")
	}
	return p
}

// TestIntegrationRenderValid checks rendered configurations with haproxy -c.
func TestIntegrationRenderValid(t *testing.T) {
	bin := haproxyBinary(t)
	for _, s := range []proxyctl.State{goldenState(), {Self: "solo"}} {
		dir := t.TempDir()
		cfg := goldenConfig()
		cfg.Dir = dir
		f, err := Render(cfg, s)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := cfg.resolve()
		if err := writeFiles(&o, f); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-c", "-f", o.configPath).CombinedOutput()
		if err != nil {
			t.Fatalf("haproxy -c: %v\n%s", err, out)
		}
		// A warning means the configuration does not say what HAProxy
		// does (rule order, ignored keywords): none is allowed.
		if strings.Contains(string(out), "[WARNING]") {
			t.Errorf("haproxy -c warns:\n%s", out)
		}
	}
}

// TestIntegrationCheckRejects checks that a configuration HAProxy rejects
// gives an error quoting HAProxy's complaint.
func TestIntegrationCheckRejects(t *testing.T) {
	bin := haproxyBinary(t)
	dir := t.TempDir()
	o, err := Config{Dir: dir, Binary: bin, GatewayURL: "http://127.0.0.1:1"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(o.configPath, []byte("global\n    bogus-keyword\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = checkConfig(t.Context(), &o)
	if err == nil || !strings.Contains(err.Error(), "bogus-keyword") {
		t.Errorf("error %v does not quote HAProxy", err)
	}
}
