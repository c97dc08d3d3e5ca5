package faas

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backend lists the functions deployed on the local FaaS platform.
//
// Implementations must be safe for concurrent use.
type Backend interface {
	// Functions returns the functions deployed locally, sorted by name.
	// The caller owns the returned slice.
	Functions(ctx context.Context) ([]Function, error)
}

// HealthChecker is implemented by backends that can report whether the
// platform is up. A nil error means healthy.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Labels that DFaaS reads from a function's deployment.
const (
	// LabelMaxRate states the request rate (req/s) the function sustains
	// on this node: its capacity. A decimal number.
	LabelMaxRate = "dfaas.maxrate"
	// LabelTimeout is the function's time-out in milliseconds.
	LabelTimeout = "dfaas.timeout_ms"
	// LabelConcurrency is how many requests the function serves at once.
	LabelConcurrency = "dfaas.concurrency"
	// LabelMaxRatePerReplica states the capacity of one replica (req/s).
	// Backends that know the replicas turn it into LabelMaxRate (this
	// times the available replicas) when LabelMaxRate is absent.
	LabelMaxRatePerReplica = "dfaas.maxrate_per_replica"
)

// Function is a function deployed on the local platform.
type Function struct {
	Name string
	// Replicas is the number of replicas requested; AvailableReplicas
	// those ready.
	Replicas          int
	AvailableReplicas int
	Labels            map[string]string
	Annotations       map[string]string
}

// Capacity returns the capacity stated by the dfaas.maxrate label in req/s,
// 0 when the label is absent, and an error naming the label when it is not
// a finite non-negative number.
func (f Function) Capacity() (float64, error) {
	v, ok := f.Labels[LabelMaxRate]
	if !ok {
		return 0, nil
	}
	c, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || c < 0 || math.IsInf(c, 0) || math.IsNaN(c) {
		return 0, fmt.Errorf("function %q: label %s=%q is not a non-negative number", f.Name, LabelMaxRate, v)
	}
	return c, nil
}

// Timeout returns the time-out stated by the dfaas.timeout_ms label, 0 when
// absent.
func (f Function) Timeout() (time.Duration, error) {
	v, ok := f.Labels[LabelTimeout]
	if !ok {
		return 0, nil
	}
	ms, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("function %q: label %s=%q is not a whole number of milliseconds", f.Name, LabelTimeout, v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Concurrency returns the concurrency stated by the dfaas.concurrency label,
// 0 when absent.
func (f Function) Concurrency() (int, error) {
	v, ok := f.Labels[LabelConcurrency]
	if !ok {
		return 0, nil
	}
	c, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("function %q: label %s=%q is not a whole number up to 65535", f.Name, LabelConcurrency, v)
	}
	return int(c), nil
}

// Clone returns a deep copy of f.
func (f Function) Clone() Function {
	f.Labels = cloneMap(f.Labels)
	f.Annotations = cloneMap(f.Annotations)
	return f
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// ErrUnavailable is returned by Static when it was set to fail.
var ErrUnavailable = errors.New("faas: backend unavailable")

// Static is an in-memory Backend holding a settable list of functions. It
// is safe for concurrent use. A Static can be made to fail, to test how a
// node behaves when its FaaS platform is down.
type Static struct {
	mu  sync.Mutex
	fns []Function
	err error
}

// NewStatic returns a Static listing fns.
func NewStatic(fns ...Function) *Static {
	s := &Static{}
	s.Set(fns...)
	return s
}

// Set replaces the listed functions.
func (s *Static) Set(fns ...Function) {
	c := make([]Function, len(fns))
	for i, f := range fns {
		c[i] = f.Clone()
	}
	slices.SortFunc(c, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	s.mu.Lock()
	s.fns = c
	s.mu.Unlock()
}

// SetErr makes Functions and Health return err (nil restores them).
func (s *Static) SetErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// Functions implements Backend.
func (s *Static) Functions(ctx context.Context) ([]Function, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	out := make([]Function, len(s.fns))
	for i, f := range s.fns {
		out[i] = f.Clone()
	}
	return out, nil
}

// Health implements HealthChecker.
func (s *Static) Health(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Interface guards.
var (
	_ Backend       = (*Static)(nil)
	_ HealthChecker = (*Static)(nil)
)
