package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/strategy"
)

// stressStrategies are the built-in strategies the stress test runs: all
// but external, which needs a model.
func stressStrategies() []string {
	var names []string
	for _, n := range strategy.Builtin().Names() {
		if n != "external" {
			names = append(names, n)
		}
	}
	return names
}

// TestStressScenarios runs the built-in strategies (but external) and the
// clairvoyant controller on the stress scenarios of testdata/stress —
// federations of shapes the family generator does not make (lines,
// stars around a giant or tiny hub, clusters on one bridge, 100× the
// capacity, 24 functions, loads that flip, rotate or burst faster than
// the period; testdata/stress/README.md) — and compares every success
// rate, its ratio to the clairvoyant controller and the p99 latency with
// testdata/stress/results.golden (go test -update rewrites it; review the
// diff). The file records how each strategy generalises beyond the
// scenarios it was tuned on: a change to a strategy moves its lines. It
// also checks that every request is accounted for.
func TestStressScenarios(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("runs 20 scenarios with 5 strategies: not with -short or -race")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "stress", "*.json"))
	if err != nil || len(files) < 15 {
		t.Fatalf("stress scenarios: %d files, err %v", len(files), err)
	}
	names := stressStrategies()
	var b strings.Builder
	fmt.Fprintf(&b, "# scenario: oracle clairvoyant, then per strategy: success / of clairvoyant / p99 ms\n")
	fmt.Fprintf(&b, "# strategies: %s\n", strings.Join(names, " "))
	for _, f := range files {
		b.WriteString(stressLine(t, f, names))
	}
	golden.Check(t, filepath.Join("testdata", "stress", "results.golden"), []byte(b.String()))
}

// stressLine runs the strategies of names and the clairvoyant controller
// on the scenario in file and formats one line of results.
func stressLine(t *testing.T, file string, names []string) string {
	t.Helper()
	sc, err := LoadScenario(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSuffix(filepath.Base(file), ".json"); sc.Name != want {
		t.Errorf("%s: scenario named %q", file, sc.Name)
	}
	cl, err := Clairvoyant(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%s: %.4f %.4f", sc.Name, cl.OracleSuccessRate, cl.SuccessRate)
	for _, name := range names {
		r := run(t, sc, name) // checks offered = served + rejected + failed
		line += fmt.Sprintf(" | %s %.4f %.3f %.0f", name, r.SuccessRate, r.SuccessRate/cl.SuccessRate, r.Latency.P99)
	}
	return line + "\n"
}
