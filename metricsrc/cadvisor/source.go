package cadvisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc"
)

// A Reader reads what the pods of a namespace used over a window ending
// at now. Implementations must be safe for concurrent use.
type Reader interface {
	Read(ctx context.Context, now time.Time, window time.Duration, namespace string) (Reading, error)
}

// Reading is what a Reader read.
type Reading struct {
	// Pods are sorted by namespace and pod.
	Pods []Pod
	// Problems are the series skipped for bad values or labels.
	Problems Problems
}

// Config configures a Source.
type Config struct {
	// Inner is the source of the rates and the node's usage (the proxy's
	// counters, metricsrc/scrape, metricsrc/promsrc). Required.
	Inner metricsrc.Source
	// Reader reads the pods' usage: a Kubelet (direct scrape) or a
	// Prometheus. Required.
	Reader Reader
	// Mapper tells which function each pod runs; if nil, OpenFaaS{}.
	Mapper Mapper
	// Logger, if not nil, is told about skipped series.
	Logger *slog.Logger
}

// Source is a metricsrc.Source that adds the CPU and memory measured per
// function (metricsrc.FunctionRates.CPU and Memory) to the sample of an
// inner source. It reads the pods' usage while the inner source samples,
// maps each pod to its function and sums over the replicas. Functions
// only cAdvisor sees (deployed, but with no request yet) are added with
// zero rates.
//
// When the pods' usage cannot be read, Sample returns the inner sample
// without per-function usage and an error wrapping metricsrc.ErrDegraded,
// so that the node keeps deciding (its learned resource model takes over)
// and reports the metric source degraded. An inner error that does not
// wrap ErrDegraded is returned as is.
type Source struct {
	inner metricsrc.Source
	r     Reader
	m     Mapper
	log   *slog.Logger

	mu          sync.Mutex
	lastProblem string
}

// New validates cfg and returns a Source.
func New(cfg Config) (*Source, error) {
	switch {
	case cfg.Inner == nil:
		return nil, errors.New("cadvisor: Config.Inner (the source of the rates) is required")
	case cfg.Reader == nil:
		return nil, errors.New("cadvisor: Config.Reader (Kubelet or Prometheus) is required")
	}
	m := cfg.Mapper
	if m == nil {
		m = OpenFaaS{}
	}
	if m.Namespace() == "" {
		return nil, errors.New("cadvisor: the mapper's namespace is empty")
	}
	return &Source{inner: cfg.Inner, r: cfg.Reader, m: m, log: cfg.Logger}, nil
}

// Close closes the Reader if it has a Close method.
func (s *Source) Close() error {
	if c, ok := s.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Sample implements metricsrc.Source.
func (s *Source) Sample(ctx context.Context, now time.Time, window time.Duration) (metricsrc.Sample, error) {
	var rd Reading
	var rerr error
	var wg sync.WaitGroup
	wg.Go(func() { rd, rerr = s.r.Read(ctx, now, window, s.m.Namespace()) })
	smp, err := s.inner.Sample(ctx, now, window)
	wg.Wait()
	if err != nil && !errors.Is(err, metricsrc.ErrDegraded) {
		return metricsrc.Sample{}, err
	}
	if rerr != nil {
		if ctx.Err() != nil {
			return metricsrc.Sample{}, ctx.Err()
		}
		if err != nil {
			return smp, fmt.Errorf("%w; per-function usage unknown: %v", err, rerr)
		}
		return smp, fmt.Errorf("%w: %v; per-function usage unknown", metricsrc.ErrDegraded, rerr)
	}
	s.report(rd.Problems)
	smp.Functions = Attach(smp.Functions, rd.Pods, s.m)
	return smp, err
}

// report logs skipped series when what is wrong changes.
func (s *Source) report(p Problems) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.First == s.lastProblem {
		return
	}
	s.lastProblem = p.First
	if s.log != nil && p.Count > 0 {
		s.log.Warn("cadvisor: series skipped", "count", p.Count, "first", p.First)
	}
}

// Attach returns fns (sorted by name) with the CPU and memory of each
// function that has pods set from them, summed over its pods; functions
// with pods but not in fns are added. fns is not modified.
func Attach(fns []metricsrc.FunctionRates, pods []Pod, m Mapper) []metricsrc.FunctionRates {
	known := make([]string, len(fns))
	for i, f := range fns {
		known[i] = f.Name
	}
	type usage struct{ cpu, mem float64 }
	by := map[string]*usage{}
	for _, p := range pods {
		fn, ok := m.Function(p, known)
		if !ok {
			continue
		}
		u := by[fn]
		if u == nil {
			u = &usage{}
			by[fn] = u
		}
		u.cpu += p.CPU
		u.mem += p.Memory
	}
	out := slices.Clone(fns)
	for _, fn := range slices.Sorted(maps.Keys(by)) {
		u := by[fn]
		i, ok := slices.BinarySearchFunc(out, fn, func(f metricsrc.FunctionRates, n string) int { return strings.Compare(f.Name, n) })
		if !ok {
			out = slices.Insert(out, i, metricsrc.FunctionRates{Name: fn})
		}
		out[i].CPU, out[i].Memory = u.cpu, u.mem
	}
	return out
}

// Interface guards.
var _ metricsrc.Source = (*Source)(nil)
