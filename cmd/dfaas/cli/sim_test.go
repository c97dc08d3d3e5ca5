package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

const testbed1 = "../../../strategy/sim/testdata/testbed-1-light-overload.json"

func TestSimTable(t *testing.T) {
	out, _, err := runMain(t, "sim", "--scenario", testbed1, "--strategy", "all", "--nodes")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"testbed-1-light-overload", "oracle success rate 100.00%", "alllocal", "flow", "nodemargin", "recalc", "static",
		"req/s wall", "strategy flow (sim)", "  light "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "external") {
		t.Errorf("all includes external, which needs a model:\n%s", out)
	}
}

// TestSimBuiltinScenario: a shipped scenario is found by name, from any
// directory, and gives the same result as its file; the default strategy
// is flow.
func TestSimBuiltinScenario(t *testing.T) {
	byName, _, err := runMain(t, "sim", "--scenario", "testbed-1-light-overload", "--json")
	if err != nil {
		t.Fatal(err)
	}
	byFile, _, err := runMain(t, "sim", "--scenario", testbed1, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if byName != byFile || strings.Count(byName, "\n") != 1 || !strings.Contains(byName, `"strategy":"flow"`) {
		t.Fatalf("by name:\n%s\nby file:\n%s", byName, byFile)
	}
	_, _, err = runMain(t, "sim", "--scenario", "testbed-9")
	if err == nil || !strings.Contains(err.Error(), `--scenario: "testbed-9": neither a file`) || !strings.Contains(err.Error(), "testbed-1-light-overload") {
		t.Fatalf("unknown scenario: %v", err)
	}
}

func TestSimJSON(t *testing.T) {
	out, _, err := runMain(t, "sim", "--scenario", testbed1, "--strategy", "flow", "--json")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	var n int
	for sc.Scan() {
		var r sim.Result
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r.Scenario != "testbed-1-light-overload" || r.Strategy != "flow" || r.Mode != "sim" || r.Offered == 0 ||
			r.Offered != r.Served+r.Rejected+r.Failed || r.OracleSuccessRate != 1 || len(r.Nodes) != 3 {
			t.Fatalf("result %+v", r)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d lines, want 1", n)
	}
	// The README's field names.
	for _, f := range []string{`"success_rate"`, `"oracle_success_rate"`, `"latency_ms"`, `"p99"`, `"nodes"`, `"forwarded"`} {
		if !strings.Contains(out, f) {
			t.Errorf("output lacks %s", f)
		}
	}
}

func TestSimGenerateAndSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.json")
	out1, _, err := runMain(t, "sim", "--generate", "20", "--duration", "20s", "--strategy", "flow", "--json", "--save", path)
	if err != nil {
		t.Fatal(err)
	}
	out2, _, err := runMain(t, "sim", "--scenario", path, "--strategy", "flow", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if out1 != out2 {
		t.Fatalf("the saved scenario gives another result:\n%s\n%s", out1, out2)
	}
}

func TestSimErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"name": "x", "duration": "10s", "nodes": [{"id": "a", "functions": [{"name": "f", "capacity": -1}]}], "load": []}`), 0o644)
	if _, _, err := runMain(t, "sim", "--scenario", bad); err == nil || !strings.Contains(err.Error(), "--scenario: scenario "+bad+": invalid scenario: nodes[0].functions[0].capacity") {
		t.Errorf("invalid scenario: %v, want an error naming the field", err)
	}
	typo := filepath.Join(t.TempDir(), "typo.json")
	os.WriteFile(typo, []byte(`{"name": "x", "duration": "10s", "nodes": [{"id": "a", "functions": [{"name": "f", "capacity": 1}]}], "load": [{"node": "a", "function": "f", "rate": [1]}]}`), 0o644)
	if _, _, err := runMain(t, "sim", "--scenario", typo); err == nil || !strings.Contains(err.Error(), `load[0]: unknown field "rate"`) {
		t.Errorf("unknown field: %v, want an error naming the element", err)
	}
	for _, args := range [][]string{
		{"sim"},
		{"sim", "--scenario", testbed1, "--strategy", "nope"},
		{"sim", "--scenario", testbed1, "--strategy", "all", "--params", `{"x": 1}`},
		{"sim", "--scenario", testbed1, "--strategy", "flow", "--params", `{"utilization": 3}`},
		{"sim", "--scenario", testbed1, "--generate", "10"},
		{"sim", "--scenario", testbed1, "extra"},
		// A flag of another mode would be ignored.
		{"sim", "--scenario", testbed1, "--seed", "3"},
		{"sim", "--scenario", testbed1, "--duration", "10s"},
		{"sim", "--scenario", testbed1, "--azure-nodes", "3"},
		{"sim", "--generate", "5", "--family-seed", "2"},
		{"sim", "--family", "2", "--rate", "50"},
	} {
		if _, _, err := runMain(t, args...); !isUsage(err) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	if _, _, err := runMain(t, "sim", "--scenario", testbed1, "--seed", "3"); err == nil || !strings.Contains(err.Error(), `--seed is for --generate (a scenario's seed is its "seed" field; --repeat K runs K seeds)`) {
		t.Errorf("--seed with --scenario: %v", err)
	}
	if _, _, err := runMain(t, "sim", "--generate", "5", "--degree", "3"); err == nil || !strings.Contains(err.Error(), "even") {
		t.Errorf("odd generated graph: %v", err)
	}
}

// TestSimQueueDepth checks --queue-depth: 0 lifts the cap (the excess times
// out in the queues: failed, not rejected), a depth caps the queues (the
// excess is refused at once), and a bad value is a usage error naming it.
func TestSimQueueDepth(t *testing.T) {
	result := func(depth string) sim.Result {
		t.Helper()
		out, _, err := runMain(t, "sim", "--scenario", "overload-uniform", "--references=false", "--json", "--queue-depth", depth)
		if err != nil {
			t.Fatal(err)
		}
		var r sim.Result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	none, capped := result("0"), result("1")
	if none.Failed == 0 || capped.Failed != 0 || capped.Latency.P99 >= none.Latency.P99 {
		t.Errorf("--queue-depth 0: failed %d, p99 %v ms; --queue-depth 1: failed %d, p99 %v ms: want time-outs only without the cap, and a lower p99 with it",
			none.Failed, none.Latency.P99, capped.Failed, capped.Latency.P99)
	}
	for _, bad := range []string{"-1", "x", "+Inf"} {
		if _, _, err := runMain(t, "sim", "--scenario", "overload-uniform", "--queue-depth", bad); !isUsage(err) || !strings.Contains(err.Error(), "--queue-depth") {
			t.Errorf("--queue-depth %s: %v, want a usage error naming the flag", bad, err)
		}
	}
}
