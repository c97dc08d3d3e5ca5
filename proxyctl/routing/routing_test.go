package routing_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl/routing"
	"github.com/dfaas-go/dfaas/strategy"
)

var t0 = time.Unix(1000, 0)

// count routes n requests at the same instant and counts the outcomes:
// "local", "reject" and the index of each forwarding destination.
func count(r *routing.Route, n int, now time.Time) map[string]int {
	out := map[string]int{}
	for range n {
		switch c, i := r.Pick(now); c {
		case routing.Local:
			out["local"]++
		case routing.Reject:
			out["reject"]++
		default:
			out[fmt.Sprint(i)]++
		}
	}
	return out
}

// TestSharesExact: over any window of W requests the picker gives every
// destination its share of W to within one request.
func TestSharesExact(t *testing.T) {
	p := routing.NewPicker([]float64{0.5, 0.2, 0.3, 0})
	got := make([]int, 4)
	for k := 1; k <= 1000; k++ {
		got[p.Pick()]++
		for i, w := range []float64{0.5, 0.2, 0.3, 0} {
			if d := math.Abs(float64(got[i]) - w*float64(k)); d > 1 {
				t.Fatalf("after %d picks destination %d has %d, want %v±1", k, i, got[i], w*float64(k))
			}
		}
	}
	empty := routing.NewPicker([]float64{0, -1, math.NaN(), math.Inf(1)})
	if i := empty.Pick(); i != -1 {
		t.Fatalf("a picker without a positive finite weight picked %d", i)
	}
}

