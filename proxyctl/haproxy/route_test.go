package haproxy

import (
	"math"
	"strings"
	"testing"
)

// TestRouteTable checks that a route table realises the shares exactly
// over its buckets and evenly over every run of consecutive buckets (the
// counter wraps around), overflow targets included.
func TestRouteTable(t *testing.T) {
	for _, shares := range [][]float64{
		{1, 0},
		{0.5, 0.2, 0.3, 0},
		{0.1, 0, 0.45, 0.45},
		{0.7, 0.3},
		{0, 0, 0.25, 0.75},
		{0.333, 0.333, 0.334},
		{0.01, 0, 0.99},
	} {
		table := routeTable("f", false, shares)
		w := scaleWeights(shares)
		got := map[string]int{}
		for _, tg := range table {
			got[kind(tg)]++
		}
		for i, n := range w {
			name := "l"
			switch {
			case i == 1:
				name = targetReject
			case i >= 2:
				name = slotTarget(i - 2)
			}
			if got[name] != n {
				t.Errorf("shares %v: %s in %d buckets, want %d (%v)", shares, name, got[name], n, got)
			}
		}
		// Every window of L consecutive buckets is within 1.5 requests of
		// L × share for each target.
		for tgt := range got {
			share := float64(got[tgt]) / buckets
			for L := 1; L <= buckets; L++ {
				for start := range buckets {
					n := 0
					for k := range L {
						if kind(table[(start+k)%buckets]) == tgt {
							n++
						}
					}
					if d := math.Abs(float64(n) - float64(L)*share); d > 1.5 {
						t.Fatalf("shares %v: %s got %d of %d consecutive buckets from %d, want %.1f", shares, tgt, n, L, start, float64(L)*share)
					}
				}
			}
		}
	}
	// Overflow follows the forwarding shares: 3:1 between n1 and n2.
	table := routeTable("f", true, []float64{0.5, 0, 0.375, 0.125})
	over := map[string]int{}
	for _, tg := range table {
		if len(tg) > 2 && tg[:2] == "L/" {
			over[tg[2:]]++
		}
	}
	if over["out.n1"] != 96 || over["out.n2"] != 32 {
		t.Errorf("overflow split %v, want n1 96 and n2 32", over)
	}
	if table := routeTable("f", false, []float64{0, 0, 0}); table[0] != targetNoRoute || table[buckets-1] != targetNoRoute {
		t.Errorf("no share: %q", table[:3])
	}
}

func TestFallbacks(t *testing.T) {
	got := fallbacks([]float64{0.2, 0, 0.5, 0.3})
	want := map[int]string{0: "once.n3", 2: "once.n4", 3: "once.n3"}
	if len(got) != len(want) {
		t.Fatalf("fallbacks %v, want %v", got, want)
	}
	for i, s := range want {
		if got[i] != s {
			t.Errorf("fallback of slot %d: %q, want %q", i, got[i], s)
		}
	}
	if got := fallbacks([]float64{0, 1}); len(got) != 1 || got[1] != "once.n2" {
		t.Errorf("a single neighbour's fallback is itself, once more: %v", got)
	}
}

func TestChunkLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		size int
		want []string
	}{
		{"", 10, nil},
		{"a 1\nb 2\n", 100, []string{"a 1\nb 2\n"}},
		{"a 1\nb 2\nc 3\n", 8, []string{"a 1\nb 2\n", "c 3\n"}},
		{"long line\nx\n", 4, []string{"long line\n", "x\n"}},
	} {
		got := chunkLines(c.in, c.size)
		if len(got) != len(c.want) {
			t.Errorf("chunkLines(%q, %d) = %q, want %q", c.in, c.size, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("chunkLines(%q, %d) = %q, want %q", c.in, c.size, got, c.want)
			}
		}
	}
}

// kind returns the target of a route table entry, "l" for a local one
// (without its overflow).
func kind(target string) string {
	if strings.HasPrefix(target, "gw.") || strings.HasPrefix(target, targetLimited+"/") {
		return "l"
	}
	return target
}
