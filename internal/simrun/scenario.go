package simrun

import (
	"fmt"
	"io"
	"strings"

	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy/sim"
	"github.com/dfaas-go/dfaas/strategy/sim/azure"
)

// Source says where the scenario comes from: exactly one of Path,
// Generate.Nodes > 0 and AzureDir (the flags --scenario, --generate and
// --azure).
type Source struct {
	// Path is a scenario file or a built-in scenario's name; Trace, if
	// its Path is set, replaces its load (--trace and its flags).
	Path  string
	Trace loadgen.TraceOptions
	// Generate configures a generated scenario (--generate N).
	Generate sim.GenerateConfig
	// AzureDir holds the Azure Functions 2019 trace; AzureTop is how many
	// of its busiest functions to take, Azure how to build the scenario.
	AzureDir string
	AzureTop int
	Azure    azure.Config
	// Save, if set, is the file the scenario is written to as simulated
	// (--save).
	Save string
}

// Scenario returns the scenario src names, written to src.Save if set.
func Scenario(src Source) (*sim.Scenario, error) {
	given := 0
	for _, set := range []bool{src.Path != "", src.Generate.Nodes > 0, src.AzureDir != ""} {
		if set {
			given++
		}
	}
	switch {
	case given > 1:
		return nil, usage.Errorf("give one of --scenario, --generate, --azure and --family")
	case given == 0:
		return nil, usage.Errorf("--scenario FILE|NAME, --generate N, --azure DIR or --family N is required")
	}
	sc, err := build(src)
	if err != nil {
		return nil, err
	}
	if src.Save != "" {
		if err := sc.Save(src.Save); err != nil {
			return nil, fmt.Errorf("--save: %w", err)
		}
	}
	return sc, nil
}

// build builds the one scenario src names.
func build(src Source) (*sim.Scenario, error) {
	switch {
	case src.Path != "":
		sc, err := sim.OpenScenario(src.Path)
		if err != nil {
			return nil, fmt.Errorf("--scenario: %w", err)
		}
		if src.Trace.Path != "" {
			err = loadgen.ApplyTrace(sc, src.Trace)
		}
		return sc, err
	case src.AzureDir != "":
		return azureScenario(src)
	}
	sc, err := sim.Generate(src.Generate)
	if err != nil {
		return nil, fmt.Errorf("--generate: %w", err)
	}
	return sc, nil
}

// azureScenario reads the trace of --azure and builds its scenario.
func azureScenario(src Source) (*sim.Scenario, error) {
	tr, err := azure.ReadDir(src.AzureDir, max(1, min(src.AzureTop, azure.MaxFunctions)))
	if err != nil {
		return nil, fmt.Errorf("--azure: %w", err)
	}
	if src.AzureTop < 1 || src.AzureTop > azure.MaxFunctions {
		return nil, usage.Errorf("--azure-functions: %d is not in [1, %d]", src.AzureTop, azure.MaxFunctions)
	}
	sc, err := tr.Scenario(src.Azure)
	if err != nil {
		for field, flag := range map[string]string{"Nodes": "nodes", "Replicas": "replicas", "Level": "level", "From": "from", "Minutes": "minutes", "Compress": "compress"} {
			if strings.HasPrefix(err.Error(), "azure: "+field+":") {
				return nil, usage.Errorf("--azure-%s: %v", flag, err)
			}
		}
		return nil, fmt.Errorf("--azure: %w", err)
	}
	return sc, nil
}

// WarnUnserved writes a warning for each function that the scenario loads
// but no node runs (a misspelt name, most often): all its requests are
// rejected, which the results would show without saying why.
func WarnUnserved(w io.Writer, sc *sim.Scenario) {
	runs := map[string]bool{}
	for _, n := range sc.Nodes {
		for _, f := range n.Functions {
			runs[f.Name] = true
		}
	}
	for i, l := range sc.Load {
		if !runs[l.Function] {
			runs[l.Function] = true // once per function
			fmt.Fprintf(w, "warning: scenario %s: load[%d].function %q: no node runs it, so all its requests are rejected\n", sc.Name, i, l.Function)
		}
	}
}
