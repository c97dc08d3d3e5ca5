package strategytest

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/strategy"
)

func allLocal(s strategy.Snapshot) strategy.Decision {
	var d strategy.Decision
	for _, f := range s.Functions {
		if f.Deployed {
			d.Routes = append(d.Routes, strategy.Route{Function: f.Name, Local: 1})
		}
	}
	return d
}

// fn makes a factory of strategies deciding with decide.
func fn(decide func(strategy.Snapshot) (strategy.Decision, error)) strategy.Factory {
	return strategy.NewFactory(func() strategy.Strategy { return strategy.Func(decide) })
}

// TestDetectsBadStrategies checks that the suite fails each kind of
// non-conforming strategy, with a message that says why.
func TestDetectsBadStrategies(t *testing.T) {
	counter := 0
	tests := []struct {
		name    string
		factory strategy.Factory
		want    string
	}{
		{"panics", fn(func(s strategy.Snapshot) (strategy.Decision, error) { panic("boom") }), "panicked"},
		{"mutates input", fn(func(s strategy.Snapshot) (strategy.Decision, error) {
			if len(s.Functions) > 0 {
				s.Functions[0].Offered++
			}
			return allLocal(s), nil
		}), "modified its snapshot (Functions; copy a slice"},
		{"sorts the neighbours in place", fn(func(s strategy.Snapshot) (strategy.Decision, error) {
			slices.SortStableFunc(s.Neighbours, strategy.CompareRTT)
			return allLocal(s), nil
		}), "modified its snapshot (Neighbours; copy a slice"},
		{"mutates the decision in force", fn(func(s strategy.Snapshot) (strategy.Decision, error) {
			if len(s.Prev.Routes) > 0 {
				s.Prev.Routes[0].Local = 0.25
			}
			return allLocal(s), nil
		}), "modified its snapshot (Prev;"},
		{"NaN share", fn(func(s strategy.Snapshot) (strategy.Decision, error) {
			d := allLocal(s)
			for i := range d.Routes {
				d.Routes[i].Local = math.NaN()
			}
			return d, nil
		}), "invalid decision"},
		{"shares not summing to one", fn(func(s strategy.Snapshot) (strategy.Decision, error) {
			d := allLocal(s)
			for i := range d.Routes {
				d.Routes[i].Reject = 0.5
			}
			return d, nil
		}), "sum"},
		{"unknown neighbour", fn(func(s strategy.Snapshot) (strategy.Decision, error) {
			var d strategy.Decision
			for _, f := range s.Functions {
				d.Routes = append(d.Routes, strategy.Route{Function: f.Name, Forward: []strategy.Share{{Node: "nobody", Share: 1}}})
			}
			return d, nil
		}), "not a neighbour"},
		{"not deterministic", fn(func(s strategy.Snapshot) (strategy.Decision, error) {
			counter++ // state shared by every instance
			d := allLocal(s)
			if counter%7 == 0 && len(d.Routes) > 0 {
				d.Routes[0] = strategy.Route{Function: d.Routes[0].Function, Local: 0.5, Reject: 0.5}
			}
			return d, nil
		}), "not deterministic"},
		{"aliases the snapshot", fn(func(s strategy.Snapshot) (strategy.Decision, error) {
			d := allLocal(s)
			d.Announce.Functions = s.Prev.Announce.Functions // shared backing array
			if len(s.Neighbours) > 0 {
				d.Announce.Functions = s.Neighbours[0].Announcement.Functions
			}
			return d, nil
		}), "shares memory"},
		{"fails", fn(func(s strategy.Snapshot) (strategy.Decision, error) { return strategy.Decision{}, errTest }),
			"failed on a valid snapshot"},
		{"factory fails", func(json.RawMessage) (strategy.Strategy, error) { return nil, errTest }, "factory failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			for seed := uint64(0); seed < 20 && err == nil; seed++ {
				err = verify(tt.factory, seed, Options{Steps: 30})
			}
			if err == nil {
				t.Fatalf("the suite accepted a strategy that %s", tt.name)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// recorder is a testing.TB that records what a test reports.
type recorder struct {
	testing.TB
	lines []string
}

func (r *recorder) Helper() {}
func (r *recorder) Log(a ...any) {
	r.lines = append(r.lines, strings.Split(strings.TrimSuffix(fmt.Sprint(a...), "\n"), "\n")...)
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.lines = append(r.lines, strings.Split(fmt.Sprintf(format, a...), "\n")...)
	runtime.Goexit()
}

// TestOneLinePerFault: a faulty strategy gets one short line that says
// what is wrong, where, without a doubled prefix (the snapshot and the
// decision only with go test -v).
func TestOneLinePerFault(t *testing.T) {
	bad := fn(func(s strategy.Snapshot) (strategy.Decision, error) {
		d := allLocal(s)
		for i := range d.Routes {
			d.Routes[i].Reject = 0.5
		}
		return d, nil
	})
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(r, bad)
	}()
	<-done
	var fault []string
	for _, l := range r.lines {
		if strings.HasPrefix(l, "strategytest:") {
			fault = append(fault, l)
		}
	}
	if len(fault) != 1 {
		t.Fatalf("%d fault lines, want 1:\n%s", len(fault), strings.Join(r.lines, "\n"))
	}
	l := fault[0]
	if len(l) > 300 || strings.Count(l, "invalid decision") != 1 || !strings.Contains(l, "node-") || !strings.Contains(l, "sum to") {
		t.Fatalf("fault line not short and clear (%d bytes): %s", len(l), l)
	}
	if !testing.Verbose() && len(r.lines) != 1 {
		t.Fatalf("%d lines without -v, want 1:\n%s", len(r.lines), strings.Join(r.lines, "\n"))
	}
}

// TestAllowErrors checks that AllowErrors accepts a strategy that fails.
func TestAllowErrors(t *testing.T) {
	failing := fn(func(s strategy.Snapshot) (strategy.Decision, error) { return strategy.Decision{}, errTest })
	if err := verify(failing, 1, Options{Steps: 5, AllowErrors: true}); err != nil {
		t.Fatal(err)
	}
}

// TestRunAcceptsConformingStrategy runs the public entry point on a
// minimal conforming strategy.
func TestRunAcceptsConformingStrategy(t *testing.T) {
	Run(t, fn(func(s strategy.Snapshot) (strategy.Decision, error) {
		return strategy.Decision{Announce: strategy.BaseAnnouncement(s)}, nil
	}))
}

type testError struct{}

func (testError) Error() string { return "test error" }

var errTest error = testError{}

// TestReplayOneFederation: the seed a fault line names replays that
// federation alone, as the line says, to the same fault.
func TestReplayOneFederation(t *testing.T) {
	// Faulty only on a node that small federations lack.
	bad := fn(func(s strategy.Snapshot) (strategy.Decision, error) {
		d := allLocal(s)
		for i := range d.Routes {
			if s.Self == "node-5" {
				d.Routes[i].Reject = 0.5
			}
		}
		return d, nil
	})
	fault := func(opts Options) string {
		r := &recorder{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			RunWith(r, bad, opts)
		}()
		<-done
		for _, l := range r.lines {
			if strings.HasPrefix(l, "strategytest:") {
				return l
			}
		}
		return ""
	}
	for base := range uint64(20) {
		first := fault(Options{Seed: base})
		var fed, of int
		var seed, again uint64
		if _, err := fmt.Sscanf(first, "strategytest: federation %d of %d (seed %v; alone: RunWith with Options{Seed: %v,", &fed, &of, &seed, &again); err != nil || seed != again {
			t.Fatalf("fault line %q: %v", first, err)
		}
		if fed == 1 {
			continue // replays trivially: find a fault further on
		}
		alone := fault(Options{Seed: seed, Federations: 1})
		_, rest, _ := strings.Cut(first, "): ")
		want := fmt.Sprintf("strategytest: federation 1 of 1 (seed %#x; alone: RunWith with Options{Seed: %#x, Federations: 1}): %s", seed, seed, rest)
		if alone != want {
			t.Fatalf("replay of %q:\n%s\nwant\n%s", first, alone, want)
		}
		return
	}
	t.Fatal("no base seed of 0-19 faults beyond the first federation")
}
