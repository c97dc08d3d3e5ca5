package cli

import (
	"flag"

	"github.com/dfaas-go/dfaas/internal/loadgen"
)

// traceFlags are the --trace flags dfaas bench and dfaas sim share: a
// trace that replaces a scenario's load (loadgen.ApplyTrace).
type traceFlags struct {
	opts             loadgen.TraceOptions
	nodes, functions string
}

func (f *traceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.opts.Path, "trace", "", "replace the scenario's load with a trace `FILE`: the original's k6 JSON {\"<function>\": {\"<node>\": [rates]}}, a CSV time,rate, or an Azure Functions 2019 invocations CSV (per-minute counts per function)")
	fs.DurationVar(&f.opts.Stage, "trace-stage", 0, "length of each rate of the trace (required for k6 traces; default for CSV: the spacing of its rows; for Azure: 1m, shorter compresses time)")
	fs.StringVar(&f.nodes, "trace-nodes", "", "map trace node names to scenario nodes: TRACE=NODE,...")
	fs.StringVar(&f.functions, "trace-functions", "", "map trace function names to scenario functions: TRACE=FUNCTION,...")
	fs.StringVar(&f.opts.To, "trace-to", "", "with a CSV trace: `NODE/FUNCTION` that receives its load; with an Azure trace: NODE/FUNCTION,... that receive its busiest functions, in order")
	fs.Float64Var(&f.opts.Scale, "trace-scale", 1, "multiply the trace's rates by this")
}

// options checks the flags and returns the trace options (Path "" for no
// trace).
func (f *traceFlags) options() (loadgen.TraceOptions, error) {
	o := f.opts
	if o.Path == "" && (o.Stage != 0 || f.nodes != "" || f.functions != "" || o.To != "") {
		return o, usageError{"--trace-stage, --trace-nodes, --trace-functions and --trace-to need --trace"}
	}
	var err error
	if o.Nodes, err = loadgen.ParseMap("--trace-nodes", f.nodes); err != nil {
		return o, err
	}
	o.Functions, err = loadgen.ParseMap("--trace-functions", f.functions)
	return o, err
}
