package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// TestSimReferences: every JSON result carries the clairvoyant and
// perfect-forecast figures beside the oracle's and the decomposition; the
// table adds the decomposition; --references=false leaves them out.
func TestSimReferences(t *testing.T) {
	out, _, err := runMain(t, "sim", "--scenario", testbed1, "--strategy", "flow", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"oracle_success_rate", "clairvoyant_success_rate", "perfect_forecast_success_rate", "gap"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	table, _, err := runMain(t, "sim", "--scenario", testbed1, "--strategy", "flow")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"clairvoyant 100.00%", "granularity+queueing", "coordination"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	plain, _, err := runMain(t, "sim", "--scenario", testbed1, "--strategy", "flow", "--json", "--references=false")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain, "clairvoyant") {
		t.Errorf("--references=false still has references: %s", plain)
	}
}

// TestSimRepeat: --repeat K reports K runs' mean with an interval around
// it, in JSON and in the table.
func TestSimRepeat(t *testing.T) {
	out, _, err := runMain(t, "sim", "--scenario", "ring-partial", "--strategy", "flow", "--repeat", "3", "--references=false", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r sim.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Repeats != 3 || !(r.SuccessRateCI95[0] <= r.SuccessRate && r.SuccessRate <= r.SuccessRateCI95[1]) || r.SuccessRateCI95[0] == 0 {
		t.Fatalf("repeats %d, success %v, interval %v", r.Repeats, r.SuccessRate, r.SuccessRateCI95)
	}
	if _, _, err := runMain(t, "sim", "--scenario", testbed1, "--repeat", "-2"); !isUsage(err) || !strings.Contains(err.Error(), "--repeat") {
		t.Errorf("--repeat -2: %v, want a usage error naming the flag", err)
	}
}

// TestSimFamily: --family N runs N generated federations and prints the
// distribution; the JSON report holds every result.
func TestSimFamily(t *testing.T) {
	out, _, err := runMain(t, "sim", "--family", "2", "--family-seed", "5", "--strategy", "alllocal", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep sim.FamilyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Size != 2 || rep.Seed != 5 || len(rep.Results) != 2 || len(rep.Strategies) != 1 || rep.Strategies[0].OfClairvoyant.N != 2 {
		t.Fatalf("report: size %d, seed %d, %d results, %+v", rep.Size, rep.Seed, len(rep.Results), rep.Strategies)
	}
	table, _, err := runMain(t, "sim", "--family", "2", "--family-seed", "5", "--strategy", "alllocal", "--references=false")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "family of 2 scenarios (seed 5)") || !strings.Contains(table, "success / oracle") {
		t.Errorf("table:\n%s", table)
	}
	for _, args := range [][]string{
		{"sim", "--family", "-1"},
		{"sim", "--family", "2", "--scenario", testbed1},
	} {
		if _, _, err := runMain(t, args...); !isUsage(err) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}

// TestSimAzure: --azure builds a scenario from the shipped trace rows,
// saves it, and the saved file gives the same result.
func TestSimAzure(t *testing.T) {
	dir := "../../../strategy/sim/azure/testdata/sample"
	path := filepath.Join(t.TempDir(), "azure.json")
	args := []string{"sim", "--azure", dir, "--azure-functions", "4", "--azure-minutes", "60", "--strategy", "flow", "--references=false", "--json"}
	out1, _, err := runMain(t, append(args, "--save", path)...)
	if err != nil {
		t.Fatal(err)
	}
	var r sim.Result
	if err := json.Unmarshal([]byte(out1), &r); err != nil {
		t.Fatal(err)
	}
	if r.Scenario != "azure" || r.Offered == 0 {
		t.Fatalf("result %+v", r)
	}
	out2, _, err := runMain(t, "sim", "--scenario", path, "--strategy", "flow", "--references=false", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if out1 != out2 {
		t.Fatalf("the saved scenario gives another result:\n%s\n%s", out1, out2)
	}
	if _, _, err := runMain(t, "sim", "--azure", t.TempDir()); err == nil || !strings.Contains(err.Error(), "--azure") {
		t.Errorf("empty directory: %v, want an error naming --azure", err)
	}
	if _, _, err := runMain(t, "sim", "--azure", dir, "--azure-nodes", "2", "--azure-replicas", "3"); !isUsage(err) || !strings.Contains(err.Error(), "--azure-replicas") {
		t.Errorf("3 replicas on 2 nodes: %v, want a usage error naming --azure-replicas", err)
	}
}
