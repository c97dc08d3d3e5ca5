package proxyctl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/strategy"
)

// Controller makes a proxy route requests as a State says.
//
// Apply must be idempotent: applying the same State twice changes nothing
// the second time. An implementation applies cheap changes (weights, caps)
// without disturbing requests in flight, and may need heavier work only
// when the shape changes (the set of functions or neighbours). After an
// error the proxy keeps routing by the last State it applied in full.
// Implementations must be safe for concurrent use.
type Controller interface {
	Apply(ctx context.Context, s State) error
}

// HTTP headers of the DFaaS data plane.
const (
	// HeaderNodeID carries the ID of the node that forwarded a request.
	// A request that carries it is never forwarded again.
	HeaderNodeID = "DFaaS-Node-ID"
	// HeaderNodeToken carries the forwarding node's credential: a secret
	// the receiving node handed to it over the authenticated peer channel.
	HeaderNodeToken = "DFaaS-Node-Token"
	// HeaderServedBy, on a response, names the node that processed the
	// request.
	HeaderServedBy = "DFaaS-Served-By"
	// HeaderForwardedTo, on a response, names the neighbour a request was
	// forwarded to.
	HeaderForwardedTo = "DFaaS-Forwarded-To"
	// HeaderRejected, on a response, says why the proxy refused a request
	// on purpose: "policy" (the reject share), "admission" (a neighbour
	// above its admission limit), "queue-full" (the function's queue at
	// Function.MaxQueue), "unknown-node" or "no-route".
	HeaderRejected = "DFaaS-Rejected"
)

// MetricForwardCapped is the counter, exported by both proxies, of the user
// requests turned away from the neighbour picked for them because it had
// reached its forwarding cap (ForwardCap), and sent to another neighbour,
// served locally or rejected instead.
const MetricForwardCapped = "dfaas_proxy_forward_capped_total"

// State is everything a proxy needs to route: the local functions, the
// neighbours and how to reach them, and the decision in force.
type State struct {
	// Self is this node.
	Self strategy.NodeID
	// Functions are the functions deployed locally, sorted by Name.
	Functions []Function
	// Neighbours are the nodes requests may be forwarded to, sorted by ID.
	Neighbours []Neighbour
	// Decision is the routing decision in force.
	Decision strategy.Decision
}

// Function is a function deployed on the local FaaS platform.
type Function struct {
	Name string
	// Capacity is the sustainable rate (req/s), 0 when unknown.
	Capacity float64
	// Concurrency is how many requests it serves at once, 0 when unknown.
	Concurrency int
	// Timeout bounds a request to it, 0 for the proxy's default.
	Timeout time.Duration
	// MaxQueue is how many requests may wait for one of its Concurrency
	// slots on this node. A request that arrives (from a user or a
	// neighbour) while Concurrency are being served and MaxQueue wait is
	// refused at once, 429 with DFaaS-Rejected: queue-full, and counted as
	// rejected, instead of waiting until the time-out: the queue, and so
	// the latency of what is served, stays bounded under any load.
	// 0 means no cap; so does an unknown Concurrency. QueueCap derives it
	// from a depth in requests per slot.
	MaxQueue int
}

// DefaultQueueDepth is the agent's and the simulator's default queue depth:
// waiting requests allowed per concurrency slot (see QueueCap). At 4 the
// shipped overload scenarios keep their served p99 within twice that of an
// unloaded run while planning 99% of the capacity (docs/evaluation.md).
const DefaultQueueDepth = 4

// RejectedQueueFull is the DFaaS-Rejected value of a request refused because
// its function's queue is full (Function.MaxQueue).
const RejectedQueueFull = "queue-full"

// EffectiveDepth returns the depth a QueueDepth setting (the agent's
// dfaas.Config.QueueDepth, a scenario's queue_depth) stands for: d, or
// DefaultQueueDepth if d is 0; 0 (no cap) if d is negative.
func EffectiveDepth(d float64) float64 {
	switch {
	case d == 0:
		return DefaultQueueDepth
	case d < 0:
		return 0
	}
	return d
}

