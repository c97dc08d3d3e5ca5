package strategytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/strategy"
)

// Options tune Run. The zero value is valid.
type Options struct {
	// Federations is how many random federations are run. If zero, 20.
	Federations int
	// Steps is how many periods each federation runs. If zero, 30.
	Steps int
	// Seed seeds the random federations.
	Seed uint64
	// AllowErrors accepts strategies that return errors (the agent then
	// keeps the decision in force). By default an error on a valid
	// snapshot fails the test.
	AllowErrors bool
	// Params are the JSON parameters given to the factory (nil for the
	// strategy's defaults).
	Params json.RawMessage
}

// Run checks the strategies that factory builds (one per node of each
// federation, with default parameters) with the default options.
func Run(t testing.TB, factory strategy.Factory) {
	t.Helper()
	RunWith(t, factory, Options{})
}

// RunWith checks the strategies that factory builds with opts. It stops at
// the first fault and reports it in one line; with go test -v it also logs
// the snapshot and the decision at fault.
func RunWith(t testing.TB, factory strategy.Factory, opts Options) {
	t.Helper()
	if opts.Federations <= 0 {
		opts.Federations = 20
	}
	if opts.Steps <= 0 {
		opts.Steps = 30
	}
	for i := range opts.Federations {
		seed := opts.Seed ^ uint64(i)*0x9e3779b97f4a7c15
		if err := verify(factory, seed, opts); err != nil {
			var f *fault
			if errors.As(err, &f) && f.details != "" && testing.Verbose() {
				t.Log(f.details)
			}
			hint := ""
			if f != nil && f.details != "" && !testing.Verbose() {
				hint = " (go test -v shows the snapshot and the decision)"
			}
			t.Fatalf("strategytest: federation %d of %d (seed %#x; alone: RunWith with Options{Seed: %#x, Federations: 1}): %v%s",
				i+1, opts.Federations, seed, seed, err, hint)
		}
	}
}

// fault is a conformance fault: a one-line message, and the snapshot and
// decision at fault as JSON.
type fault struct {
	msg     string
	details string
}

func (f *fault) Error() string { return f.msg }

// faultf returns a fault saying format, with details built from the pairs
// of names and values in kv.
func faultf(kv []any, format string, a ...any) *fault {
	f := &fault{msg: fmt.Sprintf(format, a...)}
	for i := 0; i+1 < len(kv); i += 2 {
		f.details += fmt.Sprintf("%s: %s\n", kv[i], mustJSON(kv[i+1]))
	}
	return f
}

// verify runs one federation twice and returns the first fault found.
func verify(factory strategy.Factory, seed uint64, opts Options) error {
	first, err := runFederation(factory, seed, opts)
	if err != nil {
		return err
	}
	second, err := runFederation(factory, seed, opts)
	if err != nil {
		return err
	}
	for k := range first {
		if !first[k].Equal(second[k]) {
			return faultf([]any{"first", first[k], "second", second[k]},
				"not deterministic: decision %d differs between two runs with fresh instances", k)
		}
	}
	return nil
}

// check calls st on s and checks the decision.
func check(st strategy.Strategy, s strategy.Snapshot, opts Options) (d strategy.Decision, err error) {
	before := s.Clone()
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = faultf([]any{"snapshot", before}, "Decide panicked: %v", r)
			}
		}()
		d, err = st.Decide(s)
		if err != nil {
			err = fmt.Errorf("%w: %w", errDecide, err)
		}
	}()
	if err != nil && !errors.Is(err, errDecide) {
		return d, err
	}
	if !s.Equal(before) {
		return d, faultf([]any{"snapshot before Decide", before, "after", s},
			"Decide modified its snapshot (%s; copy a slice, e.g. with slices.Clone, before sorting or changing it)", modified(before, s))
	}
	if err != nil {
		if !opts.AllowErrors {
			return d, faultf([]any{"snapshot", before}, "Decide failed on a valid snapshot: %v", errors.Unwrap(err))
		}
		return strategy.Decision{}, errDecide
	}
	if err := d.Validate(s); err != nil {
		return d, faultf([]any{"snapshot", before, "decision", d}, "%v", err)
	}
	if err := finite(d); err != nil {
		return d, faultf([]any{"decision", d}, "%v", err)
	}
	// The decision must not share memory with the snapshot: scribble on
	// it and check the snapshot is intact.
	kept := d.Clone()
	scribble(&d)
	if !s.Equal(before) {
		return d, errors.New("the decision shares memory with the snapshot (changing it changed the snapshot)")
	}
	return kept, nil
}

// modified names the fields of the snapshot that differ between before
// and after.
func modified(before, after strategy.Snapshot) string {
	fields := []struct {
		name string
		set  func(s *strategy.Snapshot)
	}{
		{"Self", func(s *strategy.Snapshot) { s.Self = after.Self }},
		{"Now", func(s *strategy.Snapshot) { s.Now = after.Now }},
		{"Period", func(s *strategy.Snapshot) { s.Period = after.Period }},
		{"Seed", func(s *strategy.Snapshot) { s.Seed = after.Seed }},
		{"Functions", func(s *strategy.Snapshot) { s.Functions = after.Functions }},
		{"Neighbours", func(s *strategy.Snapshot) { s.Neighbours = after.Neighbours }},
		{"Resources", func(s *strategy.Snapshot) { s.Resources = after.Resources }},
		{"Prev", func(s *strategy.Snapshot) { s.Prev = after.Prev }},
		{"Advice", func(s *strategy.Snapshot) { s.Advice = after.Advice }},
	}
	var names []string
	for _, f := range fields {
		s := before.Clone()
		f.set(&s)
		if !s.Equal(before) {
			names = append(names, f.name)
		}
	}
	if len(names) == 0 {
		return "a field of the snapshot"
	}
	return strings.Join(names, ", ")
}

// errDecide marks an error returned by Decide itself.
var errDecide = errors.New("Decide returned an error")

// finite checks the numbers Validate does not: announced function states
// and resources are checked by Validate; this checks every share and limit
// again, and the grants, for NaN and infinity.
func finite(d strategy.Decision) error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	for _, r := range d.Routes {
		if bad(r.Local) || bad(r.Reject) || bad(r.LocalLimit) {
			return fmt.Errorf("route %q has a NaN or infinite number", r.Function)
		}
		for _, sh := range r.Forward {
			if bad(sh.Share) {
				return fmt.Errorf("route %q: NaN or infinite share", r.Function)
			}
		}
		for _, l := range r.Admit {
			if bad(l.Rate) {
				return fmt.Errorf("route %q: NaN or infinite admission limit", r.Function)
			}
		}
	}
	for _, g := range d.Announce.Grants {
		if bad(g.Rate) {
			return fmt.Errorf("grant to %q: NaN or infinite rate", g.To)
		}
	}
	return nil
}

func scribble(d *strategy.Decision) {
	for i := range d.Routes {
		r := &d.Routes[i]
		r.Function = "scribbled"
		for j := range r.Forward {
			r.Forward[j] = strategy.Share{Node: "scribbled", Share: -1}
		}
		for j := range r.Admit {
			r.Admit[j] = strategy.Limit{Node: "scribbled", Rate: -1}
		}
	}
	for i := range d.Announce.Functions {
		d.Announce.Functions[i].Name = "scribbled"
	}
	for i := range d.Announce.Grants {
		d.Announce.Grants[i].To = "scribbled"
	}
	for i := range d.Announce.Data {
		d.Announce.Data[i] = 'x'
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	if len(b) > 4000 {
		return string(b[:4000]) + "..."
	}
	return string(b)
}
