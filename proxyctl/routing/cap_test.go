package routing_test

import (
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl/routing"
	"github.com/dfaas-go/dfaas/strategy"
)

// run routes n user requests of r at rate req/s from start and returns the
// outcomes as count does, and the time after the last.
func run(r *routing.Route, n int, rate float64, start time.Time) (map[string]int, time.Time) {
	out := map[string]int{}
	now := start
	step := time.Duration(float64(time.Second) / rate)
	for range n {
		now = now.Add(step)
		for k, v := range count(r, 1, now) {
			out[k] += v
		}
	}
	return out, now
}

// TestCaps: a capped destination receives no more than its cap, counted
// from the first request of the load (no forecast, no warm-up), whatever
// the shares say; requests beyond go to another destination within its
// cap, else local service within the local limit, else rejection. A
// trusted rate lets an honest neighbour take what the decision sends it.
func TestCaps(t *testing.T) {
	liar := routing.Cap{On: true, Share: 1.0 / 3}
	tests := []struct {
		name  string
		route strategy.Route
		caps  []routing.Cap
		n     int
		rate  float64
		check func(t *testing.T, got map[string]int, n int)
	}{
		{"a liar with every share, the rest rejected", strategy.Route{Forward: []strategy.Share{{Node: "liar", Share: 1}}},
			[]routing.Cap{liar}, 300, 200, func(t *testing.T, got map[string]int, n int) {
				atMost(t, got["0"], n/3+probes)
				atLeast(t, got["0"], n/3-3)
				if got["reject"] != n-got["0"] {
					t.Errorf("the rest should be rejected: %v", got)
				}
			}},
		{"the local limit overflows to a liar (a load onset): the rest rejected",
			strategy.Route{Local: 1, LocalLimit: 50, Forward: []strategy.Share{{Node: "liar", Share: 1e-9}}},
			[]routing.Cap{liar}, 400, 200, func(t *testing.T, got map[string]int, n int) {
				atMost(t, got["0"], n/3+probes)
				atMost(t, got["local"], 50*2+26) // 2 s at 50 req/s plus the burst
			}},
		{"beyond its cap, to another neighbour within its own",
			strategy.Route{Forward: []strategy.Share{{Node: "liar", Share: 0.9}, {Node: "b", Share: 0.1}}},
			[]routing.Cap{liar, {On: true, Share: 1.0 / 3, Rate: 1000}}, 300, 100, func(t *testing.T, got map[string]int, n int) {
				atMost(t, got["0"], n/3+probes)
				atLeast(t, got["1"], n-n/3-probes)
			}},
		{"beyond its cap, served locally if the route has a local share",
			strategy.Route{Local: 0.1, Forward: []strategy.Share{{Node: "liar", Share: 0.9}}},
			[]routing.Cap{liar}, 300, 100, func(t *testing.T, got map[string]int, n int) {
				atMost(t, got["0"], n/3+probes)
				if got["local"] != n-got["0"] || got["reject"] != 0 {
					t.Errorf("the rest should be served locally: %v", got)
				}
			}},
		{"honest ramp-up: a trusted rate lets all through", strategy.Route{Forward: []strategy.Share{{Node: "b", Share: 1}}},
			[]routing.Cap{{On: true, Share: 1.0 / 3, Rate: 120}}, 300, 100, func(t *testing.T, got map[string]int, n int) {
				if got["0"] != n {
					t.Errorf("a neighbour trusted for 120 req/s got %v of %d at 100 req/s", got, n)
				}
			}},
		{"a trusted rate below the load: the rate, and the share beyond", strategy.Route{Forward: []strategy.Share{{Node: "b", Share: 1}}},
			[]routing.Cap{{On: true, Share: 0.1, Rate: 50}}, 1000, 100, func(t *testing.T, got map[string]int, n int) {
				atMost(t, got["0"], 10*50+50+1) // 10 s at 50 req/s and the burst
				atLeast(t, got["0"], 10*50-10)
			}},
		{"two liars: a third each", strategy.Route{Forward: []strategy.Share{{Node: "l1", Share: 0.5}, {Node: "l2", Share: 0.5}}},
			[]routing.Cap{liar, liar}, 300, 100, func(t *testing.T, got map[string]int, n int) {
				atMost(t, got["0"], n/3+probes)
				atMost(t, got["1"], n/3+probes)
			}},
		{"uncapped: the shares", strategy.Route{Forward: []strategy.Share{{Node: "b", Share: 1}}},
			[]routing.Cap{{}}, 100, 100, func(t *testing.T, got map[string]int, n int) {
				if got["0"] != n {
					t.Errorf("uncapped destination got %v of %d", got, n)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := routing.Compile(tt.route, nil, t0)
			nodes := make([]strategy.NodeID, len(tt.route.Forward))
			for i, sh := range tt.route.Forward {
				nodes[i] = sh.Node
			}
			r.SetCaps(nodes, tt.caps, nil, t0)
			got, _ := run(&r, tt.n, tt.rate, t0)
			tt.check(t, got, tt.n)
			if over := int(r.Capped()); tt.caps[0].On && tt.name != "honest ramp-up: a trusted rate lets all through" && over == 0 {
				t.Errorf("no request counted as capped: %v", got)
			}
		})
	}
}

// TestCapsEveryWindow: the cap holds over every second of a run, not only
// on the whole.
func TestCapsEveryWindow(t *testing.T) {
	r := routing.Compile(strategy.Route{Local: 1, LocalLimit: 50, Forward: []strategy.Share{{Node: "liar", Share: 1e-9}}}, nil, t0)
	r.SetCaps([]strategy.NodeID{"liar"}, []routing.Cap{{On: true, Share: 1.0 / 3}}, nil, t0)
	for s := range 5 {
		got, _ := run(&r, 200, 200, t0.Add(time.Duration(s)*time.Second))
		atMost(t, got["0"], 200/3+2)
	}
}

// TestCapsCarryOver: a new decision carries the counts over, so that
// re-applying a state lets no burst through the cap.
func TestCapsCarryOver(t *testing.T) {
	rt := strategy.Route{Forward: []strategy.Share{{Node: "liar", Share: 1}}}
	caps := []routing.Cap{{On: true, Share: 1.0 / 3}}
	nodes := []strategy.NodeID{"liar"}
	r := routing.Compile(rt, nil, t0)
	r.SetCaps(nodes, caps, nil, t0)
	total := map[string]int{}
	now := t0
	for range 20 {
		var got map[string]int
		got, now = run(&r, 10, 200, now)
		for k, v := range got {
			total[k] += v
		}
		old := r.Clone()
		r = routing.Compile(rt, &old, now)
		r.SetCaps(nodes, caps, &old, now)
	}
	atMost(t, total["0"], 200/3+2)
	r.SetCaps(nodes, []routing.Cap{{}}, nil, now)
	if got := count(&r, 10, now); got["0"] != 10 {
		t.Fatalf("caps removed: %v", got)
	}
}

// probes bounds the requests a capped destination receives beyond its
// share in these runs (of at most 3 s): one more than its share, the
// count decaying by about one a second.
const probes = 4

func atMost(t *testing.T, got, limit int) {
	t.Helper()
	if got > limit {
		t.Errorf("%d requests, above the cap of %d", got, limit)
	}
}

func atLeast(t *testing.T, got, limit int) {
	t.Helper()
	if got < limit {
		t.Errorf("%d requests, below %d", got, limit)
	}
}

// TestCapsGrowWithSuccesses: an honest neighbour without a record, the
// only destination of a route, is held to its share only until its
// successful answers come back (here 50 ms after each request); one that
// answers only errors stays at its share.
func TestCapsGrowWithSuccesses(t *testing.T) {
	for _, honest := range []bool{true, false} {
		r := routing.Compile(strategy.Route{Forward: []strategy.Share{{Node: "b", Share: 1}}}, nil, t0)
		r.SetCaps([]strategy.NodeID{"b"}, []routing.Cap{{On: true, Share: 1.0 / 3, Growth: 3}}, nil, t0)
		var pending []time.Time // answers due
		sent, early := 0, 0
		now := t0
		for k := range 1000 { // 10 s at 100 req/s
			now = now.Add(10 * time.Millisecond)
			for len(pending) > 0 && !pending[0].After(now) {
				if honest {
					r.Succeeded(0, pending[0])
				}
				pending = pending[1:]
			}
			if c, _ := r.Pick(now); c == routing.Forward {
				sent++
				if k < 100 {
					early++
				}
				pending = append(pending, now.Add(50*time.Millisecond))
			}
		}
		switch {
		case honest && sent < 1000-20:
			t.Errorf("honest neighbour: %d of 1000 sent (%d in the first second), want all but the first few", sent, early)
		case !honest && sent > 1000/3+10: // its share, and one request more a second
			t.Errorf("neighbour answering errors: %d of 1000 sent, above its share", sent)
		}
	}
}
