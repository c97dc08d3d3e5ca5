package simrun

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// TestScenarioSources: exactly one source, usage errors naming the flags
// otherwise; --save writes what is simulated.
func TestScenarioSources(t *testing.T) {
	save := filepath.Join(t.TempDir(), "saved.json")
	for _, tc := range []struct {
		name  string
		src   Source
		want  string
		usage bool
	}{
		{"none", Source{}, "--scenario FILE|NAME, --generate N, --azure DIR or --family N is required", true},
		{"two", Source{Path: "ring-partial", Generate: sim.GenerateConfig{Nodes: 3}}, "give one of --scenario, --generate, --azure and --family", true},
		{"unknown scenario", Source{Path: "no-such-scenario"}, "--scenario: ", false},
		{"bad generate", Source{Generate: sim.GenerateConfig{Nodes: 3, Degree: 9, Rate: 1, Duration: 1e9}}, "--generate: ", false},
		{"missing azure", Source{AzureDir: t.TempDir(), AzureTop: 3}, "--azure: ", false},
		{"built-in, saved", Source{Path: "ring-partial", Save: save}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := Scenario(tc.src)
			if tc.want == "" {
				if err != nil || sc == nil {
					t.Fatalf("Scenario: %v", err)
				}
				if _, err := os.Stat(tc.src.Save); err != nil {
					t.Errorf("--save: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || usage.Is(err) != tc.usage {
				t.Errorf("Scenario: %v, want %q (usage error: %v)", err, tc.want, tc.usage)
			}
		})
	}
}

// TestWarnUnserved names each function no node runs, once.
func TestWarnUnserved(t *testing.T) {
	sc, err := Scenario(Source{Path: "ring-partial"})
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	WarnUnserved(&w, sc)
	if w.Len() != 0 {
		t.Errorf("a scenario whose functions all run: %q", w.String())
	}
	sc.Load = append(sc.Load, sc.Load[0], sc.Load[0])
	sc.Load[len(sc.Load)-1].Function, sc.Load[len(sc.Load)-2].Function = "figlt", "figlt"
	WarnUnserved(&w, sc)
	if got := w.String(); strings.Count(got, "warning:") != 1 || !strings.Contains(got, `.function "figlt": no node runs it`) {
		t.Errorf("warnings: %q", got)
	}
}

// TestStrategyErrorsWarned: a strategy that fails every cycle is named
// with its first error; one that never fails is not.
func TestStrategyErrorsWarned(t *testing.T) {
	reg := strategy.Builtin()
	if err := reg.Register("broken", "fails", strategy.NewFactory(func() *broken { return &broken{} })); err != nil {
		t.Fatal(err)
	}
	cfgs, first, err := Configs(reg, []string{"broken", "alllocal"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := Scenario(Source{Path: "ring-partial"})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Evaluate(context.Background(), sc, cfgs, sim.EvalConfig{NoReferences: true, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	first.Warn(&w, rs)
	if got := w.String(); !strings.Contains(got, "warning: strategy broken:") || !strings.Contains(got, "the first: out of order") || strings.Contains(got, "alllocal") {
		t.Errorf("warnings: %q", got)
	}
	if _, _, err := Configs(reg, []string{"alllocal"}, "", "crystal-ball"); err == nil || !usage.Is(err) || !strings.HasPrefix(err.Error(), "--forecast: ") {
		t.Errorf("unknown forecaster: %v", err)
	}
	if _, err := Evaluate(context.Background(), sc, cfgs, sim.EvalConfig{Repeat: -1}); err == nil || !usage.Is(err) || !strings.HasPrefix(err.Error(), "--repeat: ") {
		t.Errorf("--repeat -1: %v", err)
	}
}

type broken struct{}

func (*broken) Decide(strategy.Snapshot) (strategy.Decision, error) {
	return strategy.Decision{}, errors.New("out of order")
}
