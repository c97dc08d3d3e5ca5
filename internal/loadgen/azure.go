package loadgen

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy/sim"
	"github.com/dfaas-go/dfaas/strategy/sim/azure"
)

// AzureMinute is the length of a stage of an Azure Functions trace: each
// of its counts is the invocations of one minute.
const AzureMinute = time.Minute

// IsAzureTrace reports whether a CSV file's first line is the header of an
// Azure Functions 2019 invocations file (it has a HashFunction column).
func IsAzureTrace(b []byte) bool {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	for _, f := range strings.Split(string(line), ",") {
		if strings.TrimSpace(f) == "HashFunction" {
			return true
		}
	}
	return false
}

// ParseAzureTrace decodes the invocations file of the Azure Functions 2019
// trace (Shahrad et al., "Serverless in the Wild", USENIX ATC 2020), in
// its published or sampled column order, with the simulator's reader
// (strategy/sim/azure). It returns the top busiest functions (1 to
// azure.MaxFunctions), busiest first, one stream each, named by its
// function hash with no node, with rates in req/s (count/60).
func ParseAzureTrace(b []byte, top int) ([]TraceStream, error) {
	if len(b) > MaxTraceLen {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidTrace, MaxTraceLen)
	}
	tr, err := azure.ReadInvocations(bytes.NewReader(b), top)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTrace, err)
	}
	if len(tr.Functions[0].Counts) > MaxTraceStages {
		return nil, fmt.Errorf("%w: %d minutes, more than %d stages", ErrInvalidTrace, len(tr.Functions[0].Counts), MaxTraceStages)
	}
	out := make([]TraceStream, len(tr.Functions))
	for i, f := range tr.Functions {
		s := TraceStream{Function: f.Hash, Rates: make([]float64, len(f.Counts))}
		for k, c := range f.Counts {
			if s.Rates[k] = c / 60; s.Rates[k] > sim.MaxRate {
				return nil, fmt.Errorf("%w: function %.12s, minute %d: %v invocations, above %v req/s", ErrInvalidTrace, f.Hash, k+1, c, sim.MaxRate)
			}
		}
		out[i] = s
	}
	return out, nil
}

// azureTargets assigns the busiest functions of an Azure trace to the
// NODE/FUNCTION targets of --trace-to (comma-separated), in order.
func azureTargets(streams []TraceStream, to string) ([]TraceStream, error) {
	if strings.TrimSpace(to) == "" {
		return nil, usage.Errorf("--trace-to is required with an Azure Functions trace: NODE/FUNCTION,... receive its busiest functions, in order")
	}
	targets := strings.Split(to, ",")
	if len(targets) > len(streams) {
		return nil, usage.Errorf("--trace-to: %d targets, the trace has %d functions", len(targets), len(streams))
	}
	out := make([]TraceStream, len(targets))
	for i, t := range targets {
		node, fn, ok := strings.Cut(strings.TrimSpace(t), "/")
		if !ok || node == "" || fn == "" {
			return nil, usage.Errorf("--trace-to %q: want NODE/FUNCTION,...", t)
		}
		out[i] = TraceStream{Function: fn, Node: node, Rates: streams[i].Rates}
	}
	return out, nil
}
