package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

func runMain(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), errb.String(), err
}

func TestUsage(t *testing.T) {
	if _, _, err := runMain(t); !errors.As(err, new(usageError)) {
		t.Errorf("no command: %v, want a usage error", err)
	}
	out, _, err := runMain(t, "help")
	if err != nil || !strings.Contains(out, "demo") || !strings.Contains(out, "agent") {
		t.Errorf("help: %v\n%s", err, out)
	}
	if _, _, err := runMain(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v", err)
	}
	if _, _, err := runMain(t, "demo", "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--duration", "-1s"},
		{"demo", "--strategy", "nope"},
		{"demo", "--period", "1ms"},
		{"demo", "extra"},
		{"agent", "--strategy", "nope"},
		{"agent", "--strategy", "static", "--strategy-params", `{"local_share": 7}`},
		{"agent", "--node-ip", "not-an-ip"},
		{"agent", "--log-level", "loud"},
		{"faas", "--function", "figlet,capacity=x"},
		{"faas", "--function", "figlet,colour=red"},
	} {
		_, _, err := runMain(t, args...)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	// The embedded FaaS names the bad function.
	if _, _, err := runMain(t, "faas", "--listen", "127.0.0.1:0", "--function", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown handler: %v", err)
	}
}

func TestFunctionsFlag(t *testing.T) {
	var f functionsFlag
	if err := f.Set("fig,handler=figlet,capacity=50,concurrency=4,queue=8,queue_timeout=2s"); err != nil {
		t.Fatal(err)
	}
	got := f[0]
	if got.Name != "fig" || got.Handler != "figlet" || got.Capacity != 50 || got.Concurrency != 4 || got.Queue != 8 || got.QueueTimeout != 2*time.Second {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []string{"fig,capacity", "fig,queue=-", "fig,queue_timeout=soon"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAgentEnv(t *testing.T) {
	t.Setenv("AGENT_STRATEGY", "nope")
	if _, _, err := runMain(t, "agent"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("AGENT_STRATEGY=nope: %v", err)
	}
	t.Setenv("AGENT_STRATEGY", "alllocal")
	t.Setenv("AGENT_RECALC_PERIOD", "soon")
	if _, _, err := runMain(t, "agent"); err == nil || !strings.Contains(err.Error(), "AGENT_RECALC_PERIOD") {
		t.Errorf("bad AGENT_RECALC_PERIOD: %v", err)
	}
	t.Setenv("AGENT_RECALC_PERIOD", "1s")
	t.Setenv("AGENT_DEBUG", "maybe")
	if _, _, err := runMain(t, "agent"); err == nil || !strings.Contains(err.Error(), "AGENT_DEBUG") {
		t.Errorf("bad AGENT_DEBUG: %v", err)
	}
}

// TestDemoForwards runs a short demo: the overloaded node forwards, and
// every request is accounted for exactly once.
func TestDemoForwards(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	out, _, err := runMain(t, "demo", "--duration", "4s", "--period", "250ms", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r sim.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Mode != "demo" || len(r.Nodes) != 3 || r.Offered == 0 {
		t.Fatalf("result %+v", r)
	}
	if r.Served+r.Rejected+r.Failed != r.Offered {
		t.Errorf("served %d + rejected %d + failed %d != offered %d", r.Served, r.Rejected, r.Failed, r.Offered)
	}
	if r.Nodes[0].Forwarded == 0 {
		t.Errorf("the overloaded node forwarded nothing: %+v", r.Nodes[0])
	}
}
