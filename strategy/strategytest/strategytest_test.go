package strategytest

import (
	"math"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/strategy"
)

// TestDetectsBadStrategies checks that the suite fails each kind of
// non-conforming strategy, with a message that says why.
func TestDetectsBadStrategies(t *testing.T) {
	allLocal := func(s strategy.Snapshot) strategy.Decision {
		var d strategy.Decision
		for _, f := range s.Functions {
			if f.Deployed {
				d.Routes = append(d.Routes, strategy.Route{Function: f.Name, Local: 1})
			}
		}
		return d
	}
	counter := 0
	tests := []struct {
		name string
		new  func() strategy.Strategy
		want string
	}{
		{"panics", func() strategy.Strategy {
			return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) { panic("boom") })
		}, "panicked"},
		{"mutates input", func() strategy.Strategy {
			return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
				if len(s.Functions) > 0 {
					s.Functions[0].Offered++
				}
				return allLocal(s), nil
			})
		}, "modified its snapshot"},
		{"NaN share", func() strategy.Strategy {
			return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
				d := allLocal(s)
				for i := range d.Routes {
					d.Routes[i].Local = math.NaN()
				}
				return d, nil
			})
		}, "invalid decision"},
		{"shares not summing to one", func() strategy.Strategy {
			return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
				d := allLocal(s)
				for i := range d.Routes {
					d.Routes[i].Reject = 0.5
				}
				return d, nil
			})
		}, "sum"},
		{"unknown neighbour", func() strategy.Strategy {
			return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
				var d strategy.Decision
				for _, f := range s.Functions {
					d.Routes = append(d.Routes, strategy.Route{Function: f.Name, Forward: []strategy.Share{{Node: "nobody", Share: 1}}})
				}
				return d, nil
			})
		}, "not a neighbour"},
		{"not deterministic", func() strategy.Strategy {
			return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
				counter++ // state shared by every instance
				d := allLocal(s)
				if counter%7 == 0 && len(d.Routes) > 0 {
					d.Routes[0] = strategy.Route{Function: d.Routes[0].Function, Local: 0.5, Reject: 0.5}
				}
				return d, nil
			})
		}, "not deterministic"},
		{"aliases the snapshot", func() strategy.Strategy {
			return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
				d := allLocal(s)
				d.Announce.Functions = s.Prev.Announce.Functions // shared backing array
				if len(s.Neighbours) > 0 {
					d.Announce.Functions = s.Neighbours[0].Announcement.Functions
				}
				return d, nil
			})
		}, "shares memory"},
		{"fails", func() strategy.Strategy {
			return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) { return strategy.Decision{}, errTest })
		}, "failed on a valid snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			for seed := uint64(0); seed < 20 && err == nil; seed++ {
				err = verify(tt.new, seed, Options{Steps: 30})
			}
			if err == nil {
				t.Fatalf("the suite accepted a strategy that %s", tt.name)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", firstLine(err.Error()), tt.want)
			}
		})
	}
}

// TestAllowErrors checks that AllowErrors accepts a strategy that fails.
func TestAllowErrors(t *testing.T) {
	failing := func() strategy.Strategy {
		return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) { return strategy.Decision{}, errTest })
	}
	if err := verify(failing, 1, Options{Steps: 5, AllowErrors: true}); err != nil {
		t.Fatal(err)
	}
}

// TestRunAcceptsConformingStrategy runs the public entry point on a
// minimal conforming strategy.
func TestRunAcceptsConformingStrategy(t *testing.T) {
	Run(t, func() strategy.Strategy {
		return strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
			return strategy.Decision{Announce: strategy.BaseAnnouncement(s)}, nil
		})
	})
}

type testError struct{}

func (testError) Error() string { return "test error" }

var errTest error = testError{}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
