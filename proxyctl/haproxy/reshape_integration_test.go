package haproxy

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// failingHAProxy writes a wrapper around the real haproxy that the test
// can make fail: with the file fail-check in its directory, the
// configuration check (haproxy -c) refuses the configuration; with
// break-after-check, the check passes and then the configuration is
// corrupted, so that the reload that follows fails in the master. It
// returns the wrapper's path.
func failingHAProxy(t *testing.T) string {
	real := haproxyBinary(t)
	dir := t.TempDir()
	script := `#!/bin/sh
dir=$(dirname "$0")
if [ "$1" = "-c" ]; then
  if [ -e "$dir/fail-check" ]; then echo "wrapper: configuration refused" >&2; exit 1; fi
  "` + real + `" "$@" || exit $?
  if [ -e "$dir/break-after-check" ]; then echo "not haproxy syntax" >> "$3"; fi
  exit 0
fi
exec "` + real + `" "$@"
`
	p := filepath.Join(dir, "haproxy")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIntegrationReshapeFailures: when a new layout's configuration is
// refused by haproxy -c, or passes it and then fails to load at the
// reload, Apply fails with the reason, the worker in force keeps serving
// the previous routing, no reload is counted, and the next Apply that
// can succeed does.
func TestIntegrationReshapeFailures(t *testing.T) {
	bin := failingHAProxy(t)
	flag := func(name string, on bool) {
		p := filepath.Join(filepath.Dir(bin), name)
		if on {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		os.Remove(p)
	}
	gw := newFakeServer(t, "gateway")
	c := startNode(t, gw.srv.URL, func(cfg *Config) { cfg.Binary = bin })
	one := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 1}}}}
	apply(t, c, one)
	two := one.Clone()
	two.Functions = append(two.Functions, proxyctl.Function{Name: "shasum"}) // a new backend: a reshape
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	serves := func(fn string) bool {
		return do(client, http.MethodPost, c.publicURL()+"/function/"+fn, nil).status == 200
	}
	if !serves("figlet") || serves("shasum") {
		t.Fatal("first state not in force")
	}
	reloads := c.Stats().Reloads
	try := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return c.Apply(ctx, two)
	}

	flag("fail-check", true)
	if err := try(); err == nil || !strings.Contains(err.Error(), "rejected by") || !strings.Contains(err.Error(), "wrapper: configuration refused") {
		t.Fatalf("Apply with a refused configuration: %v", err)
	}
	if !serves("figlet") || serves("shasum") || c.Stats().Reloads != reloads {
		t.Fatal("after a refused configuration the previous routing must stay in force, without a reload")
	}
	flag("fail-check", false)

	flag("break-after-check", true)
	if err := try(); err == nil || !strings.Contains(err.Error(), "reload failed") || !strings.Contains(err.Error(), "not haproxy syntax") && !strings.Contains(err.Error(), "unknown keyword") {
		t.Fatalf("Apply with a configuration that fails at the reload: %v", err)
	}
	if !serves("figlet") || serves("shasum") || c.Stats().Reloads != reloads {
		t.Fatal("after a failed reload the previous worker must keep serving the previous routing")
	}
	flag("break-after-check", false)

	if err := try(); err != nil {
		t.Fatalf("Apply once HAProxy accepts the configuration again: %v", err)
	}
	if !serves("figlet") || !serves("shasum") || c.Stats().Reloads != reloads+1 {
		t.Fatalf("new state not in force after recovery (reloads %d, were %d)", c.Stats().Reloads, reloads)
	}
}
