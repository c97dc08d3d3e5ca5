package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

const simScenario = "../../../strategy/sim/testdata/testbed-1-light-overload.json"

func TestSimTable(t *testing.T) {
	out, _, err := runMain(t, "sim", "--scenario", simScenario)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"testbed-1-light-overload", "oracle success rate 100.00%", "alllocal", "flow", "nodemargin", "recalc", "static"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "external") {
		t.Errorf("all includes external, which needs a model:\n%s", out)
	}
}

func TestSimJSON(t *testing.T) {
	out, _, err := runMain(t, "sim", "--scenario", simScenario, "--strategy", "flow", "--json")
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
	if _, _, err := runMain(t, "sim", "--scenario", bad); err == nil || !strings.Contains(err.Error(), "nodes[0].functions[0].capacity") {
		t.Errorf("invalid scenario: %v, want an error naming the field", err)
	}
	for _, args := range [][]string{
		{"sim"},
		{"sim", "--scenario", simScenario, "--strategy", "nope"},
		{"sim", "--scenario", simScenario, "--params", `{"x": 1}`},
		{"sim", "--scenario", simScenario, "--strategy", "flow", "--params", `{"utilization": 3}`},
		{"sim", "--scenario", simScenario, "--generate", "10"},
		{"sim", "--scenario", simScenario, "extra"},
	} {
		if _, _, err := runMain(t, args...); !errors.As(err, new(usageError)) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	if _, _, err := runMain(t, "sim", "--generate", "5", "--degree", "3"); err == nil || !strings.Contains(err.Error(), "even") {
		t.Errorf("odd generated graph: %v", err)
	}
}
