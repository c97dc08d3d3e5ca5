package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func runMain(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), errb.String(), err
}

func TestUsage(t *testing.T) {
	if _, _, err := runMain(t); !isUsage(err) {
		t.Errorf("no command: %v, want a usage error", err)
	}
	out, _, err := runMain(t, "help")
	if err != nil || !strings.Contains(out, "demo") || !strings.Contains(out, "agent") {
		t.Errorf("help: %v\n%s", err, out)
	}
	if _, _, err := runMain(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v", err)
	}
	// dfaas help NAME is NAME -h, on standard output.
	for name := range commands() {
		out, stderr, err := runMain(t, "help", name)
		_, want, _ := runMain(t, name, "-h")
		if err != nil || stderr != "" || out != want {
			t.Errorf("help %s: %v, stdout:\n%s\nstderr:\n%s", name, err, out, stderr)
		}
	}
	if _, _, err := runMain(t, "help", "frobnicate"); !isUsage(err) || !strings.Contains(err.Error(), `help "frobnicate": unknown command`) {
		t.Errorf("help of an unknown command: %v", err)
	}
}

// TestHelp: every command's -h starts with a usage header (synopsis and
// what the command does) before its flags, not Go's bare "Usage of".
func TestHelp(t *testing.T) {
	for name := range commands() {
		_, stderr, err := runMain(t, name, "-h")
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s -h: %v", name, err)
		}
		if !strings.HasPrefix(stderr, "Usage:\n  dfaas "+name) || !strings.Contains(stderr, "\nFlags:\n") || strings.Contains(stderr, "Usage of") {
			t.Errorf("%s -h:\n%s", name, stderr)
		}
		if _, about := help(name); len(about) < 100 || strings.Contains(about, "%s") {
			t.Errorf("%s: about %q", name, about)
		}
	}
	// An error prints no usage, only the error naming the flag.
	_, stderr, err := runMain(t, "agent", "--period", "5x")
	if err == nil || err.Error() != `--period "5x": want a duration such as 500ms, 5s or 1m (see dfaas agent -h)` || stderr != "" {
		t.Errorf("bad duration: %v, stderr %q", err, stderr)
	}
}

// TestFlagErrors: the errors of package flag name the flag as written and
// the form its value takes.
func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--duration", "soon"}, `--duration "soon": want a duration such as 500ms, 5s or 1m`},
		{[]string{"demo", "--seed", "-1"}, `--seed "-1": want a non-negative integer`},
		{[]string{"demo", "--json=maybe"}, `--json "maybe": want true or false`},
		{[]string{"churn", "--updates", "many"}, `--updates "many": want an integer`},
		{[]string{"churn", "--rate", "fast"}, `--rate "fast": want a number`},
		{[]string{"demo", "--frobnicate"}, "unknown flag --frobnicate"},
		{[]string{"demo", "--duration"}, "--duration needs a value"},
		{[]string{"faas", "--function", "figlet,capacity=x"}, `--function "figlet,capacity=x": "figlet,capacity=x": capacity`},
		{[]string{"agent", "--strategy-params", `{"utilisation": 0.9}`}, `--strategy-params: strategy "flow": parameters: json: unknown field "utilisation"`},
		{[]string{"agent", "--strategy", "nope"}, `--strategy: `},
		// A strategy that only applies an advisor's shares, without one,
		// would keep the node on its own without a word.
		{[]string{"agent", "--strategy", "external"}, "--strategy external needs --advisor URL"},
		{[]string{"demo", "--strategy", "external"}, `--strategy "external": applies an outside decision model's advice`},
		{[]string{"sim", "--scenario", "testbed-1-light-overload", "--strategy", "external"}, `--strategy "external": applies`},
		{[]string{"bench", "--strategy", "external"}, `--strategy "external": applies`},
		{[]string{"demo", "--strategy", "all"}, "--strategy all: the demo runs one strategy"},
		{[]string{"demo", "--strategy", "nope"}, `--strategy "nope": unknown (known: alllocal, flow, nodemargin, recalc, static)`},
		{[]string{"demo", "--params", `{"utilisation": 0.9}`}, `--params: strategy "flow": parameters: json: unknown field "utilisation"`},
		{[]string{"agent", "--gc-percent", "0"}, `--gc-percent "0": want an integer ≥ 1`},
		{[]string{"agent", "--gc-percent", "fast"}, `--gc-percent "fast": want an integer ≥ 1`},
		{[]string{"agent", "--memory-limit", "1MiB"}, `--memory-limit "1MiB": want a size such as 512MiB`},
		{[]string{"agent", "--memory-limit", "2GB"}, `--memory-limit "2GB": want a size such as 512MiB`},
		{[]string{"agent", "--gc-percent", "off", "--memory-limit", "off", "--strategy", "nope"}, "--gc-percent off needs a --memory-limit"},
		{[]string{"dataplane", "--gc-percent", "-1"}, `--gc-percent "-1": want an integer ≥ 1`},
		{[]string{"dataplane", "--memory-limit", "lots"}, `--memory-limit "lots": want a size`},
	}
	for _, tt := range tests {
		_, _, err := runMain(t, tt.args...)
		if !isUsage(err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want a usage error with %q", tt.args, err, tt.want)
		}
	}
	t.Setenv("AGENT_RECALC_PERIOD", "soon")
	if _, _, err := runMain(t, "agent"); err == nil || !strings.Contains(err.Error(), `AGENT_RECALC_PERIOD="soon" (for --period): want a duration such as 500ms, 5s or 1m`) {
		t.Errorf("bad AGENT_RECALC_PERIOD: %v", err)
	}
	t.Setenv("AGENT_RECALC_PERIOD", "5s")
	t.Setenv("AGENT_STRATEGY", "nope") // refused after the GC settings: the agent cannot start and block
	t.Setenv("AGENT_GC_PERCENT", "lots")
	if _, _, err := runMain(t, "agent"); !isUsage(err) || !strings.Contains(err.Error(), `AGENT_GC_PERCENT="lots" (for --gc-percent): want an integer ≥ 1`) {
		t.Errorf("bad AGENT_GC_PERCENT: %v", err)
	}
	t.Setenv("AGENT_GC_PERCENT", "off")
	t.Setenv("AGENT_MEMORY_LIMIT", "off")
	if _, _, err := runMain(t, "agent"); !isUsage(err) || !strings.Contains(err.Error(), "--gc-percent off needs a --memory-limit") {
		t.Errorf("AGENT_GC_PERCENT=off, AGENT_MEMORY_LIMIT=off: %v", err)
	}
}

func TestChurnFlags(t *testing.T) {
	for _, args := range [][]string{
		{"churn", "--proxy", "nginx"},
		{"churn", "--updates", "2"},
		{"churn", "--rate", "0"},
		{"churn", "--rate", "NaN"},
		{"churn", "--interval", "-1s"},
		{"churn", "--baseline-updates", "-3"},
		{"churn", "extra"},
	} {
		if _, _, err := runMain(t, args...); !isUsage(err) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
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
		if !isUsage(err) {
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
