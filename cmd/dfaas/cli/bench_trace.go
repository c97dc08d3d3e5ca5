package cli

import (
	"bytes"
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

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Limits of trace files.
const (
	benchMaxTraceLen    = 64 << 20 // bytes
	benchMaxTraceStages = 1 << 20  // rates per stream
)

// errBenchTrace is wrapped by every error about a trace file's content.
var errBenchTrace = errors.New("invalid trace")

// benchTraceStream is the load of one function at one node, as a trace
// names them: one rate (req/s) per stage.
type benchTraceStream struct {
	function, node string
	rates          []float64
}

// parseK6Trace decodes the original prototype's k6 trace JSON,
// {"<function>": {"<node>": [rate per stage, ...]}}, into streams sorted
// by function and node.
func parseK6Trace(b []byte) ([]benchTraceStream, error) {
	if len(b) > benchMaxTraceLen {
		return nil, fmt.Errorf("%w: larger than %d bytes", errBenchTrace, benchMaxTraceLen)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var m map[string]map[string][]float64
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: want {\"<function>\": {\"<node>\": [rates]}}: %v", errBenchTrace, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", errBenchTrace)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: want {\"<function>\": {\"<node>\": [rates]}}, got null", errBenchTrace)
	}
	var out []benchTraceStream
	for fn, nodes := range m {
		if fn == "" {
			return nil, fmt.Errorf("%w: empty function key", errBenchTrace)
		}
		if nodes == nil {
			return nil, fmt.Errorf("%w: function %q: want an object of nodes, got null", errBenchTrace, fn)
		}
		for node, rates := range nodes {
			if node == "" {
				return nil, fmt.Errorf("%w: function %q: empty node key", errBenchTrace, fn)
			}
			if err := benchCheckRates(rates); err != nil {
				return nil, fmt.Errorf("%w: function %q, node %q: %v", errBenchTrace, fn, node, err)
			}
			out = append(out, benchTraceStream{function: fn, node: node, rates: rates})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no function with a node and rates", errBenchTrace)
	}
	slices.SortFunc(out, func(a, b benchTraceStream) int {
		return strings.Compare(a.function+"\x00"+a.node, b.function+"\x00"+b.node)
	})
	return out, nil
}

func benchCheckRates(rates []float64) error {
	if len(rates) == 0 {
		return errors.New("no rates")
	}
	if len(rates) > benchMaxTraceStages {
		return fmt.Errorf("%d rates, more than %d", len(rates), benchMaxTraceStages)
	}
	for i, r := range rates {
		if !(r >= 0 && r <= sim.MaxRate) {
			return fmt.Errorf("rate[%d] %v is not in [0, %v]", i, r, sim.MaxRate)
		}
	}
	return nil
}

// parseCSVTrace decodes a rate trace in the CSV form of the shared traces:
// a header, then time (seconds from the start, increasing, evenly spaced)
// and rate (req/s) per row. It returns the rates and the spacing.
func parseCSVTrace(b []byte) ([]float64, time.Duration, error) {
	if len(b) > benchMaxTraceLen {
		return nil, 0, fmt.Errorf("%w: larger than %d bytes", errBenchTrace, benchMaxTraceLen)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = 2
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: header: %v", errBenchTrace, err)
	}
	if strings.TrimSpace(head[0]) != "time" || strings.TrimSpace(head[1]) != "rate" {
		return nil, 0, fmt.Errorf("%w: header %q, want \"time,rate\"", errBenchTrace, strings.Join(head, ","))
	}
	var rates, times []float64
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", errBenchTrace, err)
		}
		t, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64)
		if err != nil || math.IsNaN(t) || math.IsInf(t, 0) || t < 0 {
			return nil, 0, fmt.Errorf("%w: line %d: time %q is not a non-negative number of seconds", errBenchTrace, line, rec[0])
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil || !(v >= 0 && v <= sim.MaxRate) {
			return nil, 0, fmt.Errorf("%w: line %d: rate %q is not in [0, %v]", errBenchTrace, line, rec[1], sim.MaxRate)
		}
		if len(times) > 0 && t <= times[len(times)-1] {
			return nil, 0, fmt.Errorf("%w: line %d: time %v does not increase", errBenchTrace, line, t)
		}
		if len(rates) >= benchMaxTraceStages {
			return nil, 0, fmt.Errorf("%w: more than %d rows", errBenchTrace, benchMaxTraceStages)
		}
		times = append(times, t)
		rates = append(rates, v)
	}
	if len(rates) == 0 {
		return nil, 0, fmt.Errorf("%w: no rows after the header", errBenchTrace)
	}
	var step time.Duration
	if len(times) > 1 {
		s := times[1] - times[0]
		for i := 2; i < len(times); i++ {
			if d := times[i] - times[i-1]; math.Abs(d-s) > 1e-6*max(1, s) {
				return nil, 0, fmt.Errorf("%w: rows %d and %d are %v s apart, the first two %v s: want even spacing", errBenchTrace, i+1, i+2, d, s)
			}
		}
		if s > sim.MaxDuration.Seconds() {
			return nil, 0, fmt.Errorf("%w: spacing %v s too long", errBenchTrace, s)
		}
		step = time.Duration(s * float64(time.Second))
	}
	return rates, step, nil
}

