package azure

import (
	"bufio"
	"container/heap"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Limits of the reader, which keep its memory bounded whatever the files
// hold.
const (
	// MaxFunctions bounds how many functions a Trace keeps (Read's top).
	MaxFunctions = 10_000
	// MaxMinutes bounds the minute columns of the invocations file.
	MaxMinutes = 14 * 1440
	// MaxLine bounds a line of any file, bytes.
	MaxLine = 1 << 20
	// MaxCount bounds one minute's invocation count.
	MaxCount = 1e12
)

// File names of a trace directory (the sampled form; see ReadDir).
const (
	InvocationsFile = "invocations.csv"
	DurationsFile   = "durations.csv"
	MemoryFile      = "memory.csv"
)

// ErrInvalid is wrapped by every error about a trace file's content.
var ErrInvalid = errors.New("invalid Azure trace")

// Trace is the part of a trace a scenario is built from: the busiest
// functions with their per-minute counts, mean durations and memory.
type Trace struct {
	// Functions, busiest first (most invocations; ties by hash).
	Functions []Function
	// Minutes is the number of minute columns.
	Minutes int
}

// Function is one function of a trace.
type Function struct {
	Owner, App, Hash string
	// Trigger is the published form's trigger ("http", "timer", ...);
	// empty in the sampled form.
	Trigger string
	// Counts are the invocations in each minute.
	Counts []float64
	// Total is the sum of Counts.
	Total float64
	// DurationMs is the mean execution time (the durations file's Average
	// column), ms; 0 when the durations file has no row for it.
	DurationMs float64
	// MemoryMB is its application's mean allocated memory (the memory
	// file's AverageAllocatedMb), MB; 0 when unknown.
	MemoryMB float64
}

// ReadDir reads the trace in dir: invocations.csv (required), and
// durations.csv and memory.csv when present (in the published trace, one
// day's files renamed to these names). It keeps the top busiest functions
// (1 to MaxFunctions).
func ReadDir(dir string, top int) (*Trace, error) {
	t, err := readFile(filepath.Join(dir, InvocationsFile), func(r io.Reader) (*Trace, error) { return ReadInvocations(r, top) })
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		read func(io.Reader, *Trace) error
	}{{DurationsFile, ReadDurations}, {MemoryFile, ReadMemory}} {
		_, err := readFile(filepath.Join(dir, f.name), func(r io.Reader) (*Trace, error) { return t, f.read(r, t) })
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return t, nil
}

func readFile(path string, read func(io.Reader) (*Trace, error)) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// table is a CSV file read row by row with its columns found by name.
type table struct {
	r    *csv.Reader
	cols map[string]int
	head []string
}

// newTable reads the header of a CSV file whose lines are at most MaxLine
// bytes.
func newTable(r io.Reader) (*table, error) {
	cr := csv.NewReader(&lineLimit{r: bufio.NewReader(r)})
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty file", ErrInvalid)
	} else if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrInvalid, err)
	}
	t := &table{r: cr, cols: map[string]int{}, head: append([]string(nil), head...)}
	for i, h := range t.head {
		t.cols[strings.TrimSpace(h)] = i
	}
	return t, nil
}

// need returns the indexes of the named columns.
func (t *table) need(names ...string) ([]int, error) {
	idx := make([]int, len(names))
	for k, n := range names {
		i, ok := t.cols[n]
		if !ok {
			return nil, fmt.Errorf("%w: no column %q in the header", ErrInvalid, n)
		}
		idx[k] = i
	}
	return idx, nil
}

// next returns the next row (nil at the end), naming its line in errors.
func (t *table) next() ([]string, error) {
	rec, err := t.r.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return rec, nil
}

func (t *table) line() int { l, _ := t.r.FieldPos(0); return l }

// minuteColumns returns the indexes of the minute columns, in order:
// "minute_1".."minute_M" (sampled form) or "1".."M" (published form).
func minuteColumns(head []string) ([]int, error) {
	var idx []int
	for i, h := range head {
		h = strings.TrimSpace(h)
		num := strings.TrimPrefix(h, "minute_")
		k, err := strconv.Atoi(num)
		if err != nil || num == "" || num[0] < '0' || num[0] > '9' {
			continue
		}
		if k != len(idx)+1 {
			return nil, fmt.Errorf("%w: minute column %q where minute %d was due", ErrInvalid, h, len(idx)+1)
		}
		if k > MaxMinutes {
			return nil, fmt.Errorf("%w: more than %d minute columns", ErrInvalid, MaxMinutes)
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: no minute columns (minute_1... or 1...)", ErrInvalid)
	}
	return idx, nil
}

// ReadInvocations reads an invocations file, in either form, and keeps
// its top busiest functions. Memory stays bounded by top × the minutes,
// whatever the number of rows.
func ReadInvocations(r io.Reader, top int) (*Trace, error) {
	if top < 1 || top > MaxFunctions {
		return nil, fmt.Errorf("azure: top %d is not in [1, %d]", top, MaxFunctions)
	}
	t, err := newTable(r)
	if err != nil {
		return nil, err
	}
	ids, err := t.need("HashOwner", "HashApp", "HashFunction")
	if err != nil {
		return nil, err
	}
	minutes, err := minuteColumns(t.head)
	if err != nil {
		return nil, err
	}
	trigger, hasTrigger := t.cols["Trigger"]
	busiest := &topHeap{}
	for {
		rec, err := t.next()
		if err != nil || rec == nil {
			if err != nil {
				return nil, err
			}
			break
		}
		f := Function{Counts: make([]float64, len(minutes))}
		for k, i := range minutes {
			c, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64)
			if err != nil || !(c >= 0 && c <= MaxCount) {
				return nil, fmt.Errorf("%w: line %d, column %q: count %q is not a number in [0, %g]", ErrInvalid, t.line(), t.head[i], rec[i], MaxCount)
			}
			f.Counts[k] = c
			f.Total += c
		}
		if busiest.Len() == top && f.Total < (*busiest)[0].Total {
			continue // not among the busiest: keep nothing of it
		}
		// The record's strings share one buffer per line: clone them.
		f.Owner, f.App, f.Hash = strings.Clone(rec[ids[0]]), strings.Clone(rec[ids[1]]), strings.Clone(rec[ids[2]])
		if hasTrigger {
			f.Trigger = strings.Clone(rec[trigger])
		}
		busiest.offer(f, top)
	}
	out := &Trace{Minutes: len(minutes), Functions: busiest.sorted()}
	if len(out.Functions) == 0 {
		return nil, fmt.Errorf("%w: no function rows", ErrInvalid)
	}
	return out, nil
}

