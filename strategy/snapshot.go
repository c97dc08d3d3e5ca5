package strategy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// NodeID names a node of the federation. In the reference agent it is
// derived from the node's public key.
type NodeID string

// Snapshot is everything a node knows when it decides. Slices are sorted
// (Functions by Name, Neighbours by ID) so that iteration order never
// depends on map hashing.
type Snapshot struct {
	// Self is the deciding node.
	Self NodeID
	// Now is the only clock a strategy may read.
	Now time.Time
	// Period is the control period: the time until the next decision, and
	// the window over which the observed rates were measured.
	Period time.Duration
	// Seed is the seed of every random choice the strategy makes. The agent
	// derives a new one for every cycle from its configured seed.
	Seed uint64
	// Functions lists every function this node runs or receives user
	// requests for, and every function a neighbour announces.
	Functions []Function
	// Neighbours are the nodes this node may forward to (its data network),
	// each with its latest announcement.
	Neighbours []Neighbour
	// Resources is this node's resource usage over the last period.
	Resources Resources
	// Prev is the decision applied now (the zero Decision before the first).
	Prev Decision
	// Advice is what the node's Advisor (if any) answered for this
	// snapshot, as JSON; nil when there is no advisor or it failed or
	// timed out.
	Advice json.RawMessage
}

// Function is this node's view of one function over the last period. All
// rates are requests per second, averaged over Snapshot.Period.
type Function struct {
	Name string
	// Deployed reports whether the function runs on this node.
	Deployed bool
	// Capacity is the request rate the function sustains on this node, as
	// the operator states it (label dfaas.maxrate); 0 when unknown or not
	// deployed.
	Capacity float64
	// Concurrency is how many requests the function runs at once; 0 when
	// unknown.
	Concurrency int
	// Replicas is the number of ready replicas reported by the FaaS platform.
	Replicas int

	// Offered is the rate of user requests arriving at this node (requests
	// forwarded by neighbours are not counted here).
	Offered float64
	// Forecast is the predicted Offered rate over the next period. It
	// equals Offered when the node has no forecaster.
	Forecast float64
	// Local is the rate of requests processed locally, from users and
	// neighbours.
	Local float64
	// FromNeighbours is the part of Local forwarded by neighbours.
	FromNeighbours float64
	// Forwarded is the rate of user requests sent to neighbours.
	Forwarded float64
	// Rejected is the rate of requests refused on purpose by the proxy.
	Rejected float64
	// Failed is the rate of requests that timed out or errored.
	Failed float64
	// Latency is the mean time to process a request locally; 0 if none was.
	Latency time.Duration

	// CPU is the CPU the function's replicas on this node used, in cores
	// (CPU seconds per second) averaged over the last period and summed
	// over the replicas, as measured per container (cAdvisor, see
	// metricsrc/cadvisor); 0 when unknown.
	CPU float64
	// Memory is the memory the function's replicas on this node use, in
	// bytes (working set, summed over the replicas) at the end of the last
	// period, measured like CPU; 0 when unknown.
	Memory float64
}

// Neighbour is a node this node may forward to.
type Neighbour struct {
	ID NodeID
	// Age is the time since its latest announcement arrived.
	Age time.Duration
	// RTT is the measured round-trip time to it; 0 when unknown.
	RTT time.Duration
	// Announcement is the latest state it announced.
	Announcement Announcement
}

// Announcement is what a node tells its peers every period. The agent fills
// Functions and Resources from what it observed when the strategy leaves
// them empty (see BaseAnnouncement); Grants and Data are the strategy's.
type Announcement struct {
	// Functions are the functions the node runs (Deployed) or receives
	// user requests for, sorted by Name.
	Functions []FunctionState `json:"functions,omitempty"`
	// Grants are admission limits the node grants to specific nodes,
	// sorted by To then Function.
	Grants []Grant `json:"grants,omitempty"`
	// Resources is the node's resource usage.
	Resources Resources `json:"resources,omitzero"`
	// Data is strategy-specific JSON, at most MaxAnnouncementData bytes.
	Data json.RawMessage `json:"data,omitempty"`
}

