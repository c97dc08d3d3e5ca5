package sim_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Mine stands for a strategy of your own in fromGo.
type Mine struct{ strategy.AllLocal }

func newMine() *Mine { return &Mine{} }

// fromGo is docs/scenarios.md's "From Go" snippet, verbatim (indented
// once), so that it compiles: Example_fromGo builds it, and
// TestScenariosDocQuotesFromGo keeps the two alike.
func fromGo(ctx context.Context) error {
	sc, err := sim.OpenScenario("my.json") // a file, or a shipped scenario's name ("ring-partial"; sim.BuiltinScenarios())
	if err != nil {
		return err // names the element at fault: "invalid scenario: load[0].step: ..."
	}
	reg := strategy.Builtin()
	reg.Register("mine", "what it does", strategy.NewFactory(newMine)) // newMine returns *Mine with its defaults
	var cfgs []sim.Config
	for _, name := range []string{"mine", "flow", "alllocal"} {
		f, _ := reg.Factory(name)
		cfgs = append(cfgs, sim.Config{Strategy: name, Factory: f})
	}
	results, err := sim.Evaluate(ctx, sc, cfgs, sim.EvalConfig{}) // sim.Run(ctx, sc, cfg) for one, without references
	if err != nil {
		return err
	}
	sim.WriteComparison(os.Stdout, results, nil) // one row per strategy
	results[0].WriteTable(os.Stdout)             // per node and total
	sc.Save("as-run.json")                       // indented JSON; sim.Generate makes random federations
	return nil
}

// Compiled, not run: the snippet reads my.json and writes as-run.json.
func Example_fromGo() {
	_ = fromGo(context.Background())
}

func TestScenariosDocQuotesFromGo(t *testing.T) {
	doc, err := os.ReadFile("../../docs/scenarios.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "## From Go\n\n```go\n")
	snippet, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 {
		t.Fatal("docs/scenarios.md has no Go block under \"## From Go\"")
	}
	src, err := os.ReadFile("example_fromgo_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var indented strings.Builder
	for _, l := range strings.SplitAfter(snippet, "\n") {
		if strings.TrimSpace(l) != "" {
			indented.WriteString("\t")
		}
		indented.WriteString(l)
	}
	if !strings.Contains(string(src), "{\n"+indented.String()+"\treturn nil\n}") {
		t.Errorf("docs/scenarios.md's From Go snippet is not fromGo's body:\n%s", snippet)
	}
}
