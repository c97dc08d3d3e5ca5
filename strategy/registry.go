package strategy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Factory builds a strategy from its JSON parameters. params is nil or
// empty when the user gave none; a factory must then use its defaults.
//
// It is the one shape every consumer of strategies takes: Registry.Register,
// the simulator (sim.Config.Factory) and the conformance suite
// (strategytest.Run) each call it once per node, so a strategy that keeps
// state between decisions keeps it per node. NewFactory makes one from a
// constructor of the strategy with its defaults.
type Factory func(params json.RawMessage) (Strategy, error)

// NewFactory returns a Factory that builds def() (the strategy with its
// defaults) and decodes params into it strictly (see DecodeParams):
//
//	strategy.NewFactory(func() *Spare { return &Spare{Headroom: 0.05} })
func NewFactory[T Strategy](def func() T) Factory {
	return func(params json.RawMessage) (Strategy, error) {
		v := def()
		if err := DecodeParams(params, v); err != nil {
			return nil, err
		}
		return v, nil
	}
}

// Build calls f with params and checks what it returns: not nil, and valid
// if it implements Validator. Registry.New, the simulator and the
// conformance suite build every strategy through it.
func (f Factory) Build(params json.RawMessage) (Strategy, error) {
	if f == nil {
		return nil, errors.New("nil factory")
	}
	s, err := f(params)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("factory returned a nil strategy")
	}
	if v, ok := s.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Registry maps strategy names to factories. It is a plain value: a program
// builds one (usually with Builtin), adds its own strategies with Register
// and hands the chosen Strategy to the node. A Registry is not safe for
// concurrent mutation; fill it before sharing it.
type Registry struct {
	entries map[string]entry
}

type entry struct {
	doc     string
	factory Factory
}

// ErrUnknownStrategy is returned (wrapped) by Registry.New for a name that
// is not registered.
var ErrUnknownStrategy = errors.New("strategy: unknown strategy")

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{entries: map[string]entry{}} }

// Register adds a factory under name with a one-line description. It fails
// if the name is empty, malformed or already taken.
func (r *Registry) Register(name, doc string, f Factory) error {
	if f == nil {
		return fmt.Errorf("strategy: register %q: nil factory", name)
	}
	if name == "" || strings.ContainsAny(name, " \t\n,=") {
		return fmt.Errorf("strategy: register %q: invalid name", name)
	}
	if _, dup := r.entries[name]; dup {
		return fmt.Errorf("strategy: register %q: name already registered", name)
	}
	if r.entries == nil {
		r.entries = map[string]entry{}
	}
	r.entries[name] = entry{doc: doc, factory: f}
	return nil
}

// New builds the strategy registered under name with the given parameters.
// If the strategy implements Validator, New validates it.
func (r *Registry) New(name string, params json.RawMessage) (Strategy, error) {
	e, ok := r.entries[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownStrategy, name, strings.Join(r.Names(), ", "))
	}
	s, err := e.factory.Build(params)
	if err != nil {
		return nil, fmt.Errorf("strategy %q: %w", name, err)
	}
	return s, nil
}

// Factory returns the factory registered under name.
func (r *Registry) Factory(name string) (Factory, bool) {
	e, ok := r.entries[name]
	return e.factory, ok
}

// NeedsAdvisor reports whether the strategy registered as name, built with
// no parameters, only applies an advisor's shares (External): without an
// advisor it keeps every node on its own, so the simulator and commands
// without one cannot run it.
func (r *Registry) NeedsAdvisor(name string) bool {
	s, err := r.New(name, nil)
	if err != nil {
		return false
	}
	switch s.(type) {
	case External, *External:
		return true
	}
	return false
}

// Offline returns the registered names, sorted, of the strategies that
// decide without an advisor (see NeedsAdvisor).
func (r *Registry) Offline() []string {
	return slices.DeleteFunc(r.Names(), r.NeedsAdvisor)
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Doc returns the description registered with name.
func (r *Registry) Doc(name string) string { return r.entries[name].doc }

// Builtin returns a new registry holding the built-in strategies.
func Builtin() *Registry {
	r := NewRegistry()
	must := func(err error) {
		if err != nil {
			panic(err) // only on a programming error in this file
		}
	}
	must(r.Register("alllocal", "serve every request locally (baseline)", NewFactory(func() *AllLocal { return &AllLocal{} })))
	must(r.Register("static", "fixed local share, the rest split evenly among neighbours running the function (baseline)",
		NewFactory(func() *Static { return &Static{LocalShare: 0.6} })))
	must(r.Register("recalc", "capacity limits per function; spare capacity granted to neighbours, excess forwarded in proportion to grants, the rest rejected",
		NewFactory(func() *Recalc { return &Recalc{Utilization: DefaultUtilization} })))
	must(r.Register("flow", "spare capacity asked for and granted explicitly, load spread by water-filling utilization over one hop, the rest rejected at the edge",
		NewFactory(func() *Flow { return &Flow{} })))
	must(r.Register("nodemargin", "resource-usage margins (learned online), load moved greedily in small quanta to neighbours with a margin",
		NewFactory(func() *NodeMargin { return &NodeMargin{} })))
	must(r.Register("external", "apply the shares an outside model advises (see the agent's advisor), keeping the decision in force when it has none",
		NewFactory(func() *External { return &External{} })))
	return r
}

// DecodeParams decodes JSON strategy parameters into v, rejecting unknown
// fields and trailing data. Empty params leave v unchanged.
func DecodeParams(params json.RawMessage, v any) error {
	if len(bytes.TrimSpace(params)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("parameters: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("parameters: trailing data after the JSON object")
	}
	return nil
}
