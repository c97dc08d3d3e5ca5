package loadgen

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy/sim"
	"github.com/dfaas-go/dfaas/strategy/sim/azure"
)

// Limits of trace files.
const (
	MaxTraceLen    = 64 << 20 // bytes
	MaxTraceStages = 1 << 20  // rates per stream
)

// ErrInvalidTrace is wrapped by every error about a trace file's content.
var ErrInvalidTrace = errors.New("invalid trace")

// TraceStream is the load of one function at one node, as a trace
// names them: one rate (req/s) per stage.
type TraceStream struct {
	Function, Node string
	Rates          []float64
}

// ParseK6Trace decodes the original prototype's k6 trace JSON,
// {"<function>": {"<node>": [rate per stage, ...]}}, into streams sorted
// by function and node.
func ParseK6Trace(b []byte) ([]TraceStream, error) {
	if len(b) > MaxTraceLen {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidTrace, MaxTraceLen)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var m map[string]map[string][]float64
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: want {\"<function>\": {\"<node>\": [rates]}}: %v", ErrInvalidTrace, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidTrace)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: want {\"<function>\": {\"<node>\": [rates]}}, got null", ErrInvalidTrace)
	}
	var out []TraceStream
	for fn, nodes := range m {
		if fn == "" {
			return nil, fmt.Errorf("%w: empty function key", ErrInvalidTrace)
		}
		if nodes == nil {
			return nil, fmt.Errorf("%w: function %q: want an object of nodes, got null", ErrInvalidTrace, fn)
		}
		for node, rates := range nodes {
			if node == "" {
				return nil, fmt.Errorf("%w: function %q: empty node key", ErrInvalidTrace, fn)
			}
			if err := checkRates(rates); err != nil {
				return nil, fmt.Errorf("%w: function %q, node %q: %v", ErrInvalidTrace, fn, node, err)
			}
			out = append(out, TraceStream{Function: fn, Node: node, Rates: rates})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no function with a node and rates", ErrInvalidTrace)
	}
	slices.SortFunc(out, func(a, b TraceStream) int {
		return strings.Compare(a.Function+"\x00"+a.Node, b.Function+"\x00"+b.Node)
	})
	return out, nil
}

func checkRates(rates []float64) error {
	if len(rates) == 0 {
		return errors.New("no rates")
	}
	if len(rates) > MaxTraceStages {
		return fmt.Errorf("%d rates, more than %d", len(rates), MaxTraceStages)
	}
	for i, r := range rates {
		if !(r >= 0 && r <= sim.MaxRate) {
			return fmt.Errorf("rate[%d] %v is not in [0, %v]", i, r, sim.MaxRate)
		}
	}
	return nil
}

// ParseCSVTrace decodes a rate trace in CSV (docs/scenarios.md, the form
// of forecast.ReadTrace too):
// a header, then time (seconds from the start, increasing, evenly spaced)
// and rate (req/s) per row. It returns the rates and the spacing.
func ParseCSVTrace(b []byte) ([]float64, time.Duration, error) {
	if len(b) > MaxTraceLen {
		return nil, 0, fmt.Errorf("%w: larger than %d bytes", ErrInvalidTrace, MaxTraceLen)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = 2
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: header: %v", ErrInvalidTrace, err)
	}
	if strings.TrimSpace(head[0]) != "time" || strings.TrimSpace(head[1]) != "rate" {
		return nil, 0, fmt.Errorf("%w: header %q, want \"time,rate\"", ErrInvalidTrace, strings.Join(head, ","))
	}
	var rates, times []float64
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrInvalidTrace, err)
		}
		t, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64)
		if err != nil || math.IsNaN(t) || math.IsInf(t, 0) || t < 0 {
			return nil, 0, fmt.Errorf("%w: line %d: time %q is not a non-negative number of seconds", ErrInvalidTrace, line, rec[0])
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil || !(v >= 0 && v <= sim.MaxRate) {
			return nil, 0, fmt.Errorf("%w: line %d: rate %q is not in [0, %v]", ErrInvalidTrace, line, rec[1], sim.MaxRate)
		}
		if len(times) > 0 && t <= times[len(times)-1] {
			return nil, 0, fmt.Errorf("%w: line %d: time %v does not increase", ErrInvalidTrace, line, t)
		}
		if len(rates) >= MaxTraceStages {
			return nil, 0, fmt.Errorf("%w: more than %d rows", ErrInvalidTrace, MaxTraceStages)
		}
		times = append(times, t)
		rates = append(rates, v)
	}
	if len(rates) == 0 {
		return nil, 0, fmt.Errorf("%w: no rows after the header", ErrInvalidTrace)
	}
	var step time.Duration
	if len(times) > 1 {
		s := times[1] - times[0]
		for i := 2; i < len(times); i++ {
			if d := times[i] - times[i-1]; math.Abs(d-s) > 1e-6*max(1, s) {
				return nil, 0, fmt.Errorf("%w: rows %d and %d are %v s apart, the first two %v s: want even spacing", ErrInvalidTrace, i+1, i+2, d, s)
			}
		}
		if s > sim.MaxDuration.Seconds() {
			return nil, 0, fmt.Errorf("%w: spacing %v s too long", ErrInvalidTrace, s)
		}
		step = time.Duration(s * float64(time.Second))
	}
	return rates, step, nil
}