// ReadDurations fills the DurationMs of t's functions from a durations
// file (columns HashOwner, HashApp, HashFunction, Average).
func ReadDurations(r io.Reader, t *Trace) error {
	tb, err := newTable(r)
	if err != nil {
		return err
	}
	idx, err := tb.need("HashOwner", "HashApp", "HashFunction", "Average")
	if err != nil {
		return err
	}
	byKey := map[[3]string]*Function{}
	for i := range t.Functions {
		f := &t.Functions[i]
		byKey[[3]string{f.Owner, f.App, f.Hash}] = f
	}
	return tb.each(func(rec []string) error {
		f := byKey[[3]string{rec[idx[0]], rec[idx[1]], rec[idx[2]]}]
		if f == nil {
			return nil
		}
		return parsePositive(tb, rec[idx[3]], "Average", &f.DurationMs)
	})
}

// ReadMemory fills the MemoryMB of t's functions from a memory file
// (columns HashOwner, HashApp, AverageAllocatedMb).
func ReadMemory(r io.Reader, t *Trace) error {
	tb, err := newTable(r)
	if err != nil {
		return err
	}
	idx, err := tb.need("HashOwner", "HashApp", "AverageAllocatedMb")
	if err != nil {
		return err
	}
	byApp := map[[2]string][]*Function{}
	for i := range t.Functions {
		f := &t.Functions[i]
		byApp[[2]string{f.Owner, f.App}] = append(byApp[[2]string{f.Owner, f.App}], f)
	}
	return tb.each(func(rec []string) error {
		fs := byApp[[2]string{rec[idx[0]], rec[idx[1]]}]
		for _, f := range fs {
			if err := parsePositive(tb, rec[idx[2]], "AverageAllocatedMb", &f.MemoryMB); err != nil {
				return err
			}
		}
		return nil
	})
}

// each calls f on every remaining row.
func (t *table) each(f func([]string) error) error {
	for {
		rec, err := t.next()
		if err != nil || rec == nil {
			return err
		}
		if err := f(rec); err != nil {
			return err
		}
	}
}

// parsePositive parses a finite number in [0, MaxCount] into v.
func parsePositive(t *table, s, col string, v *float64) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(x >= 0 && x <= MaxCount) || math.IsInf(x, 0) {
		return fmt.Errorf("%w: line %d, column %q: %q is not a number in [0, %g]", ErrInvalid, t.line(), col, s, MaxCount)
	}
	*v = x
	return nil
}

// topHeap keeps the busiest functions: a min-heap on (Total, then hash
// descending), so that the least busy is dropped first.
type topHeap []Function

func less(a, b Function) bool {
	if a.Total != b.Total {
		return a.Total < b.Total
	}
	return a.Hash > b.Hash
}

func (h topHeap) Len() int           { return len(h) }
func (h topHeap) Less(i, j int) bool { return less(h[i], h[j]) }
func (h topHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *topHeap) Push(x any)        { *h = append(*h, x.(Function)) }
func (h *topHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// offer adds f if it is among the top busiest.
func (h *topHeap) offer(f Function, top int) {
	if h.Len() < top {
		heap.Push(h, f)
	} else if less((*h)[0], f) {
		(*h)[0] = f
		heap.Fix(h, 0)
	}
}

// sorted empties h into a slice, busiest first.
func (h *topHeap) sorted() []Function {
	out := make([]Function, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(Function)
	}
	return out
}

// lineLimit fails a read once a line exceeds MaxLine bytes, so that a
// file without line breaks cannot grow the CSV reader's buffer without
// bound.
type lineLimit struct {
	r   io.Reader
	cur int // bytes since the last line break
}

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.cur = 0
		} else if l.cur++; l.cur > MaxLine {
			return 0, fmt.Errorf("%w: a line longer than %d bytes", ErrInvalid, MaxLine)
		}
	}
	return n, err
}
