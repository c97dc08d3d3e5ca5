package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// TestSimTrace: dfaas sim replays a trace as a scenario's load, as dfaas
// bench does (the same flags), and --save writes the scenario as
// simulated, which gives the same result again.
func TestSimTrace(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "rates.csv")
	os.WriteFile(csv, []byte("time,rate\n0,100\n10,300\n20,50\n"), 0o644)
	k6 := filepath.Join(dir, "k6.json")
	os.WriteFile(k6, []byte(`{"0": {"node_c": [10, 20], "node_d": [5]}}`), 0o644)
	tests := []struct {
		name string
		args []string
		want []sim.Load
	}{
		{"csv", []string{"--trace", csv, "--trace-to", "light/figlet", "--trace-stage", "2s", "--trace-scale", "2"},
			[]sim.Load{{Node: "light", Function: "figlet", Step: sim.Duration(2 * time.Second), Rates: []float64{200, 600, 100}}}},
		{"k6", []string{"--trace", k6, "--trace-stage", "3s", "--trace-nodes", "node_c=light,node_d=mid", "--trace-functions", "0=figlet"},
			[]sim.Load{{Node: "light", Function: "figlet", Step: sim.Duration(3 * time.Second), Rates: []float64{10, 20}}, {Node: "mid", Function: "figlet", Rates: []float64{5}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := filepath.Join(dir, tt.name+".json")
			args := append([]string{"sim", "--scenario", "testbed-1-light-overload", "--json", "--references=false", "--save", saved}, tt.args...)
			out, _, err := runMain(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := sim.LoadScenario(saved)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(sc.Load, func(a, b sim.Load) int { return strings.Compare(a.Node, b.Node) })
			if len(sc.Load) != len(tt.want) {
				t.Fatalf("load %+v, want %+v", sc.Load, tt.want)
			}
			for i, l := range sc.Load {
				w := tt.want[i]
				if l.Node != w.Node || l.Function != w.Function || l.Step != w.Step || !slices.Equal(l.Rates, w.Rates) {
					t.Errorf("load[%d] %+v, want %+v", i, l, w)
				}
			}
			again, _, err := runMain(t, "sim", "--scenario", saved, "--json", "--references=false")
			if err != nil || again != out {
				t.Fatalf("the saved scenario gives another result (%v):\n%s\n%s", err, out, again)
			}
		})
	}
}

func TestSimTraceErrors(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "rates.csv")
	os.WriteFile(csv, []byte("time,rate\n0,100\n10,300\n"), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", testbed1, "--trace-to", "light/figlet"}, "need --trace"},
		{[]string{"--generate", "5", "--trace", csv, "--trace-to", "n0/f0"}, "--trace is for --scenario"},
		{[]string{"--family", "2", "--trace", csv, "--trace-to", "n0/f0"}, "--trace is for --scenario"},
		{[]string{"--scenario", testbed1, "--trace", csv}, `--trace-to "": want NODE/FUNCTION`},
		{[]string{"--scenario", testbed1, "--trace", csv, "--trace-to", "nowhere/figlet"}, `node "nowhere" is not in the scenario`},
		{[]string{"--scenario", testbed1, "--trace", csv, "--trace-to", "light/figlet", "--trace-nodes", "x"}, `--trace-nodes: "x" is not TRACE=SCENARIO`},
	}
	for _, tt := range tests {
		_, _, err := runMain(t, append([]string{"sim", "--references=false"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

// TestSimWarnsUnservedFunction: load for a function that no node runs (a
// misspelt name) is simulated, all rejected, and named on standard error.
func TestSimWarnsUnservedFunction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.json")
	os.WriteFile(path, []byte(`{"name": "typo", "duration": "20s", "nodes": [{"id": "a", "functions": [{"name": "figlet", "capacity": 10}]}],
		"load": [{"node": "a", "function": "figlet", "rates": [5]}, {"node": "a", "function": "figlt", "rates": [5]}, {"node": "a", "function": "figlt", "rates": [1]}]}`), 0o644)
	_, errOut, err := runMain(t, "sim", "--scenario", path, "--references=false")
	if err != nil {
		t.Fatal(err)
	}
	want := `warning: scenario typo: load[1].function "figlt": no node runs it, so all its requests are rejected` + "\n"
	if errOut != want {
		t.Errorf("standard error %q, want %q (once per function)", errOut, want)
	}
	if _, errOut, _ := runMain(t, "sim", "--scenario", testbed1, "--references=false"); errOut != "" {
		t.Errorf("a scenario whose functions all run somewhere: standard error %q", errOut)
	}
}

// TestSimWarnsStrategyErrors: a strategy that fails leaves the decision in
// force (every node serves locally), which its results alone do not tell
// from alllocal: dfaas sim says so after them, with the first error.
func TestSimWarnsStrategyErrors(t *testing.T) {
	reg := strategy.Builtin()
	fails := strategy.NewFactory(func() strategy.Func {
		return func(strategy.Snapshot) (strategy.Decision, error) {
			return strategy.Decision{}, errors.New("not written yet")
		}
	})
	if err := reg.Register("unfinished", "fails", fails); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"unfinished", "flow"} {
		var out, errb bytes.Buffer
		err := Run(context.Background(), []string{"sim", "--scenario", testbed1, "--strategy", name, "--references=false", "--parallel", "2"},
			strings.NewReader(""), &out, &errb, reg)
		if err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(errb.String(), "warning: strategy unfinished: in ") &&
			strings.HasSuffix(errb.String(), "control cycles it failed, panicked or decided something invalid, and the decision in force stayed (the first: not written yet)\n")
		if warned != (name == "unfinished") {
			t.Errorf("%s: standard error %q", name, errb.String())
		}
	}
}