// QueueCap returns Function.MaxQueue for a function with concurrency slots at
// depth waiting requests per slot: ⌈depth × concurrency⌉, at least 1; 0 (no
// cap) when depth ≤ 0 or the concurrency is unknown (0).
func QueueCap(depth float64, concurrency int) int {
	if depth <= 0 || concurrency <= 0 || math.IsNaN(depth) {
		return 0
	}
	q := math.Ceil(depth * float64(concurrency))
	if q >= math.MaxInt32 {
		return math.MaxInt32
	}
	return max(1, int(q))
}

// Neighbour is a node this proxy forwards to and accepts forwarded requests
// from.
type Neighbour struct {
	ID strategy.NodeID
	// URL is the base URL of its proxy, such as http://10.0.0.2:30080.
	URL string
	// Functions are the functions it runs, sorted.
	Functions []string
	// TokenOut is the credential this node presents when forwarding to it.
	TokenOut string
	// TokenIn is the credential it must present when forwarding here.
	TokenIn string
	// TokenInPrev, if not empty, is the credential TokenIn replaced: it is
	// accepted too, for a grace period after a rotation, so that requests
	// the neighbour sends before it applies the new one are not refused.
	// A proxy accepts exactly TokenIn and TokenInPrev.
	TokenInPrev string
	// Forward reports whether this node may forward to it (it is in this
	// node's data network). Every listed neighbour may forward here.
	Forward bool
	// Cap bounds the user requests this node forwards to it, whatever the
	// decision's shares (see ForwardCap); the zero value caps nothing.
	Cap ForwardCap
	// Cert is its data-plane certificate (DER), as it announced it over
	// the peer channel: the only certificate this node's proxy accepts
	// from it on the node-to-node path, and expects from it when
	// forwarding to an https URL (required then). See docs/tls.md.
	Cert []byte
}

// ForwardCap bounds what a proxy forwards to a neighbour of each
// function's user requests, counted as they arrive over about the last
// second (routing.CapWindow): at most Share of them, or Rate req/s, or
// Growth times its successful answers over the same second, whichever is
// most. Requests beyond go to another neighbour of the route within its
// cap, else are served locally if the route has a local share (within its
// local limit), else rejected (429 policy). A node sets it from what the
// neighbour's answers support (control.Core.ForwardCap), so that a member
// that lies about its capacity receives no more than Share of the node's
// traffic from the first second of a load onset, whatever the forecast.
type ForwardCap struct {
	// On enables the cap.
	On bool
	// Share is in [0, 1].
	Share float64
	// Rate is in req/s, >= 0 and finite.
	Rate float64
	// Growth is >= 0 and finite.
	Growth float64
}

func (c ForwardCap) validate() error {
	if !c.On {
		return nil
	}
	if !(c.Share >= 0 && c.Share <= 1) || !(c.Rate >= 0 && c.Rate <= math.MaxFloat64) || !(c.Growth >= 0 && c.Growth <= math.MaxFloat64) {
		return fmt.Errorf("share %v not in [0, 1], or rate %v or growth %v negative or not finite", c.Share, c.Rate, c.Growth)
	}
	return nil
}

