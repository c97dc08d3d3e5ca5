package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/testbed"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// twoNodes writes a small scenario and returns its path.
func twoNodes(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.json")
	err := os.WriteFile(path, []byte(`{
  "name": "two", "duration": "60s", "period": "500ms", "seed": 3,
  "nodes": [
    {"id": "a", "functions": [{"name": "figlet", "capacity": 40}]},
    {"id": "b", "functions": [{"name": "figlet", "capacity": 120}]}
  ],
  "links": [{"a": "a", "b": "b", "rtt": "20ms"}],
  "load": [{"node": "a", "function": "figlet", "rates": [60]}, {"node": "b", "function": "figlet", "rates": [10]}]
}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBenchFunctionFlags: dfaas faas accepts the flags the testbed gives
// it for a scenario's functions.
func TestBenchFunctionFlags(t *testing.T) {
	got := testbed.FunctionFlags([]sim.Function{
		{Name: "figlet", Capacity: 200, Concurrency: 10, Timeout: sim.Duration(time.Second)},
		{Name: "ocr", Capacity: 40, Concurrency: 4, Timeout: sim.Duration(500 * time.Millisecond)},
	})
	var f functionsFlag
	for i := 1; i < len(got); i += 2 {
		if err := f.Set(got[i]); err != nil {
			t.Fatalf("dfaas faas rejects %q: %v", got[i], err)
		}
	}
}

func TestBenchFlagErrors(t *testing.T) {
	sc := twoNodes(t)
	dir := t.TempDir()
	k6 := filepath.Join(dir, "trace.json")
	os.WriteFile(k6, []byte(`{"0": {"node_c": [10, 20, 30]}}`), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--scenario FILE|NAME is required"},
		{[]string{"--scenario", sc, "--strategy", "nope"}, `--strategy "nope"`},
		{[]string{"--scenario", sc, "--proxy", "nginx"}, `--proxy "nginx"`},
		{[]string{"--scenario", sc, "--duration", "-1s"}, "--duration"},
		{[]string{"--scenario", sc, "--duration", "5x"}, `--duration "5x": want a duration such as 500ms, 5s or 1m`},
		{[]string{"--scenario", sc, "--netns", "maybe"}, `--netns "maybe"`},
		{[]string{"--scenario", sc, "--forecast", "crystal-ball"}, "--forecast"},
		{[]string{"--scenario", sc, "--trace-stage", "1s"}, "need --trace"},
		{[]string{"--scenario", sc, "--params", `{"utilisation": 0.9}`}, `--params: strategy "flow": parameters: json: unknown field "utilisation"`},
		{[]string{"--scenario", sc, "--strategy", "all", "--params", `{}`}, "--params needs a single --strategy"},
		{[]string{"--scenario", sc, "--period", "1ms"}, "--period"},
		{[]string{"--scenario", sc, "--trace-nodes", "x"}, "need --trace"},
		{[]string{"--scenario", sc, "--trace", k6, "--trace-nodes", "x"}, `--trace-nodes: "x" is not TRACE=SCENARIO`},
		{[]string{"--scenario", sc, "--trace", k6}, "--trace-stage is required"},
		{[]string{"--scenario", sc, "--trace", k6, "--trace-stage", "1s"}, `node "node_c" is not in the scenario`},
		{[]string{"--scenario", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{[]string{"--scenario", sc, "extra"}, "unexpected argument"},
		{[]string{"--scenario", sc, "--repeat", "0"}, "--repeat 0: want 1 to 100"},
		{[]string{"--scenario", sc, "--repeat", "101"}, "--repeat 101"},
		{[]string{"--scenario", sc, "--from", "1h"}, "--from 1h0m0s: the scenario lasts"},
		{[]string{"--scenario", sc, "--from", "10s", "--until", "5s"}, "not after --from"},
		{[]string{"--scenario", sc, "--until", "10s", "--duration", "5s"}, "give one"},
	}
	for _, tt := range tests {
		_, _, err := runMain(t, append([]string{"bench"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tt.args, err, tt.want)
		}
	}
}
