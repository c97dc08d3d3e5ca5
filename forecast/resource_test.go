package forecast_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/forecast"
)

func newModel(t testing.TB, cfg forecast.ResourceConfig) *forecast.ResourceModel {
	t.Helper()
	m, err := forecast.NewResourceModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResourceConfigValidate(t *testing.T) {
	tests := []struct {
		cfg forecast.ResourceConfig
		err string
	}{
		{forecast.ResourceConfig{}, ""},
		{forecast.ResourceConfig{Forgetting: 1, Quantile: 0.5, Window: 10, MaxFunctions: 1, Regularization: 1}, ""},
		{forecast.ResourceConfig{Forgetting: 1.1}, "Forgetting 1.1"},
		{forecast.ResourceConfig{Forgetting: -0.5}, "Forgetting -0.5"},
		{forecast.ResourceConfig{Forgetting: math.NaN()}, "Forgetting NaN"},
		{forecast.ResourceConfig{Quantile: 1}, "Quantile 1"},
		{forecast.ResourceConfig{Quantile: -0.1}, "Quantile -0.1"},
		{forecast.ResourceConfig{Window: -1}, "Window -1"},
		{forecast.ResourceConfig{MaxFunctions: -3}, "MaxFunctions -3"},
		{forecast.ResourceConfig{Regularization: math.Inf(1)}, "Regularization +Inf"},
		{forecast.ResourceConfig{Regularization: -1}, "Regularization -1"},
	}
	for _, tt := range tests {
		_, err := forecast.NewResourceModel(tt.cfg)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("NewResourceModel(%+v) error %v, want %q", tt.cfg, err, tt.err)
		}
	}
}

// machine is a synthetic node: usage linear in the rates plus noise.
type machine struct {
	base, cost forecast.Usage
	costs      map[string]forecast.Usage
	noise      float64 // relative
	rng        *rand.Rand
}

func (m *machine) usage(rates map[string]float64) forecast.Usage {
	u := m.base
	for f, r := range rates {
		c := m.costs[f]
		u.CPU += c.CPU * r
		u.Memory += c.Memory * r
		u.Power += c.Power * r
	}
	n := func(v float64) float64 { return max(1e-9, v*(1+m.noise*m.rng.NormFloat64())) }
	return forecast.Usage{CPU: n(u.CPU), Memory: n(u.Memory), Power: n(u.Power)}
}

func randomRates(rng *rand.Rand, fns ...string) map[string]float64 {
	r := map[string]float64{}
	for _, f := range fns {
		if rng.IntN(4) > 0 {
			r[f] = rng.Float64() * 50
		}
	}
	return r
}

func TestResourceModelLearns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mc := &machine{
		base: forecast.Usage{CPU: 0.2, Memory: 1e9, Power: 30},
		costs: map[string]forecast.Usage{
			"cpu":    {CPU: 0.02, Memory: 1e5, Power: 0.5},
			"mem":    {CPU: 0.005, Memory: 2e7, Power: 0.1},
			"figlet": {CPU: 0.001, Memory: 0, Power: 0.02},
		},
		noise: 0.03, rng: rng,
	}
	m := newModel(t, forecast.ResourceConfig{})
	var inside, total int
	for i := range 2000 {
		rates := randomRates(rng, "cpu", "mem", "figlet")
		u := mc.usage(rates)
		if i >= 500 {
			p, err := m.Predict(rates)
			if err != nil {
				t.Fatal(err)
			}
			if p.Upper.CPU < p.Mean.CPU || p.Upper.Memory < p.Mean.Memory || p.Upper.Power < p.Mean.Power {
				t.Fatalf("Upper %+v below Mean %+v", p.Upper, p.Mean)
			}
			total++
			if u.CPU <= p.Upper.CPU {
				inside++
			}
		}
		if err := m.Observe(rates, u); err != nil {
			t.Fatal(err)
		}
	}
	for f, want := range mc.costs {
		got, ok := m.Cost(f)
		if !ok {
			t.Fatalf("Cost(%q) not learned", f)
		}
		if math.Abs(got.CPU-want.CPU) > 0.1*want.CPU+1e-4 || math.Abs(got.Memory-want.Memory) > 0.1*want.Memory+2e5 {
			t.Errorf("Cost(%q) = %+v, want about %+v", f, got, want)
		}
	}
	if b := m.Base(); math.Abs(b.CPU-0.2) > 0.05 || math.Abs(b.Memory-1e9)/1e9 > 0.05 {
		t.Errorf("Base() = %+v, want about %+v", b, mc.base)
	}
	// The upper prediction is the 95 % quantile of recent errors: about
	// 95 % of new observations fall below it.
	if cov := float64(inside) / float64(total); cov < 0.9 || cov > 0.99 {
		t.Errorf("%.3f of observations below the upper CPU prediction, want about 0.95", cov)
	}
	if m.Observations() != 2000 {
		t.Errorf("Observations() = %d, want 2000", m.Observations())
	}
}