// MaxAnnouncementData is the largest strategy-specific payload an
// announcement may carry.
const MaxAnnouncementData = 16 << 10

// FunctionState describes a function as a node sees it. Rates are req/s.
type FunctionState struct {
	Name string `json:"name"`
	// Deployed reports whether the node runs the function.
	Deployed bool `json:"deployed"`
	// Capacity is the rate the node sustains for the function.
	Capacity float64 `json:"capacity"`
	// Offered is the rate of user requests arriving at the node.
	Offered float64 `json:"offered"`
	// Load is the rate the node processes locally (users and neighbours).
	Load float64 `json:"load"`
	// Spare is the rate the node can still take: Capacity minus the load
	// it expects from its own users, never negative.
	Spare float64 `json:"spare"`
	// Excess is the rate of its own users' requests the node cannot serve
	// locally: what it would like to forward.
	Excess float64 `json:"excess"`
	// CPU (cores, averaged over the period) and Memory (bytes, working
	// set) are what the function's replicas on the node were measured to
	// use (Function.CPU and Function.Memory); absent when unknown.
	CPU    float64 `json:"cpu,omitempty"`
	Memory float64 `json:"memory,omitempty"`
}

// Grant is an admission limit a node grants to another: it will accept up
// to Rate req/s of Function forwarded by To.
type Grant struct {
	To       NodeID  `json:"to"`
	Function string  `json:"function"`
	Rate     float64 `json:"rate"`
}

// Resources is a node's resource usage. Zero values mean "unknown".
type Resources struct {
	// CPU is the number of cores busy on average (e.g. 1.5 of 4).
	CPU float64 `json:"cpu,omitempty"`
	// CPUCores is the number of cores of the node.
	CPUCores float64 `json:"cpu_cores,omitempty"`
	// Memory is the memory in use, in bytes.
	Memory float64 `json:"memory,omitempty"`
	// MemoryTotal is the node's memory, in bytes.
	MemoryTotal float64 `json:"memory_total,omitempty"`
	// Power is the power drawn, in watts.
	Power float64 `json:"power,omitempty"`
}

// Function returns the function named name and whether the snapshot has it.
func (s Snapshot) Function(name string) (Function, bool) {
	i, ok := slices.BinarySearchFunc(s.Functions, name, func(f Function, n string) int { return strings.Compare(f.Name, n) })
	if !ok {
		return Function{}, false
	}
	return s.Functions[i], true
}

// Neighbour returns the neighbour with the given ID and whether it exists.
func (s Snapshot) Neighbour(id NodeID) (Neighbour, bool) {
	i, ok := slices.BinarySearchFunc(s.Neighbours, id, func(n Neighbour, id NodeID) int { return strings.Compare(string(n.ID), string(id)) })
	if !ok {
		return Neighbour{}, false
	}
	return s.Neighbours[i], true
}

// Running returns the neighbours that announce they run function fn, in ID
// order, in a new slice: the caller may sort it (for instance with
// CompareRTT), but its neighbours' announcements share their slices with
// the snapshot and must not be changed.
func (s Snapshot) Running(fn string) []Neighbour {
	var out []Neighbour
	for _, n := range s.Neighbours {
		if n.Announcement.Runs(fn) {
			out = append(out, n)
		}
	}
	return out
}

// Runs reports whether the announcing node runs function fn.
func (a Announcement) Runs(fn string) bool {
	f, ok := a.Function(fn)
	return ok && f.Deployed
}

// Function returns the state of function name in the announcement.
func (a Announcement) Function(name string) (FunctionState, bool) {
	i, ok := slices.BinarySearchFunc(a.Functions, name, func(f FunctionState, n string) int { return strings.Compare(f.Name, n) })
	if !ok {
		return FunctionState{}, false
	}
	return a.Functions[i], true
}