// Function returns the local function called name.
func (s State) Function(name string) (Function, bool) {
	for _, f := range s.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Validate checks that s is well formed: sorted unique functions and
// neighbours with valid names and URLs, and routes that only use them.
func (s State) Validate() error {
	if s.Self == "" {
		return errors.New("proxyctl: state: empty Self")
	}
	for i, f := range s.Functions {
		if err := strategy.ValidName(f.Name); err != nil {
			return fmt.Errorf("proxyctl: state: function %d: %w", i, err)
		}
		if i > 0 && s.Functions[i-1].Name >= f.Name {
			return fmt.Errorf("proxyctl: state: functions not sorted or duplicated at %q", f.Name)
		}
		if f.Capacity < 0 || f.Concurrency < 0 || f.Timeout < 0 || f.MaxQueue < 0 {
			return fmt.Errorf("proxyctl: state: function %q: negative capacity, concurrency, timeout or queue cap", f.Name)
		}
	}
	for i, n := range s.Neighbours {
		if n.ID == "" || n.ID == s.Self {
			return fmt.Errorf("proxyctl: state: neighbour %d: ID %q is empty or Self", i, n.ID)
		}
		if i > 0 && s.Neighbours[i-1].ID >= n.ID {
			return fmt.Errorf("proxyctl: state: neighbours not sorted or duplicated at %q", n.ID)
		}
		u, err := url.Parse(n.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("proxyctl: state: neighbour %q: URL %q is not an http(s) URL with a host", n.ID, n.URL)
		}
		if err := n.checkCert(u.Scheme); err != nil {
			return err
		}
		if err := n.Cap.validate(); err != nil {
			return fmt.Errorf("proxyctl: state: neighbour %q: Cap: %w", n.ID, err)
		}
	}
	for _, r := range s.Decision.Routes {
		if r.Local > 0 {
			if _, ok := s.Function(r.Function); !ok {
				return fmt.Errorf("proxyctl: state: route %q serves locally a function not deployed here", r.Function)
			}
		}
		for _, sh := range r.Forward {
			if nb, ok := s.Neighbour(sh.Node); !ok || !nb.Forward {
				return fmt.Errorf("proxyctl: state: route %q forwards to %q, which is not a neighbour to forward to", r.Function, sh.Node)
			}
		}
	}
	return nil
}

// checkCert checks n's data-plane certificate: required for an https URL,
// a well-formed self-signed Ed25519 certificate when present.
func (n Neighbour) checkCert(scheme string) error {
	if len(n.Cert) == 0 {
		if scheme == "https" {
			return fmt.Errorf("proxyctl: state: neighbour %q: an https URL needs its certificate (Cert)", n.ID)
		}
		return nil
	}
	if _, err := nodetls.Parse(n.Cert); err != nil {
		return fmt.Errorf("proxyctl: state: neighbour %q: Cert: %w", n.ID, err)
	}
	return nil
}

// Neighbour returns the neighbour with the given ID.
func (s State) Neighbour(id strategy.NodeID) (Neighbour, bool) {
	i, ok := slices.BinarySearchFunc(s.Neighbours, id, func(n Neighbour, id strategy.NodeID) int { return cmp.Compare(n.ID, id) })
	if !ok {
		return Neighbour{}, false
	}
	return s.Neighbours[i], true
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	s.Functions = slices.Clone(s.Functions)
	s.Neighbours = slices.Clone(s.Neighbours)
	for i := range s.Neighbours {
		s.Neighbours[i].Functions = slices.Clone(s.Neighbours[i].Functions)
		s.Neighbours[i].Cert = slices.Clone(s.Neighbours[i].Cert)
	}
	s.Decision = s.Decision.Clone()
	return s
}

// Recorder is an in-memory Controller that records the states applied to
// it. Tests assert on it, and a program can read it to drive a data plane of
// its own. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	history []State
	limit   int
	err     error
}

// NewRecorder returns a Recorder keeping the last limit states (all if
// limit <= 0).
func NewRecorder(limit int) *Recorder { return &Recorder{limit: limit} }

// Apply implements Controller. It validates s and records it.
func (r *Recorder) Apply(ctx context.Context, s State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.history = append(r.history, s.Clone())
	if r.limit > 0 && len(r.history) > r.limit {
		r.history = slices.Delete(r.history, 0, len(r.history)-r.limit)
	}
	return nil
}

// SetErr makes Apply fail with err (nil restores it).
func (r *Recorder) SetErr(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// Last returns the last state applied and whether there is one.
func (r *Recorder) Last() (State, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.history) == 0 {
		return State{}, false
	}
	return r.history[len(r.history)-1].Clone(), true
}

// History returns the states applied, oldest first.
func (r *Recorder) History() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]State, len(r.history))
	for i, s := range r.history {
		out[i] = s.Clone()
	}
	return out
}

// Interface guards.
var _ Controller = (*Recorder)(nil)
