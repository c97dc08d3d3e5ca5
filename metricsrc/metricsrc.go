package metricsrc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Source reports what a node observed over a window of time.
//
// Implementations must be safe for concurrent use.
type Source interface {
	// Sample returns per-function rates and node usage observed over the
	// window ending at now. The returned Sample.Window may be shorter than
	// asked when less history exists (0 on a first call).
	//
	// An error wrapping ErrDegraded comes with a usable Sample (from a
	// fallback); any other error means the Sample must not be used.
	Sample(ctx context.Context, now time.Time, window time.Duration) (Sample, error)
}

// Sample is what a Source observed over Window, ending at Time.
type Sample struct {
	Time   time.Time
	Window time.Duration
	// Functions are sorted by Name.
	Functions []FunctionRates
	Node      NodeUsage
	// Answers reports whether the source measures the answers of the
	// neighbours requests were forwarded to (NeighbourRates.Succeeded,
	// Failed and Latency); without it they are 0 because unknown.
	Answers bool
	// Other is the aggregate of the requests for names the data plane
	// keeps no counters for (names it does not route, such as made-up
	// ones); its Name is empty.
	Other FunctionRates
}

// FunctionRates are the rates (req/s) of one function over a window.
type FunctionRates struct {
	Name string
	// Offered counts user requests arriving at the node (not those
	// forwarded by neighbours).
	Offered float64
	// Local counts requests processed locally, from users and neighbours.
	Local float64
	// FromNeighbours is the part of Local forwarded by neighbours.
	FromNeighbours float64
	// Forwarded counts user requests sent to neighbours.
	Forwarded float64
	// Rejected counts requests refused on purpose by the proxy.
	Rejected float64
	// Failed counts requests that timed out or errored anywhere.
	Failed float64
	// Latency is the mean time to process a request locally.
	Latency time.Duration
	// Neighbours break Forwarded and FromNeighbours down by neighbour,
	// sorted by ID.
	Neighbours []NeighbourRates
	// CPU is the CPU the function's replicas used over the window, in
	// cores (CPU seconds per second) summed over the replicas; Memory the
	// memory they use, in bytes (working set at the end of the window).
	// 0 means unknown: only a per-container source (metricsrc/cadvisor)
	// fills them.
	CPU    float64
	Memory float64
}

// NeighbourRates are the rates exchanged with one neighbour for a function.
type NeighbourRates struct {
	ID        string
	Forwarded float64 // user requests sent to it
	Received  float64 // requests it forwarded to this node
	// Succeeded and Failed are the rates of the answers it returned to
	// the user requests forwarded to it: succeeded, the function's own
	// answers (neither a 5xx nor a refusal of its proxy); failed, the
	// others, time-outs included (a neighbour that could not be reached
	// answered nothing).
	Succeeded, Failed float64
	// Latency is the mean time to a succeeded answer, as this node's
	// proxy measured it; 0 when none or unknown.
	Latency time.Duration
}

// NodeUsage is a node's resource usage over a window. Zero means unknown.
type NodeUsage struct {
	CPU         float64 // cores busy on average
	CPUCores    float64
	Memory      float64 // bytes in use
	MemoryTotal float64 // bytes
	Power       float64 // watts on average
}

// Function returns the rates of function name in s.
func (s Sample) Function(name string) (FunctionRates, bool) {
	i, ok := slices.BinarySearchFunc(s.Functions, name, func(f FunctionRates, n string) int { return strings.Compare(f.Name, n) })
	if !ok {
		return FunctionRates{}, false
	}
	return s.Functions[i], true
}

// ErrUnavailable is returned by Static when it was set to fail.
var ErrUnavailable = errors.New("metricsrc: source unavailable")

// Static is an in-memory Source that returns a settable Sample. It is safe
// for concurrent use.
type Static struct {
	mu  sync.Mutex
	s   Sample
	err error
}

// NewStatic returns a Static returning s.
func NewStatic(s Sample) *Static { return &Static{s: s} }

// Set replaces the sample returned.
func (st *Static) Set(s Sample) {
	st.mu.Lock()
	st.s = s
	st.mu.Unlock()
}

// SetErr makes Sample return err (nil restores it).
func (st *Static) SetErr(err error) {
	st.mu.Lock()
	st.err = err
	st.mu.Unlock()
}

// Sample implements Source. The returned sample has Time now and Window
// window.
func (st *Static) Sample(ctx context.Context, now time.Time, window time.Duration) (Sample, error) {
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return Sample{}, st.err
	}
	s := st.s
	s.Time, s.Window = now, window
	s.Functions = slices.Clone(s.Functions)
	for i := range s.Functions {
		s.Functions[i].Neighbours = slices.Clone(s.Functions[i].Neighbours)
	}
	return s, nil
}

// Interface guards.
var _ Source = (*Static)(nil)