// TraceOptions say how a trace becomes a scenario's load.
type TraceOptions struct {
	Path      string            // [--trace] a .json (k6), .csv (time,rate) or Azure Functions invocations .csv file
	Stage     time.Duration     // [--trace-stage] length of each rate's stage (required for k6 traces)
	Nodes     map[string]string // [--trace-nodes] trace node → scenario node (identity if absent)
	Functions map[string]string // [--trace-functions] trace function → scenario function
	To        string            // [--trace-to] CSV traces: NODE/FUNCTION that receives the load; Azure traces: NODE/FUNCTION,... for its busiest functions
	Scale     float64           // [--trace-scale] rates are multiplied by it (0: 1)
}

// ApplyTrace replaces the load of sc with the trace: one load entry per
// trace stream, each rate lasting one stage. The run lasts as long as the
// longest stream. The scenario is validated again.
func ApplyTrace(sc *sim.Scenario, o TraceOptions) error {
	streams, stage, err := readTrace(o)
	if err != nil {
		return err
	}
	scale := o.Scale
	if scale == 0 {
		scale = 1
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return usage.Errorf("--trace-scale %v: want a positive number", o.Scale)
	}
	known := map[string]bool{}
	for _, n := range sc.Nodes {
		known[n.ID] = true
	}
	var load []sim.Load
	longest := 0
	for _, s := range streams {
		node := s.Node
		if m, ok := o.Nodes[node]; ok {
			node = m
		}
		if !known[node] {
			return fmt.Errorf("--trace %s: node %q is not in the scenario (map trace nodes with --trace-nodes TRACE=NODE,...)", o.Path, node)
		}
		fn := s.Function
		if m, ok := o.Functions[fn]; ok {
			fn = m
		}
		rates := make([]float64, len(s.Rates))
		for i, r := range s.Rates {
			rates[i] = min(r*scale, sim.MaxRate)
		}
		l := sim.Load{Node: node, Function: fn, Rates: rates}
		if len(rates) > 1 {
			l.Step = sim.Duration(stage)
		}
		load = append(load, l)
		longest = max(longest, len(rates))
	}
	d := time.Duration(longest) * stage
	if d > sim.MaxDuration || d <= 0 {
		return fmt.Errorf("--trace %s: %d stages of %v make a run of %v, not in (0, %v]", o.Path, longest, stage, d, sim.MaxDuration)
	}
	sc.Load, sc.Duration = load, sim.Duration(d)
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("--trace %s: %w", o.Path, err)
	}
	return nil
}

// readTrace reads the trace file of o and returns its streams and the
// length of a stage.
func readTrace(o TraceOptions) ([]TraceStream, time.Duration, error) {
	ext := strings.ToLower(filepath.Ext(o.Path))
	if ext != ".json" && ext != ".csv" {
		return nil, 0, usage.Errorf("--trace %q: want a .json (k6) or .csv trace", o.Path)
	}
	b, err := os.ReadFile(o.Path)
	if err != nil {
		return nil, 0, fmt.Errorf("--trace: %w", err)
	}
	stage := o.Stage
	if ext == ".json" {
		if o.To != "" {
			return nil, 0, usage.Errorf("--trace-to is for CSV traces; a k6 trace names its functions and nodes")
		}
		streams, err := ParseK6Trace(b)
		if err != nil {
			return nil, 0, fmt.Errorf("--trace %s: %w", o.Path, err)
		}
		if stage <= 0 {
			return nil, 0, usage.Errorf("--trace-stage is required with a k6 trace (the original's stage builders used 60s, 120s or 180s)")
		}
		return streams, stage, nil
	}
	if IsAzureTrace(b) {
		return readAzure(o, b)
	}
	node, fn, ok := strings.Cut(o.To, "/")
	if !ok || node == "" || fn == "" {
		return nil, 0, usage.Errorf("--trace-to %q: want NODE/FUNCTION, the node and function that receive a CSV trace's load", o.To)
	}
	rates, step, err := ParseCSVTrace(b)
	if err != nil {
		return nil, 0, fmt.Errorf("--trace %s: %w", o.Path, err)
	}
	if stage <= 0 {
		stage = step
	}
	if stage <= 0 {
		return nil, 0, usage.Errorf("--trace-stage is required: the trace has a single row")
	}
	return []TraceStream{{Function: fn, Node: node, Rates: rates}}, stage, nil
}

// ParseMap parses "a=b,c=d" into a map, naming flag in errors.
func ParseMap(flag, s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, usage.Errorf("%s: %q is not TRACE=SCENARIO", flag, kv)
		}
		if _, dup := m[k]; dup {
			return nil, usage.Errorf("%s: %q mapped twice", flag, k)
		}
		m[k] = v
	}
	return m, nil
}

// readAzure returns the streams of an Azure Functions trace that o's
// --trace-to targets receive, and the stage: a minute, or --trace-stage to
// compress time.
func readAzure(o TraceOptions, b []byte) ([]TraceStream, time.Duration, error) {
	all, err := ParseAzureTrace(b, max(1, min(azure.MaxFunctions, strings.Count(o.To, ",")+1)))
	if err != nil {
		return nil, 0, fmt.Errorf("--trace %s: %w", o.Path, err)
	}
	streams, err := azureTargets(all, o.To)
	if err != nil {
		return nil, 0, err
	}
	return streams, cmp.Or(o.Stage, AzureMinute), nil
}