// TestResourceModelAdapts checks forgetting (a cost that changes is
// re-learned) and stabilization (a cost the data stops exciting is kept).
func TestResourceModelAdapts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	mc := &machine{
		base:  forecast.Usage{CPU: 0.1},
		costs: map[string]forecast.Usage{"a": {CPU: 0.01}, "b": {CPU: 0.03}},
		noise: 0.02, rng: rng,
	}
	m := newModel(t, forecast.ResourceConfig{})
	feed := func(n int, fns ...string) {
		for range n {
			r := randomRates(rng, fns...)
			if err := m.Observe(r, mc.usage(r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed(500, "a", "b")
	feed(1000, "a") // b idle from now on
	if b, _ := m.Cost("b"); math.Abs(b.CPU-0.03) > 0.003 {
		t.Errorf("cost of b after 1000 idle periods: %v, want it kept at about 0.03", b.CPU)
	}
	mc.costs["a"] = forecast.Usage{CPU: 0.02} // say, a new version of a
	feed(500, "a", "b")
	if a, _ := m.Cost("a"); math.Abs(a.CPU-0.02) > 0.002 {
		t.Errorf("cost of a after it doubled: %v, want about 0.02", a.CPU)
	}
	if b, _ := m.Cost("b"); math.Abs(b.CPU-0.03) > 0.003 {
		t.Errorf("cost of b after the cost of a changed: %v, want about 0.03", b.CPU)
	}
}

func TestResourceModelNonNegative(t *testing.T) {
	// Two functions whose rates always move together cannot be told
	// apart; the model must still not learn a negative cost.
	rng := rand.New(rand.NewPCG(5, 6))
	m := newModel(t, forecast.ResourceConfig{})
	for range 300 {
		x := rng.Float64() * 20
		r := map[string]float64{"x": x, "y": 2 * x}
		if err := m.Observe(r, forecast.Usage{CPU: 0.1 + 0.05*x + 0.01*rng.NormFloat64()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"x", "y"} {
		if c, _ := m.Cost(f); c.CPU < 0 || c.Memory < 0 || c.Power < 0 {
			t.Errorf("Cost(%q) = %+v, negative", f, c)
		}
	}
	p, _ := m.Predict(map[string]float64{"x": 10, "y": 20})
	if math.Abs(p.Mean.CPU-0.6) > 0.02 {
		t.Errorf("Predict on the observed mix: %v, want 0.6", p.Mean.CPU)
	}
}

func TestResourceModelErrors(t *testing.T) {
	m := newModel(t, forecast.ResourceConfig{MaxFunctions: 2})
	ok := map[string]float64{"a": 1}
	if err := m.Observe(ok, forecast.Usage{CPU: 0.5, Memory: 1e9}); err != nil {
		t.Fatal(err)
	}
	before, _ := m.Predict(ok)
	tests := []struct {
		name  string
		rates map[string]float64
		u     forecast.Usage
		err   string
	}{
		{"negative rate", map[string]float64{"a": -1}, forecast.Usage{CPU: 1}, `rate of "a" is -1`},
		{"NaN rate", map[string]float64{"a": math.NaN()}, forecast.Usage{CPU: 1}, `rate of "a" is NaN`},
		{"empty name", map[string]float64{"": 1}, forecast.Usage{CPU: 1}, "empty function name"},
		{"NaN usage", ok, forecast.Usage{CPU: math.NaN()}, "usage cpu NaN"},
		{"negative memory", ok, forecast.Usage{Memory: -5}, "usage memory -5"},
		{"infinite power", ok, forecast.Usage{Power: math.Inf(1)}, "usage power +Inf"},
		{"too many functions", map[string]float64{"a": 1, "b": 1, "c": 1}, forecast.Usage{CPU: 1}, "3 functions with a positive rate, MaxFunctions is 2"},
	}
	for _, tt := range tests {
		err := m.Observe(tt.rates, tt.u)
		if !errors.Is(err, forecast.ErrBadInput) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: Observe error %v, want ErrBadInput containing %q", tt.name, err, tt.err)
		}
	}
	if m.Observations() != 1 {
		t.Errorf("Observations() = %d after rejected input, want 1", m.Observations())
	}
	if after, _ := m.Predict(ok); after != before {
		t.Errorf("rejected input changed the model: %+v -> %+v", before, after)
	}
	if _, err := m.Predict(map[string]float64{"zz": 1}); !errors.Is(err, forecast.ErrUnknownFunction) || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("Predict of an unknown function: %v, want ErrUnknownFunction naming it", err)
	}
	if _, err := m.Predict(map[string]float64{"zz": 0, "a": 1}); err != nil {
		t.Errorf("Predict with an unknown function at rate 0: %v", err)
	}
	if _, err := m.Headroom(ok, "zz", forecast.Usage{CPU: 1}); !errors.Is(err, forecast.ErrUnknownFunction) {
		t.Errorf("Headroom of an unknown function: %v, want ErrUnknownFunction", err)
	}
	if _, err := m.Headroom(ok, "a", forecast.Usage{CPU: -1}); !errors.Is(err, forecast.ErrBadInput) {
		t.Errorf("Headroom with a negative limit: %v, want ErrBadInput", err)
	}
}

func TestResourceModelEvicts(t *testing.T) {
	m := newModel(t, forecast.ResourceConfig{MaxFunctions: 2})
	obs := func(r map[string]float64) {
		t.Helper()
		if err := m.Observe(r, forecast.Usage{CPU: 1}); err != nil {
			t.Fatal(err)
		}
	}
	obs(map[string]float64{"a": 1})
	obs(map[string]float64{"b": 1})
	obs(map[string]float64{"a": 1, "b": 1})
	obs(map[string]float64{"a": 1}) // b idle for longest now
	obs(map[string]float64{"c": 1})
	if _, ok := m.Cost("b"); ok {
		t.Error("b, idle for longest, was not evicted")
	}
	for _, f := range []string{"a", "c"} {
		if _, ok := m.Cost(f); !ok {
			t.Errorf("%s was evicted", f)
		}
	}
}

func TestHeadroom(t *testing.T) {
	m := newModel(t, forecast.ResourceConfig{})
	rng := rand.New(rand.NewPCG(7, 8))
	for range 400 {
		a, b := rng.Float64()*20, rng.Float64()*20
		u := forecast.Usage{CPU: 0.5 + 0.05*a + 0.01*b, Memory: 1e9 + 1e7*b}
		if err := m.Observe(map[string]float64{"a": a, "b": b}, u); err != nil {
			t.Fatal(err)
		}
	}
	now := map[string]float64{"a": 10, "b": 10}
	tests := []struct {
		fn    string
		limit forecast.Usage
		want  float64
	}{
		{"a", forecast.Usage{CPU: 2}, (2 - 1.1) / 0.05},
		{"b", forecast.Usage{CPU: 2}, (2 - 1.1) / 0.01},
		{"b", forecast.Usage{CPU: 2, Memory: 1.2e9}, (1.2e9 - 1.1e9) / 1e7}, // memory binds first
		{"a", forecast.Usage{Memory: 1.2e9}, 1e5},                           // a uses (next to) no memory: at least 1e5
		{"a", forecast.Usage{}, math.Inf(1)},
		{"a", forecast.Usage{CPU: 1}, 0}, // already over
	}
	for _, tt := range tests {
		got, err := m.Headroom(now, tt.fn, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == 1e5 {
			if got < tt.want {
				t.Errorf("Headroom(%s, %+v) = %v, want at least %v", tt.fn, tt.limit, got, tt.want)
			}
			continue
		}
		if math.IsInf(tt.want, 1) != math.IsInf(got, 1) || !math.IsInf(got, 1) && math.Abs(got-tt.want) > 0.02*tt.want+0.01 {
			t.Errorf("Headroom(%s, %+v) = %v, want %v", tt.fn, tt.limit, got, tt.want)
		}
	}
}

// TestResourceModelDeterministic feeds two models the same observations,
// with maps built in different orders, and wants identical predictions.
func TestResourceModelDeterministic(t *testing.T) {
	a := newModel(t, forecast.ResourceConfig{})
	b := newModel(t, forecast.ResourceConfig{})
	rng := rand.New(rand.NewPCG(9, 9))
	names := []string{"f1", "f2", "f3", "f4", "f5", "f6"}
	for range 300 {
		ra, rb := map[string]float64{}, map[string]float64{}
		vals := make([]float64, len(names))
		for i := range names {
			vals[i] = rng.Float64() * 10
		}
		for i := range names {
			ra[names[i]] = vals[i]
		}
		for i := len(names) - 1; i >= 0; i-- {
			rb[names[i]] = vals[i]
		}
		u := forecast.Usage{CPU: rng.Float64() + 0.1, Memory: 1e9 * (1 + rng.Float64())}
		if err := a.Observe(ra, u); err != nil {
			t.Fatal(err)
		}
		if err := b.Observe(rb, u); err != nil {
			t.Fatal(err)
		}
		pa, _ := a.Predict(ra)
		pb, _ := b.Predict(rb)
		if pa != pb {
			t.Fatalf("predictions differ: %+v vs %+v", pa, pb)
		}
	}
}

// FuzzResourceModel drives a model with arbitrary observations and
// queries: no panic, and predictions stay finite and ordered.
func FuzzResourceModel(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{255, 0, 255, 0, 128, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := forecast.NewResourceModel(forecast.ResourceConfig{MaxFunctions: 3, Window: 8})
		if err != nil {
			t.Fatal(err)
		}
		val := func(b byte) float64 {
			switch b {
			case 255:
				return math.NaN()
			case 254:
				return -1
			case 253:
				return 1e300
			}
			return float64(b) / 7
		}
		for len(data) >= 4 {
			op, fn, x, y := data[0], data[1], data[2], data[3]
			data = data[4:]
			name := fmt.Sprintf("f%d", fn%5)
			rates := map[string]float64{name: val(x), "g": float64(op % 3)}
			u := forecast.Usage{CPU: val(y), Memory: val(y) * 1e8}
			switch op % 5 {
			case 3:
				p, err := m.PredictFrom(u, map[string]float64{"g": 1}, rates)
				if err == nil && (math.IsNaN(p.Mean.CPU) || p.Mean.CPU < 0 || p.Upper.CPU < p.Mean.CPU) {
					t.Fatalf("anchored prediction %+v", p)
				}
			case 4:
				h, err := m.HeadroomFrom(u, rates, "g", forecast.Usage{CPU: 2})
				if err == nil && (math.IsNaN(h) || h < 0) {
					t.Fatalf("anchored headroom %v", h)
				}
			case 0:
				_ = m.Observe(rates, u)
			case 1:
				p, err := m.Predict(rates)
				if err == nil {
					for _, v := range []float64{p.Mean.CPU, p.Mean.Memory, p.Upper.CPU, p.Upper.Memory} {
						if math.IsNaN(v) || v < 0 {
							t.Fatalf("prediction %+v", p)
						}
					}
					if p.Upper.CPU < p.Mean.CPU {
						t.Fatalf("upper below mean: %+v", p)
					}
				}
			case 2:
				h, err := m.Headroom(rates, name, u)
				if err == nil && (math.IsNaN(h) || h < 0) {
					t.Fatalf("headroom %v", h)
				}
			}
		}
	})
}

func ExampleResourceModel() {
	m, err := forecast.NewResourceModel(forecast.ResourceConfig{})
	if err != nil {
		panic(err)
	}
	// Each period: the rates processed locally and the usage measured.
	// Here a machine where resize costs 20 ms of CPU a request and
	// thumbnail 5 ms, on top of 0.3 cores busy at rest.
	for i := range 200 {
		resize, thumb := float64(i%17), float64(i%5)*4
		used := forecast.Usage{CPU: 0.3 + 0.02*resize + 0.005*thumb}
		if err := m.Observe(map[string]float64{"resize": resize, "thumbnail": thumb}, used); err != nil {
			panic(err)
		}
	}
	c, _ := m.Cost("resize")
	fmt.Printf("resize: %.3f CPU seconds a request\n", c.CPU)
	// How many more resize requests per second fit under 1.5 cores?
	h, err := m.Headroom(map[string]float64{"resize": 20, "thumbnail": 40}, "resize", forecast.Usage{CPU: 1.5})
	if err != nil {
		panic(err)
	}
	fmt.Printf("headroom: %.0f req/s\n", h)
	// Output:
	// resize: 0.020 CPU seconds a request
	// headroom: 30 req/s
}

// BenchmarkResourceModelObserve is one period's learning on a node running
// 10 functions (the agent does it once per control period).
func BenchmarkResourceModelObserve(b *testing.B) {
	m := newModel(b, forecast.ResourceConfig{})
	rng := rand.New(rand.NewPCG(1, 1))
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("f%d", i)
	}
	obs := make([]map[string]float64, 64)
	for i := range obs {
		obs[i] = randomRates(rng, names...)
	}
	b.ResetTimer()
	for i := range b.N {
		r := obs[i%len(obs)]
		if err := m.Observe(r, forecast.Usage{CPU: 1 + float64(len(r)), Memory: 1e9}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPredictFrom checks the anchored prediction on a machine where
// another program adds a varying load the model cannot see.
func TestPredictFrom(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	m := newModel(t, forecast.ResourceConfig{})
	other := 0.5
	usage := func(r map[string]float64) forecast.Usage {
		return forecast.Usage{CPU: other + 0.1 + 0.02*r["a"] + 0.01*r["b"] + 0.005*rng.NormFloat64()}
	}
	var prevR map[string]float64
	var prevU forecast.Usage
	var errPredict, errFrom float64
	for i := range 1500 {
		if i%100 == 0 {
			other = rng.Float64() // the other program changes what it uses
		}
		r := map[string]float64{"a": rng.Float64() * 20, "b": rng.Float64() * 20}
		u := usage(r)
		if i >= 500 && i%100 != 0 {
			p, err := m.Predict(r)
			if err != nil {
				t.Fatal(err)
			}
			pf, err := m.PredictFrom(prevU, prevR, r)
			if err != nil {
				t.Fatal(err)
			}
			errPredict += math.Abs(u.CPU - p.Mean.CPU)
			errFrom += math.Abs(u.CPU - pf.Mean.CPU)
			if pf.Upper.CPU < pf.Mean.CPU {
				t.Fatalf("upper %v below mean %v", pf.Upper.CPU, pf.Mean.CPU)
			}
		}
		if err := m.Observe(r, u); err != nil {
			t.Fatal(err)
		}
		prevR, prevU = r, u
	}
	if errFrom > 0.3*errPredict {
		t.Errorf("PredictFrom error %.3f not well under Predict's %.3f with an unseen varying load", errFrom, errPredict)
	}
	// Anchored headroom: from the measured usage, not the model's level.
	now := map[string]float64{"a": 10, "b": 10}
	h, err := m.HeadroomFrom(forecast.Usage{CPU: 1.0}, now, "a", forecast.Usage{CPU: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	_, change := m.Margin()
	c, _ := m.Cost("a")
	if math.Abs(c.CPU-0.02) > 0.002 {
		t.Errorf("Cost(a) = %v, want about 0.02", c.CPU)
	}
	if want := (1.5 - 1.0 - change.CPU) / c.CPU; math.Abs(h-want) > 1e-9*want {
		t.Errorf("HeadroomFrom = %v, want (limit - now - margin) / cost = %v", h, want)
	}
	for _, tt := range []struct {
		now  forecast.Usage
		from map[string]float64
		want error
	}{
		{forecast.Usage{CPU: math.NaN()}, now, forecast.ErrBadInput},
		{forecast.Usage{CPU: 1}, map[string]float64{"a": -2}, forecast.ErrBadInput},
		{forecast.Usage{CPU: 1}, map[string]float64{"new": 2}, forecast.ErrUnknownFunction},
	} {
		if _, err := m.PredictFrom(tt.now, tt.from, now); !errors.Is(err, tt.want) {
			t.Errorf("PredictFrom(%+v, %v) error %v, want %v", tt.now, tt.from, err, tt.want)
		}
	}
}

// TestObserveFunction: two functions that always run in the same
// proportion cannot be told apart from the node's usage (the model splits
// their costs arbitrarily), but usage measured per function (cAdvisor)
// gives each its own cost; a metric not measured per function keeps the
// cost inferred from the node.
func TestObserveFunction(t *testing.T) {
	costs := map[string]forecast.Usage{"heavy": {CPU: 0.05, Memory: 2e6}, "light": {CPU: 0.005, Memory: 1e5}}
	learn := func(measured bool) *forecast.ResourceModel {
		rng := rand.New(rand.NewPCG(3, 4))
		m := newModel(t, forecast.ResourceConfig{})
		for range 300 {
			r := 5 + 45*rng.Float64() // heavy and light in fixed proportion
			rates := map[string]float64{"heavy": r, "light": r}
			node := forecast.Usage{CPU: 0.3, Memory: 5e8}
			for _, fn := range []string{"heavy", "light"} {
				c := costs[fn]
				own := forecast.Usage{CPU: 0.01 + c.CPU*r, Memory: 3e7 + c.Memory*r} // an idle replica costs a little too
				node.CPU += own.CPU
				node.Memory += own.Memory
				if measured {
					// Memory is not measured for light.
					if fn == "light" {
						own.Memory = 0
					}
					if err := m.ObserveFunction(fn, r, own); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := m.Observe(rates, node); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	inferred := learn(false)
	h, _ := inferred.Cost("heavy")
	l, _ := inferred.Cost("light")
	if math.Abs(h.CPU+l.CPU-0.055) > 0.005 {
		t.Fatalf("inferred CPU costs %v + %v, want a sum of about 0.055", h.CPU, l.CPU)
	}
	if math.Abs(h.CPU-0.05) < 0.01 {
		t.Fatalf("inferred CPU cost of heavy %v: the node's usage was not supposed to tell the functions apart", h.CPU)
	}
	m := learn(true)
	h, okH := m.Cost("heavy")
	l, okL := m.Cost("light")
	if !okH || !okL || math.Abs(h.CPU-0.05) > 0.002 || math.Abs(l.CPU-0.005) > 0.0005 || math.Abs(h.Memory-2e6) > 1e5 {
		t.Errorf("costs from measurements: heavy %+v light %+v, want CPU 0.05 and 0.005, heavy memory 2e6", h, l)
	}
	if li, _ := inferred.Cost("light"); l.Memory != li.Memory {
		t.Errorf("light's memory cost %v, want the one inferred from the node, %v", l.Memory, li.Memory)
	}

	// Bad input changes nothing.
	for _, tt := range []struct {
		fn   string
		rate float64
		u    forecast.Usage
	}{{"", 1, forecast.Usage{CPU: 1}}, {"heavy", -1, forecast.Usage{CPU: 1}}, {"heavy", 1, forecast.Usage{CPU: math.NaN()}}, {"heavy", 1, forecast.Usage{Memory: -1}}, {"heavy", math.Inf(1), forecast.Usage{CPU: 1}}} {
		if err := m.ObserveFunction(tt.fn, tt.rate, tt.u); !errors.Is(err, forecast.ErrBadInput) {
			t.Errorf("ObserveFunction(%q, %v, %+v) = %v, want ErrBadInput", tt.fn, tt.rate, tt.u, err)
		}
	}
	if h2, _ := m.Cost("heavy"); h2 != h {
		t.Errorf("bad input changed heavy's cost from %+v to %+v", h, h2)
	}

	// A function only measured (never seen by Observe) has a cost once it
	// had load; measurements of more than MaxFunctions functions forget
	// the one measured least recently.
	small := newModel(t, forecast.ResourceConfig{MaxFunctions: 2})
	if err := small.ObserveFunction("a", 0, forecast.Usage{CPU: 0.1}); err != nil {
		t.Fatal(err)
	}
	if _, ok := small.Cost("a"); ok {
		t.Error("a cost learned without load")
	}
	for _, fn := range []string{"a", "b", "c"} {
		for i := range 20 {
			r := float64(1 + i)
			if err := small.ObserveFunction(fn, r, forecast.Usage{CPU: 0.02 * r}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c, ok := small.Cost("c"); !ok || math.Abs(c.CPU-0.02) > 0.001 {
		t.Errorf("Cost(c) = %+v, %v, want CPU 0.02", c, ok)
	}
	if _, ok := small.Cost("a"); ok {
		t.Error("a is still known past MaxFunctions")
	}
}