// GrantTo returns the rate of fn the announcing node grants to node to (0
// when it grants none).
func (a Announcement) GrantTo(to NodeID, fn string) float64 {
	var r float64
	for _, g := range a.Grants {
		if g.To == to && g.Function == fn {
			r += g.Rate
		}
	}
	return r
}

// Equal reports whether a and b are the same announcement.
func (a Announcement) Equal(b Announcement) bool {
	return slices.Equal(a.Functions, b.Functions) && slices.Equal(a.Grants, b.Grants) &&
		a.Resources == b.Resources && bytes.Equal(a.Data, b.Data)
}

// Clone returns a deep copy of a.
func (a Announcement) Clone() Announcement {
	a.Functions = slices.Clone(a.Functions)
	a.Grants = slices.Clone(a.Grants)
	a.Data = bytes.Clone(a.Data)
	return a
}

// Clone returns a deep copy of s.
func (s Snapshot) Clone() Snapshot {
	s.Functions = slices.Clone(s.Functions)
	s.Neighbours = slices.Clone(s.Neighbours)
	for i := range s.Neighbours {
		s.Neighbours[i].Announcement = s.Neighbours[i].Announcement.Clone()
	}
	s.Prev = s.Prev.Clone()
	s.Advice = bytes.Clone(s.Advice)
	return s
}

// Equal reports whether s and o hold the same values.
func (s Snapshot) Equal(o Snapshot) bool {
	if s.Self != o.Self || !s.Now.Equal(o.Now) || s.Period != o.Period || s.Seed != o.Seed ||
		s.Resources != o.Resources || !slices.Equal(s.Functions, o.Functions) || !s.Prev.Equal(o.Prev) ||
		!bytes.Equal(s.Advice, o.Advice) || len(s.Neighbours) != len(o.Neighbours) {
		return false
	}
	for i, n := range s.Neighbours {
		m := o.Neighbours[i]
		if n.ID != m.ID || n.Age != m.Age || n.RTT != m.RTT || !n.Announcement.Equal(m.Announcement) {
			return false
		}
	}
	return true
}

// Validate checks that s is well formed: sorted, unique names, finite
// non-negative numbers. Strategies may rely on a validated snapshot; the
// agent validates every snapshot it builds.
func (s Snapshot) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSnapshot, fmt.Sprintf(format, a...))
	}
	if s.Self == "" {
		return bad("empty Self")
	}
	if s.Period <= 0 {
		return bad("period %v is not positive", s.Period)
	}
	for i, f := range s.Functions {
		if err := ValidName(f.Name); err != nil {
			return bad("function %d: %v", i, err)
		}
		if i > 0 && s.Functions[i-1].Name >= f.Name {
			return bad("functions not sorted or duplicated at %q", f.Name)
		}
		for _, v := range []float64{f.Capacity, f.Offered, f.Forecast, f.Local, f.FromNeighbours, f.Forwarded, f.Rejected, f.Failed} {
			if !finiteNonNeg(v) {
				return bad("function %q: rate %v is not a finite non-negative number", f.Name, v)
			}
		}
		if !finiteNonNeg(f.CPU) || !finiteNonNeg(f.Memory) {
			return bad("function %q: CPU %v or memory %v is not a finite non-negative number", f.Name, f.CPU, f.Memory)
		}
		if f.Concurrency < 0 || f.Replicas < 0 || f.Latency < 0 {
			return bad("function %q: negative concurrency, replicas or latency", f.Name)
		}
	}
	for i, n := range s.Neighbours {
		if n.ID == "" || n.ID == s.Self {
			return bad("neighbour %d: ID %q is empty or Self", i, n.ID)
		}
		if i > 0 && s.Neighbours[i-1].ID >= n.ID {
			return bad("neighbours not sorted or duplicated at %q", n.ID)
		}
		if n.Age < 0 || n.RTT < 0 {
			return bad("neighbour %q: negative age or RTT", n.ID)
		}
		if err := n.Announcement.Validate(); err != nil {
			return bad("neighbour %q: %v", n.ID, err)
		}
	}
	if err := s.Resources.validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// Validate checks that a is well formed.
