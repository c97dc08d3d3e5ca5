package strategy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Advice is the answer of an outside decision model (see Advisor), as the
// External strategy reads it from Snapshot.Advice: for any number of
// functions, the shares of the user requests to serve locally, to reject,
// and to forward to each neighbour. In JSON:
//
//	{"routes": {"figlet": {"local": 0.6, "reject": 0.1, "forward": {"node-b": 0.3}}}}
//
// The shares of a route are each in [0, 1] and sum to 1 (within
// AdviceTolerance).
type Advice struct {
	// Routes are the advised routes, by function.
	Routes map[string]AdviceRoute `json:"routes"`
}

// AdviceRoute is the advice for one function.
type AdviceRoute struct {
	// Local is the share served locally.
	Local float64 `json:"local"`
	// Reject is the share rejected.
	Reject float64 `json:"reject"`
	// Forward are the shares forwarded, by neighbour.
	Forward map[NodeID]float64 `json:"forward,omitempty"`
}

// AdviceTolerance is how far the shares of an advised route may sum from
// 1; they are normalised.
const AdviceTolerance = 1e-3

// MaxAdviceLen is the largest advice accepted, in bytes.
const MaxAdviceLen = 1 << 20

// ErrInvalidAdvice is wrapped by every error about advice.
var ErrInvalidAdvice = errors.New("strategy: invalid advice")

// ParseAdvice decodes advice strictly: unknown fields, duplicate or
// trailing data, bad names and shares that are not finite, not in [0, 1]
// or do not sum to 1 are errors that name the offending field.
func ParseAdvice(b []byte) (Advice, error) {
	bad := func(format string, a ...any) (Advice, error) {
		return Advice{}, fmt.Errorf("%w: %s", ErrInvalidAdvice, fmt.Sprintf(format, a...))
	}
	if len(b) > MaxAdviceLen {
		return bad("%d bytes, more than %d", len(b), MaxAdviceLen)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a Advice
	if err := dec.Decode(&a); err != nil {
		return bad("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("trailing data after the JSON object")
	}
	if a.Routes == nil {
		return bad("routes: required")
	}
	for fn, r := range a.Routes {
		if err := ValidName(fn); err != nil {
			return bad("routes: %v", err)
		}
		sum := r.Local + r.Reject
		for _, v := range []float64{r.Local, r.Reject} {
			if !inUnit(v) {
				return bad("routes.%s: local %v or reject %v not in [0, 1]", fn, r.Local, r.Reject)
			}
		}
		for id, v := range r.Forward {
			if id == "" {
				return bad("routes.%s.forward: empty node ID", fn)
			}
			if !inUnit(v) {
				return bad("routes.%s.forward.%s: share %v not in [0, 1]", fn, id, v)
			}
			sum += v
		}
		if math.Abs(sum-1) > AdviceTolerance {
			return bad("routes.%s: shares sum to %v, not 1", fn, sum)
		}
	}
	return a, nil
}

// check reports whether a can be applied to s: known functions, local
// shares only for deployed ones, forwarding only to neighbours.
func (a Advice) check(s Snapshot) error {
	for _, fn := range sortedKeys(a.Routes) {
		r := a.Routes[fn]
		f, ok := s.Function(fn)
		if !ok {
			return fmt.Errorf("%w: routes.%s: unknown function", ErrInvalidAdvice, fn)
		}
		if r.Local > 0 && !f.Deployed {
			return fmt.Errorf("%w: routes.%s: local share %v for a function not deployed here", ErrInvalidAdvice, fn, r.Local)
		}
		for id := range r.Forward {
			if _, ok := s.Neighbour(id); !ok {
				return fmt.Errorf("%w: routes.%s.forward.%s: not a neighbour", ErrInvalidAdvice, fn, id)
			}
		}
	}
	return nil
}

// External applies the decisions of an outside model, such as the
// reinforcement-learning agents of the original DFaaS, consulted over HTTP
// by the agent (package strategy/remote provides the Advisor; the agent
// calls it with a deadline and puts its answer in Snapshot.Advice). The
// strategy itself stays pure: it only turns the advice into routes.
//
// Advice that is missing (the model failed or timed out) or invalid
// (malformed, or naming an unknown function or neighbour) is ignored as a
// whole: the node keeps the decision in force (Snapshot.Prev), minus the
// neighbours that have gone. Functions the advice leaves out keep their
// route in force too, or the agent's default route if they have none.
type External struct{}

// Decide implements Strategy.
func (External) Decide(s Snapshot) (Decision, error) {
	d := Decision{Announce: BaseAnnouncement(s)}
	var advice Advice
	if len(s.Advice) > 0 {
		a, err := ParseAdvice(s.Advice)
		if err == nil {
			err = a.check(s)
		}
		if err == nil {
			advice = a
		}
	}
	for _, f := range s.Functions {
		if r, ok := advice.Routes[f.Name]; ok {
			d.Routes = append(d.Routes, NewRoute(f.Name, r.Local, r.Reject, r.Forward))
			continue
		}
		if r, ok := s.Prev.Route(f.Name); ok {
			d.Routes = append(d.Routes, carryRoute(s, f, r))
		}
	}
	return d, nil
}

// carryRoute adapts a route in force to snapshot s: shares to neighbours
// that have gone and a local share for a function no longer deployed are
// dropped, and the rest renormalised. Limits are kept for the neighbours
// still there.
func carryRoute(s Snapshot, f Function, r Route) Route {
	local := r.Local
	if !f.Deployed {
		local = 0
	}
	fwd := map[NodeID]float64{}
	for _, sh := range r.Forward {
		if _, ok := s.Neighbour(sh.Node); ok {
			fwd[sh.Node] = sh.Share
		}
	}
	out := NewRoute(f.Name, local, r.Reject, fwd)
	if f.Deployed {
		out.LocalLimit = r.LocalLimit
	}
	for _, l := range r.Admit {
		if _, ok := s.Neighbour(l.Node); ok {
			out.Admit = append(out.Admit, l)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Interface guards.
var _ Strategy = External{}
