package cadvisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The cAdvisor series read, with the labels the kubelet gives them
// (namespace, pod, container, and id, the container's cgroup).
const (
	MetricCPU    = "container_cpu_usage_seconds_total"  // counter, CPU seconds
	MetricMemory = "container_memory_working_set_bytes" // gauge, bytes
)

// Defaults of Limits.
const (
	DefaultMaxBytes  = 64 << 20
	DefaultMaxLine   = 64 << 10
	DefaultMaxSeries = 20_000
)

// Limits bound what Parse reads. A zero field means its default.
type Limits struct {
	// MaxBytes bounds the exposition (a kubelet's page lists every
	// metric of every container of the node).
	MaxBytes int64
	// MaxLine bounds one line.
	MaxLine int
	// MaxSeries bounds the series kept (those of the two metrics in the
	// namespace).
	MaxSeries int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxSeries <= 0 {
		l.MaxSeries = DefaultMaxSeries
	}
	return l
}

// Series is one container's sample of MetricCPU or MetricMemory.
type Series struct {
	// Memory is true for MetricMemory, false for MetricCPU.
	Memory                    bool
	Namespace, Pod, Container string
	// Key identifies the container: its id label (cgroup path) when
	// present, else namespace/pod/container; for MetricCPU, plus the cpu
	// label.
	Key   string
	Value float64
	// Time is the sample's timestamp (when cAdvisor collected it); zero
	// when the exposition gives none.
	Time time.Time
}

// Problems counts the series Parse skipped for bad values or labels, and
// describes the first.
type Problems struct {
	Count int
	First string
}

func (p *Problems) add(format string, a ...any) {
	if p.Count == 0 {
		p.First = fmt.Sprintf(format, a...)
	}
	p.Count++
}

// ErrTooLarge is wrapped by Parse's error when the exposition, a line or
// the number of series exceeds its Limits.
var ErrTooLarge = errors.New("cadvisor: exposition too large")

// Parse reads an exposition in the Prometheus text format (the kubelet's
// /metrics/cadvisor) and returns the samples of MetricCPU and MetricMemory
// in namespace, leaving out pod-level cgroups and pause containers (label
// container "" or "POD"). Lines of other metrics and other namespaces are
// dropped before parsing, so memory follows what is kept. Series without a
// pod label, or with a negative, NaN or infinite value, are skipped and
// counted in Problems; a syntax error, a wrong metric type or a limit
// exceeded is an error naming the line or metric at fault.
func Parse(r io.Reader, namespace string, lim Limits) ([]Series, Problems, error) {
	lim = lim.withDefaults()
	kept, err := filterLines(r, namespace, lim)
	if err != nil {
		return nil, Problems{}, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(kept))
	if err != nil {
		return nil, Problems{}, fmt.Errorf("cadvisor: parse %s and %s lines: %w", MetricCPU, MetricMemory, err)
	}
	var out []Series
	var probs Problems
	for _, name := range []string{MetricCPU, MetricMemory} {
		mf := fams[name]
		if mf == nil {
			continue
		}
		mem := name == MetricMemory
		switch t := mf.GetType(); {
		case t == dto.MetricType_UNTYPED, !mem && t == dto.MetricType_COUNTER, mem && t == dto.MetricType_GAUGE:
		default:
			return nil, Problems{}, fmt.Errorf("cadvisor: %s has type %s, want %s", name, strings.ToLower(t.String()), map[bool]string{false: "counter", true: "gauge"}[mem])
		}
		for _, m := range mf.GetMetric() {
			if s, ok := series(name, mem, namespace, m, &probs); ok {
				out = append(out, s)
			}
		}
	}
	return out, probs, nil
}

// series turns one parsed sample into a Series, or reports why not.
func series(name string, mem bool, namespace string, m *dto.Metric, probs *Problems) (Series, bool) {
	l := map[string]string{}
	for _, lp := range m.GetLabel() {
		l[lp.GetName()] = lp.GetValue()
	}
	if l["namespace"] != namespace || l["container"] == "" || l["container"] == "POD" {
		return Series{}, false
	}
	desc := fmt.Sprintf("%s{namespace=%q, pod=%q, container=%q}", name, l["namespace"], l["pod"], l["container"])
	if l["pod"] == "" {
		probs.add("%s: no pod label", desc)
		return Series{}, false
	}
	v := m.GetUntyped().GetValue()
	switch {
	case m.GetCounter() != nil:
		v = m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		v = m.GetGauge().GetValue()
	}
	if !(v >= 0) || math.IsInf(v, 0) {
		probs.add("%s: value %v is not a finite non-negative number", desc, v)
		return Series{}, false
	}
	s := Series{Memory: mem, Namespace: l["namespace"], Pod: l["pod"], Container: l["container"], Value: v}
	s.Key = l["id"]
	if s.Key == "" {
		s.Key = s.Namespace + "/" + s.Pod + "/" + s.Container
	}
	if !mem {
		s.Key += "|cpu=" + l["cpu"]
	}
	if m.TimestampMs != nil {
		s.Time = time.UnixMilli(m.GetTimestampMs())
	}
	return s, true
}

// filterLines returns the lines of r that describe or sample MetricCPU or
// MetricMemory in namespace (a sample line must name it; the exact label
// is checked after parsing), enforcing lim.
func filterLines(r io.Reader, namespace string, lim Limits) ([]byte, error) {
	cr := &countingReader{r: io.LimitReader(r, lim.MaxBytes+1)}
	sc := bufio.NewScanner(cr)
	sc.Buffer(make([]byte, 0, min(4096, lim.MaxLine)), lim.MaxLine)
	var out bytes.Buffer
	nsLabel := `namespace="` + namespace + `"`
	kept, line := 0, 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		keep := false
		if rest, ok := bytes.CutPrefix(b, []byte("# ")); ok {
			if rest, ok = cutAny(rest, "HELP ", "TYPE "); ok {
				keep = metricOf(rest) != ""
			}
		} else if metricOf(b) != "" && bytes.Contains(b, []byte(nsLabel)) {
			if kept++; kept > lim.MaxSeries {
				return nil, fmt.Errorf("%w: more than %d series of %s and %s in namespace %q", ErrTooLarge, lim.MaxSeries, MetricCPU, MetricMemory, namespace)
			}
			keep = true
		}
		if keep {
			out.Write(b)
			out.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d longer than %d bytes", ErrTooLarge, line+1, lim.MaxLine)
		}
		return nil, fmt.Errorf("cadvisor: read exposition: %w", err)
	}
	if cr.n > lim.MaxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxBytes)
	}
	if line == 0 {
		return nil, errors.New("cadvisor: empty exposition")
	}
	return out.Bytes(), nil
}

// metricOf returns the metric (MetricCPU or MetricMemory) that b, a sample
// line or the rest of a HELP or TYPE line, begins with, or "".
func metricOf(b []byte) string {
	for _, name := range []string{MetricCPU, MetricMemory} {
		if rest, ok := bytes.CutPrefix(b, []byte(name)); ok && (len(rest) == 0 || rest[0] == '{' || rest[0] == ' ' || rest[0] == '\t') {
			return name
		}
	}
	return ""
}

func cutAny(b []byte, prefixes ...string) ([]byte, bool) {
	for _, p := range prefixes {
		if rest, ok := bytes.CutPrefix(b, []byte(p)); ok {
			return rest, true
		}
	}
	return b, false
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
