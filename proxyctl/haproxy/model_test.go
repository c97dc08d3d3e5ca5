package haproxy

import (
	"crypto/sha256"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

func TestScaleWeights(t *testing.T) {
	cases := []struct {
		in   []float64
		want []int
	}{
		{[]float64{1}, []int{256}},
		{[]float64{0.5, 0.5}, []int{128, 128}},
		{[]float64{0.5, 0.1, 0.3, 0.1}, []int{128, 26, 77, 25}},
		{[]float64{1, 1, 1}, []int{86, 85, 85}},
		{[]float64{0, 0}, []int{0, 0}},
		{[]float64{0.001, 0.999}, []int{0, 256}},
		{[]float64{math.NaN(), 1, math.Inf(1), -1}, []int{0, 256, 0, 0}},
		{nil, []int{}},
	}
	for _, c := range cases {
		got := scaleWeights(c.in)
		if !slices.Equal(got, c.want) {
			t.Errorf("scaleWeights(%v) = %v, want %v", c.in, got, c.want)
		}
		if s := sumInts(got); s != 0 && s != maxWeight {
			t.Errorf("scaleWeights(%v) sums to %d", c.in, s)
		}
	}
}

func TestRateLimitAndMaxConn(t *testing.T) {
	for in, want := range map[float64]int{0: 0, -1: 0, 0.2: 1, 1.4: 1, 7.5: 8, 100: 100, math.Inf(1): math.MaxInt32} {
		if got := rateLimit(in); got != want {
			t.Errorf("rateLimit(%v) = %d, want %d", in, got, want)
		}
	}
	for _, c := range []struct {
		f    proxyctl.Function
		want int
	}{
		{proxyctl.Function{Concurrency: 8, Capacity: 100}, 8},
		{proxyctl.Function{Capacity: 12.5}, 13},
		{proxyctl.Function{Capacity: 0.1}, 1},
		{proxyctl.Function{}, 0},
		{proxyctl.Function{Capacity: 1e12}, 1 << 20},
	} {
		if got := maxConn(c.f); got != c.want {
			t.Errorf("maxConn(%+v) = %d, want %d", c.f, got, c.want)
		}
	}
}

func TestQueueCapEntry(t *testing.T) {
	for _, c := range []struct {
		f    proxyctl.Function
		want int
	}{
		{proxyctl.Function{Concurrency: 2, MaxQueue: 3}, 3},
		{proxyctl.Function{Concurrency: 2}, 0},
		{proxyctl.Function{Capacity: 10, MaxQueue: 3}, 0}, // concurrency unknown
		{proxyctl.Function{Concurrency: 1, MaxQueue: math.MaxInt}, math.MaxInt32},
		{proxyctl.Function{Concurrency: 1, MaxQueue: -1}, 0},
	} {
		if got := queueCap(c.f); got != c.want {
			t.Errorf("queueCap(%+v) = %d, want %d", c.f, got, c.want)
		}
	}
}

func TestEncodings(t *testing.T) {
	for _, s := range []string{"node-a", "node b", "a+b?c=d&e%f", "ünï", `q"uote\`, ""} {
		enc := urlEncode(s)
		if strings.ContainsAny(enc, "+? \"\\") {
			t.Errorf("urlEncode(%q) = %q holds a character url_dec may change", s, enc)
		}
		if dec, err := url.PathUnescape(enc); err != nil || dec != s {
			t.Errorf("urlEncode(%q) = %q decodes to %q, %v", s, enc, dec, err)
		}
	}
	sum := sha256.Sum256([]byte("node-a"))
	if k := nodeKey("node-a"); len(k) != 16 || k != strings.ToUpper(string(hexOf(sum[:8]))) {
		t.Errorf("nodeKey = %q", k)
	}
	if h := tokenHash("t"); len(h) != 64 || strings.ToUpper(h) != h {
		t.Errorf("tokenHash = %q", h)
	}
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

func TestBuild(t *testing.T) {
	s := goldenState()
	lay := layout{configured: true, self: s.Self, functions: neededFunctions(s), slots: 2}
	if !slices.Equal(lay.functions, []string{"figlet", "ocr", "shasum"}) {
		t.Fatalf("needed functions %v (sleep is run by node-d, which this node does not forward to)", lay.functions)
	}
	slots := []slotState{{node: "node b"}, {node: "node-c"}}
	d := build(s, lay, slots, nil)
	routes := parseMap(d.maps[mapRoute])
	count := func(fn string) map[string]int {
		c := map[string]int{}
		for b := range buckets {
			c[routes[strconv.Itoa(b)+"/"+fn]]++
		}
		return c
	}
	for fn, want := range map[string]map[string]int{
		// figlet: the decision (local 0.5, reject 0.1, b 0.3, c 0.1);
		// local requests overflow to b and c 77:25.
		"figlet": {"L/out.n1": 97, "L/out.n2": 31, "reject": 26, "out.n1": 77, "out.n2": 25},
		// ocr: only node b runs it.
		"ocr": {"out.n1": 256},
		// shasum: deployed here, no route: local, overflowing to rejection.
		"shasum": {"gw.shasum/reject": 256},
	} {
		if got := count(fn); !maps.Equal(got, want) {
			t.Errorf("route table of %s: %v, want %v", fn, got, want)
		}
	}
	if d.maxconn["figlet"] != 8 || d.maxconn["shasum"] != 13 || d.maxconn["ocr"] != 0 {
		t.Errorf("maxconn %v", d.maxconn)
	}
	if got := d.maps[mapFns]; got != "figlet 80\nocr 0\nshasum 0\n" {
		t.Errorf("fns map %q", got)
	}
	if got := d.maps[mapFallback]; got != "figlet/n1 once.n2\nfiglet/n2 once.n1\nocr/n1 once.n1\n" {
		t.Errorf("fallback map %q (ocr has no alternative to b: b once more)", got)
	}
	wantAdmit := []string{nodeKey("node b") + "/figlet 7", nodeKey("node-d") + "/figlet 0"}
	slices.Sort(wantAdmit)
	if got := d.maps[mapAdmit]; got != strings.Join(wantAdmit, "\n")+"\n" {
		t.Errorf("admit map %q", got)
	}
	if !strings.Contains(d.maps[mapIDs], "n1 node%20b\n") {
		t.Errorf("ids map %q", d.maps[mapIDs])
	}
	if got := d.maps[mapQueue]; got != "figlet 32\n" {
		t.Errorf("queue map %q, want figlet's cap only (shasum's concurrency is unknown)", got)
	}
	if got := d.maps[mapTimeouts]; got != "figlet 5000\n" {
		t.Errorf("timeouts map %q", got)
	}
	// The neighbours' literal addresses are exempt from the per-source cap.
	if got := d.maps[mapSources]; !strings.Contains(got, "10.0.0.2 1\n") {
		t.Errorf("sources map %q", got)
	}
	// A function available nowhere: every bucket says no route.
	lay.functions = append(lay.functions, "gone")
	d = build(s, lay, slots, nil)
	routes = parseMap(d.maps[mapRoute])
	if got := count("gone"); !maps.Equal(got, map[string]int{"noroute": 256}) {
		t.Errorf("a function available nowhere: %v", got)
	}
}

// parseMap reads a map file into key → value.
func parseMap(content string) map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSuffix(content, "\n"), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			m[k] = v
		}
	}
	return m
}

func TestCheckState(t *testing.T) {
	base := func() proxyctl.State {
		return proxyctl.State{Self: "a", Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://10.0.0.2:1", TokenOut: "x", TokenIn: "y"}}}
	}
	for _, c := range []struct {
		name string
		mod  func(*proxyctl.State)
		want string
	}{
		{"fine", func(*proxyctl.State) {}, ""},
		{"control character in self", func(s *proxyctl.State) { s.Self = "a\r" }, "self"},
		{"newline in a token", func(s *proxyctl.State) { s.Neighbours[0].TokenIn = "y\nz" }, `neighbour "b"`},
		{"long id", func(s *proxyctl.State) { s.Neighbours[0].ID = strategy.NodeID(strings.Repeat("b", 300)) }, "longer than"},
		{"padded token", func(s *proxyctl.State) { s.Neighbours[0].TokenOut = " x" }, "white space"},
		{"non-ASCII id", func(s *proxyctl.State) { s.Neighbours[0].ID = "bé" }, "visible ASCII"},
		{"invalid state", func(s *proxyctl.State) { s.Self = "" }, "empty Self"},
	} {
		s := base()
		c.mod(&s)
		err := checkState(s)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	if _, err := Render(Config{GatewayURL: "http://127.0.0.1:1"}, goldenState()); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Errorf("no Dir: %v", err)
	}
	s := goldenState()
	s.Neighbours[0].URL = "http://node-b.example:30080"
	if _, err := Render(goldenConfig(), s); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("host name in Render: %v", err)
	}
	// More neighbours than slots: the slots double.
	s = goldenState()
	cfg := goldenConfig()
	cfg.Slots = 1
	f, err := Render(cfg, s)
	if err != nil || !strings.Contains(f.Config, "backend out.n2") || strings.Contains(f.Config, "backend out.n3") {
		t.Errorf("slot growth: %v", err)
	}
}

// FuzzRender checks that any state Render accepts gives a configuration
// whose lines hold only visible characters, and that rendering is
// deterministic.
func FuzzRender(f *testing.F) {
	f.Add("node-a", "figlet", "b", "http://10.0.0.2:30080", "tok", 0.5, 0.2, 7.0)
	f.Add("x y", "f.g_h-1", "%zz", "http://[::1]:1", "t\"o'k", 1.0, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, self, fn, nb, url, tok string, local, reject, limit float64) {
		s := proxyctl.State{
			Self:       strategy.NodeID(self),
			Functions:  []proxyctl.Function{{Name: fn}},
			Neighbours: []proxyctl.Neighbour{{ID: strategy.NodeID(nb), URL: url, Functions: []string{fn}, TokenOut: tok, TokenIn: tok, Forward: true}},
		}
		r := strategy.NewRoute(fn, local, reject, map[strategy.NodeID]float64{strategy.NodeID(nb): 1 - local})
		r.LocalLimit = limit
		s.Decision.Routes = []strategy.Route{r}
		a, err := Render(goldenConfig(), s)
		if err != nil {
			return
		}
		b, _ := Render(goldenConfig(), s)
		if a.Config != b.Config {
			t.Fatal("not deterministic")
		}
		for i, line := range strings.Split(a.Config, "\n") {
			for _, c := range []byte(line) {
				if c < ' ' || c > '~' {
					t.Fatalf("line %d has byte %#x: %q", i+1, c, line)
				}
			}
		}
		for name, m := range a.Maps {
			for _, line := range strings.Split(strings.TrimSuffix(m, "\n"), "\n") {
				if line == "" {
					continue
				}
				if k, v, ok := strings.Cut(line, " "); !ok || k == "" || v == "" || strings.ContainsAny(line, "\t\r\"'\\") || strings.Count(line, " ") != 1 {
					t.Fatalf("map %s: bad line %q", name, line)
				}
			}
		}
	})
}
