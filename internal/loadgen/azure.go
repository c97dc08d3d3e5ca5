package loadgen

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// MaxAzureFunctions bounds the rows (functions) of an Azure Functions
// trace.
const MaxAzureFunctions = 100_000

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
// trace (Shahrad et al., "Serverless in the Wild", USENIX ATC 2020): a
// header, then per function its hash and its invocation count in each
// minute. Columns are found by header name, so both the published form
// (HashOwner,HashApp,HashFunction,Trigger,1,...,1440) and the sampled one
// (HashFunction,HashApp,HashOwner,minute_1,...,minute_1440) are read. It
// returns one stream per row, named by its function hash with no node,
// with rates in req/s (count/60), busiest function (most invocations)
// first.
func ParseAzureTrace(b []byte) ([]TraceStream, error) {
	if len(b) > MaxTraceLen {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidTrace, MaxTraceLen)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalidTrace, err)
	}
	fnCol, minutes, err := azureColumns(head)
	if err != nil {
		return nil, err
	}
	var out []TraceStream
	totals := map[int]float64{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidTrace, err)
		}
		if len(out) >= MaxAzureFunctions {
			return nil, fmt.Errorf("%w: more than %d functions", ErrInvalidTrace, MaxAzureFunctions)
		}
		s, total, err := azureRow(rec, fnCol, minutes)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrInvalidTrace, line, err)
		}
		totals[len(out)] = total
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no function after the header", ErrInvalidTrace)
	}
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(totals[b], totals[a]) })
	sorted := make([]TraceStream, len(out))
	for i, j := range order {
		sorted[i] = out[j]
	}
	return sorted, nil
}

// azureColumns returns the index of the HashFunction column and those of
// the minute columns (minute_N or N), in the order of their minutes.
func azureColumns(head []string) (int, []int, error) {
	fnCol := -1
	byMinute := map[int]int{}
	for i, h := range head {
		h = strings.TrimSpace(h)
		if h == "HashFunction" {
			fnCol = i
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(h, "minute_"))
		if err != nil || n < 1 || n > MaxTraceStages {
			continue // HashApp, HashOwner, Trigger, ...
		}
		if _, dup := byMinute[n]; dup {
			return 0, nil, fmt.Errorf("%w: header: minute %d twice", ErrInvalidTrace, n)
		}
		byMinute[n] = i
	}
	if fnCol < 0 {
		return 0, nil, fmt.Errorf("%w: header has no HashFunction column", ErrInvalidTrace)
	}
	if len(byMinute) == 0 {
		return 0, nil, fmt.Errorf("%w: header has no minute columns (1..N or minute_1..minute_N)", ErrInvalidTrace)
	}
	minutes := make([]int, len(byMinute))
	for n, i := range byMinute {
		if n > len(byMinute) {
			return 0, nil, fmt.Errorf("%w: header: minute %d of %d minutes: want minutes 1 to %d", ErrInvalidTrace, n, len(byMinute), len(byMinute))
		}
		minutes[n-1] = i
	}
	return fnCol, minutes, nil
}

// azureRow decodes one function's row: its stream and total invocations.
func azureRow(rec []string, fnCol int, minutes []int) (TraceStream, float64, error) {
	if fnCol >= len(rec) || slices.Max(minutes) >= len(rec) {
		return TraceStream{}, 0, fmt.Errorf("%d fields, fewer than the header's", len(rec))
	}
	name := strings.TrimSpace(rec[fnCol])
	if name == "" {
		return TraceStream{}, 0, fmt.Errorf("empty HashFunction")
	}
	s := TraceStream{Function: name, Rates: make([]float64, len(minutes))}
	total := 0.0
	for k, i := range minutes {
		c, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64)
		if err != nil || !(c >= 0 && c/60 <= sim.MaxRate) {
			return TraceStream{}, 0, fmt.Errorf("function %.12s, minute %d: count %q is not in [0, %v]", name, k+1, rec[i], 60*sim.MaxRate)
		}
		s.Rates[k] = c / 60
		total += c
	}
	return s, total, nil
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