func TestPick(t *testing.T) {
	tests := []struct {
		name  string
		route strategy.Route
		n     int
		want  map[string]int
	}{
		{"shares", strategy.Route{Local: 0.5, Reject: 0.25, Forward: []strategy.Share{{Node: "b", Share: 0.25}}}, 8,
			map[string]int{"local": 4, "reject": 2, "0": 2}},
		{"local limit overflows to the forwarding shares", strategy.Route{Local: 0.5, LocalLimit: 4,
			Forward: []strategy.Share{{Node: "b", Share: 0.25}, {Node: "c", Share: 0.25}}}, 20,
			// 10 picked local, 2 of them within the burst (4 req/s × 0.5 s); 8 overflow evenly.
			map[string]int{"local": 2, "0": 9, "1": 9}},
		{"local limit without forwarding rejects", strategy.Route{Local: 1, LocalLimit: 2}, 5,
			map[string]int{"local": 1, "reject": 4}},
		{"all weights zero rejects", strategy.Route{}, 3, map[string]int{"reject": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := routing.Compile(tt.route, nil, t0)
			got := count(&r, tt.n, t0)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBucket(t *testing.T) {
	b := routing.NewBucket(10, t0) // burst 5
	taken := 0
	for b.Take(t0) {
		taken++
	}
	if taken != 5 {
		t.Fatalf("burst of 10 req/s: %d, want 5", taken)
	}
	if !b.Take(t0.Add(100*time.Millisecond)) || b.Take(t0.Add(100*time.Millisecond)) {
		t.Fatal("100ms at 10 req/s must earn exactly one token")
	}
	zero := routing.NewBucket(0, t0)
	if zero.Take(t0) || zero.Take(t0.Add(time.Hour)) {
		t.Fatal("a rate of 0 must refuse everything (strategy.Limit)")
	}
	small := routing.NewBucket(0.5, t0)
	if !small.Take(t0) {
		t.Fatal("a positive rate allows a burst of at least one")
	}
}

// TestCarry: a new decision keeps the tokens a bucket has left, so it lets
// no burst through, and a lower rate caps them at the new burst.
func TestCarry(t *testing.T) {
	b := routing.NewBucket(100, t0) // burst 50
	for range 50 {
		b.Take(t0)
	}
	up := b.Carry(200, t0)
	if up.Take(t0) {
		t.Fatal("raising the rate refilled the bucket")
	}
	if up.Rate() != 200 {
		t.Fatalf("rate %v", up.Rate())
	}
	full := routing.NewBucket(100, t0)
	down := full.Carry(2, t0) // burst 1
	if !down.Take(t0) || down.Take(t0) {
		t.Fatal("lowering the rate must cap the tokens at the new burst")
	}
	off := full.Carry(0, t0)
	if off.Take(t0) {
		t.Fatal("carried to rate 0, the bucket must refuse everything")
	}

	// Through Compile: the local limit and the admission caps carry over.
	r := strategy.Route{Local: 1, LocalLimit: 10, Admit: []strategy.Limit{{Node: "b", Rate: 10}}}
	old := routing.Compile(r, nil, t0)
	for range 5 {
		old.Pick(t0)
		old.Admit("b", t0)
	}
	r.LocalLimit, r.Admit[0].Rate = 20, 20
	next := routing.Compile(r, &old, t0)
	if c, _ := next.Pick(t0); c != routing.Reject || next.Admit("b", t0) {
		t.Fatal("a recompiled route refilled its buckets")
	}
	if !next.Admit("c", t0) {
		t.Fatal("a neighbour without a cap must be admitted")
	}
}

func TestDefault(t *testing.T) {
	r, ok := routing.Default(true, 3)
	if got := count(&r, 4, t0); !ok || got["local"] != 4 {
		t.Fatalf("deployed: %v %v", ok, got)
	}
	r, ok = routing.Default(false, 3)
	if got := count(&r, 6, t0); !ok || got["0"] != 2 || got["1"] != 2 || got["2"] != 2 {
		t.Fatalf("runners: %v %v", ok, got)
	}
	if _, ok := routing.Default(false, 0); ok {
		t.Fatal("a function nobody runs has no route")
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	r := routing.Compile(strategy.Route{Local: 0.5, LocalLimit: 1e9, Forward: []strategy.Share{{Node: "b", Share: 0.5}},
		Admit: []strategy.Limit{{Node: "b", Rate: 1e9}}}, nil, t0)
	if n := testing.AllocsPerRun(100, func() { r.Pick(t0); r.Admit("b", t0) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// A route with a local limit: requests picked for local service above the
// limit overflow to the forwarding share.
func ExampleRoute_Pick() {
	now := time.Unix(0, 0)
	r := routing.Compile(strategy.Route{Function: "figlet", Local: 0.5, LocalLimit: 2,
		Forward: []strategy.Share{{Node: "b", Share: 0.5}}}, nil, now)
	for range 6 {
		switch c, i := r.Pick(now); c {
		case routing.Local:
			fmt.Println("local")
		case routing.Forward:
			fmt.Println("forward to destination", i)
		default:
			fmt.Println("reject")
		}
	}
	// Output:
	// local
	// forward to destination 0
	// forward to destination 0
	// forward to destination 0
	// forward to destination 0
	// forward to destination 0
}

// TestRoutingPathsAllocateNothing: every path of the per-request decision
// allocates nothing: picks among shares, overflow above the local limit
// (to several neighbours, and to rejection), the default routes, the
// local-limit check of a retry, and admission with few caps (linear scan)
// and many (binary search).
func TestRoutingPathsAllocateNothing(t *testing.T) {
	fwd := []strategy.Share{{Node: "b", Share: 0.2}, {Node: "c", Share: 0.2}}
	var many []strategy.Limit
	for i := range 20 {
		many = append(many, strategy.Limit{Node: strategy.NodeID(fmt.Sprintf("n%02d", i)), Rate: 1e9})
	}
	overflowing := routing.Compile(strategy.Route{Local: 0.6, LocalLimit: 0.001, Forward: fwd}, nil, t0)
	rejecting := routing.Compile(strategy.Route{Local: 1, LocalLimit: 0.001}, nil, t0)
	deployed, _ := routing.Default(true, 0)
	runners, _ := routing.Default(false, 3)
	capped := routing.Compile(strategy.Route{Local: 1, Admit: many}, nil, t0)
	shareCapped := routing.Compile(strategy.Route{Local: 0.2, Forward: fwd}, nil, t0)
	shareCapped.SetCaps([]strategy.NodeID{"b", "c"}, []routing.Cap{{On: true, Share: 0.1}, {On: true, Share: 0.1}}, nil, t0)
	now := t0
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"overflow to several neighbours", func() { overflowing.Pick(t0) }},
		{"overflow to rejection", func() { rejecting.Pick(t0) }},
		{"default, deployed", func() { deployed.Pick(t0) }},
		{"default, runners", func() { runners.Pick(t0) }},
		{"local limit of a retry", func() { overflowing.TakeLocal(t0) }},
		{"admission, many caps", func() { capped.Admit("n13", t0); capped.Admit("zz", t0) }},
		{"forwarding caps", func() { now = now.Add(time.Millisecond); shareCapped.Pick(now) }},
	} {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per request", tt.name, n)
		}
	}
}