func (a Announcement) Validate() error {
	for i, f := range a.Functions {
		if err := ValidName(f.Name); err != nil {
			return fmt.Errorf("announced function %d: %w", i, err)
		}
		if i > 0 && a.Functions[i-1].Name >= f.Name {
			return fmt.Errorf("announced functions not sorted or duplicated at %q", f.Name)
		}
		for _, v := range []float64{f.Capacity, f.Offered, f.Load, f.Spare, f.Excess, f.CPU, f.Memory} {
			if !finiteNonNeg(v) {
				return fmt.Errorf("announced function %q: %v is not a finite non-negative number", f.Name, v)
			}
		}
	}
	for i, g := range a.Grants {
		if g.To == "" {
			return fmt.Errorf("grant %d: empty recipient", i)
		}
		if err := ValidName(g.Function); err != nil {
			return fmt.Errorf("grant %d: %w", i, err)
		}
		if !finiteNonNeg(g.Rate) {
			return fmt.Errorf("grant %d: rate %v is not a finite non-negative number", i, g.Rate)
		}
		if i > 0 {
			p := a.Grants[i-1]
			if p.To > g.To || (p.To == g.To && p.Function >= g.Function) {
				return fmt.Errorf("grants not sorted or duplicated at %q/%q", g.To, g.Function)
			}
		}
	}
	if err := a.Resources.validate(); err != nil {
		return err
	}
	if len(a.Data) > MaxAnnouncementData {
		return fmt.Errorf("data is %d bytes, more than %d", len(a.Data), MaxAnnouncementData)
	}
	if len(a.Data) > 0 && !json.Valid(a.Data) {
		return fmt.Errorf("data is not valid JSON")
	}
	return nil
}

func (r Resources) validate() error {
	for _, v := range []float64{r.CPU, r.CPUCores, r.Memory, r.MemoryTotal, r.Power} {
		if !finiteNonNeg(v) {
			return fmt.Errorf("resource value %v is not a finite non-negative number", v)
		}
	}
	return nil
}

// MaxNameLen is the longest function name accepted.
const MaxNameLen = 63

// ValidName checks a function name: 1 to MaxNameLen characters from
// [a-zA-Z0-9._-], starting with a letter or a digit (the names OpenFaaS
// accepts, which are also safe in URLs and HAProxy configuration).
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("empty function name")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("function name %.20q... longer than %d characters", name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("function name %q: character %q at %d not allowed", name, c, i)
		}
	}
	return nil
}

func finiteNonNeg(v float64) bool { return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }

// BaseAnnouncement returns the generic part of what a node announces: for
// every function it runs or has user requests for, whether it runs it, its
// capacity, offered rate, local load, spare capacity (capacity minus the
// forecast own-user load), excess (forecast own-user load above capacity)
// and measured CPU and memory, and the node's resources. Strategies call it
// and add grants or data.
func BaseAnnouncement(s Snapshot) Announcement {
	var a Announcement
	for _, f := range s.Functions {
		if !f.Deployed && f.Offered == 0 && f.Forecast == 0 {
			continue
		}
		a.Functions = append(a.Functions, FunctionState{
			Name:     f.Name,
			Deployed: f.Deployed,
			Capacity: f.Capacity,
			Offered:  f.Offered,
			Load:     f.Local,
			Spare:    math.Max(0, f.Capacity-f.Forecast),
			Excess:   math.Max(0, f.Forecast-f.Capacity),
			CPU:      f.CPU,
			Memory:   f.Memory,
		})
	}
	a.Resources = s.Resources
	return a
}