// benchTraceOptions say how a trace becomes a scenario's load.
type benchTraceOptions struct {
	path  string
	stage time.Duration     // length of each rate's stage (required for k6 traces)
	nodes map[string]string // trace node → scenario node (identity if absent)
	funcs map[string]string // trace function → scenario function
	to    string            // CSV traces: NODE/FUNCTION that receives the load
	scale float64           // rates are multiplied by it
}

// applyTrace replaces the load of sc with the trace: one load entry per
// trace stream, each rate lasting one stage. The run lasts as long as the
// longest stream. The scenario is validated again.
func applyTrace(sc *sim.Scenario, o benchTraceOptions) error {
	ext := strings.ToLower(filepath.Ext(o.path))
	if ext != ".json" && ext != ".csv" {
		return usageError{fmt.Sprintf("--trace %q: want a .json (k6) or .csv trace", o.path)}
	}
	b, err := os.ReadFile(o.path)
	if err != nil {
		return fmt.Errorf("--trace: %w", err)
	}
	var streams []benchTraceStream
	stage := o.stage
	switch ext {
	case ".json":
		if o.to != "" {
			return usageError{"--trace-to is for CSV traces; a k6 trace names its functions and nodes"}
		}
		if streams, err = parseK6Trace(b); err != nil {
			return fmt.Errorf("--trace %s: %w", o.path, err)
		}
		if stage <= 0 {
			return usageError{"--trace-stage is required with a k6 trace (the original's stage builders used 60s, 120s or 180s)"}
		}
	case ".csv":
		node, fn, ok := strings.Cut(o.to, "/")
		if !ok || node == "" || fn == "" {
			return usageError{fmt.Sprintf("--trace-to %q: want NODE/FUNCTION, the node and function that receive a CSV trace's load", o.to)}
		}
		rates, step, err := parseCSVTrace(b)
		if err != nil {
			return fmt.Errorf("--trace %s: %w", o.path, err)
		}
		if stage <= 0 {
			stage = step
		}
		if stage <= 0 {
			return usageError{"--trace-stage is required: the trace has a single row"}
		}
		streams = []benchTraceStream{{function: fn, node: node, rates: rates}}
	}
	scale := o.scale
	if scale == 0 {
		scale = 1
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return usageError{fmt.Sprintf("--trace-scale %v: want a positive number", o.scale)}
	}
	known := map[string]bool{}
	for _, n := range sc.Nodes {
		known[n.ID] = true
	}
	var load []sim.Load
	longest := 0
	for _, s := range streams {
		node := s.node
		if m, ok := o.nodes[node]; ok {
			node = m
		}
		if !known[node] {
			return fmt.Errorf("--trace %s: node %q is not in the scenario (map trace nodes with --trace-nodes TRACE=NODE,...)", o.path, node)
		}
		fn := s.function
		if m, ok := o.funcs[fn]; ok {
			fn = m
		}
		rates := make([]float64, len(s.rates))
		for i, r := range s.rates {
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
		return fmt.Errorf("--trace %s: %d stages of %v make a run of %v, not in (0, %v]", o.path, longest, stage, d, sim.MaxDuration)
	}
	sc.Load, sc.Duration = load, sim.Duration(d)
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("--trace %s: %w", o.path, err)
	}
	return nil
}

// parseBenchMap parses "a=b,c=d" into a map, naming flag in errors.
func parseBenchMap(flag, s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, usageError{fmt.Sprintf("%s: %q is not TRACE=SCENARIO", flag, kv)}
		}
		if _, dup := m[k]; dup {
			return nil, usageError{fmt.Sprintf("%s: %q mapped twice", flag, k)}
		}
		m[k] = v
	}
	return m, nil
}
