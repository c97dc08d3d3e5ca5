package bench

import (
	"fmt"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Input is what dfaas bench runs: the scenario, a trace that replaces its
// load, the window of it and the control period. The dfaas bench flag of
// each field is in brackets.
type Input struct {
	Scenario string // [--scenario] a file or a shipped scenario's name
	// Load loads Scenario (dfaas sim's and dfaas bench's shared loader).
	Load  func(string) (*sim.Scenario, error)
	Trace loadgen.TraceOptions // [--trace ...]
	// From, Until and Duration choose the window [From, Until) of the
	// scenario (after the trace) that runs, shifted to start at 0; Until
	// and Duration (Until = From+Duration) are exclusive, 0 for the
	// scenario's end. [--from, --until, --duration]
	From, Until, Duration time.Duration
	Period                time.Duration // [--period] 0: the scenario's
	Save                  string        // [--save-scenario] file to write the scenario as run to
}

// Prepared is the scenario as it runs, with what the report says of it.
type Prepared struct {
	Scenario *sim.Scenario
	// From is where the window starts in the scenario's time; Full the
	// scenario's own duration.
	From, Full time.Duration
	// Unloaded are the nodes the window sends no load to.
	Unloaded []string
}

// MaxWindowRates bounds the rates of a load entry rewritten for a window
// whose start is not on its steps.
const MaxWindowRates = 1 << 20

// Prepare loads the scenario, applies the trace, the window and the
// period, checks it, and saves it if asked.
func Prepare(in Input) (Prepared, error) {
	sc, err := in.Load(in.Scenario)
	if err != nil {
		return Prepared{}, err
	}
	if in.Trace.Path != "" {
		if err := loadgen.ApplyTrace(sc, in.Trace); err != nil {
			return Prepared{}, err
		}
	}
	p := Prepared{Scenario: sc, From: in.From, Full: sc.Duration.D()}
	until, err := in.until(p.Full)
	if err != nil {
		return Prepared{}, err
	}
	if err := Window(sc, in.From, until); err != nil {
		return Prepared{}, err
	}
	if in.Period > 0 {
		sc.Period = sim.Duration(in.Period)
	}
	if err := sc.Validate(); err != nil {
		return Prepared{}, err
	}
	if len(sc.Nodes) > MaxNodes {
		return Prepared{}, fmt.Errorf("%d nodes: at most %d run as processes on one machine (use dfaas sim)", len(sc.Nodes), MaxNodes)
	}
	p.Unloaded = Unloaded(sc)
	if len(p.Unloaded) == len(sc.Nodes) {
		return Prepared{}, usage.Errorf("the window [%v, %v) of scenario %s sends no load to any node", in.From, until, sc.Name)
	}
	if in.Save != "" {
		if err := sc.Save(in.Save); err != nil {
			return Prepared{}, fmt.Errorf("--save-scenario: %w", err)
		}
	}
	return p, nil
}

// until returns the end of the window in the scenario's time.
func (in Input) until(full time.Duration) (time.Duration, error) {
	switch {
	case in.From < 0 || in.Until < 0 || in.Duration < 0:
		return 0, usage.Errorf("--from, --until and --duration must not be negative")
	case in.Until > 0 && in.Duration > 0:
		return 0, usage.Errorf("--until and --duration both end the window: give one")
	case in.From >= full:
		return 0, usage.Errorf("--from %v: the scenario lasts %v", in.From, full)
	case in.Until > 0 && in.Until <= in.From:
		return 0, usage.Errorf("--until %v: not after --from %v", in.Until, in.From)
	}
	until := full
	if in.Until > 0 {
		until = min(in.Until, full)
	}
	if in.Duration > 0 {
		until = min(in.From+in.Duration, full)
	}
	return until, nil
}

// CheckForecast returns the forecaster named as dfaas agent --forecast
// takes it: nil for none.
func CheckForecast(name string) (forecast.Factory, error) {
	if name == "none" {
		return nil, nil
	}
	fc, err := forecast.ByName(name)
	if err != nil {
		return nil, usage.Errorf("--forecast: %v", err)
	}
	return fc, nil
}

// Window cuts sc to the window [from, until) of its time and shifts it to
// start at 0: each load entry keeps the rates it has in the window, with
// steps rewritten when from is not on them.
func Window(sc *sim.Scenario, from, until time.Duration) error {
	if from < 0 || until <= from {
		return fmt.Errorf("window [%v, %v): empty", from, until)
	}
	for i := range sc.Load {
		l, err := windowLoad(sc.Load[i], from, until)
		if err != nil {
			return fmt.Errorf("load %d (%s/%s): %w", i, sc.Load[i].Node, sc.Load[i].Function, err)
		}
		sc.Load[i] = l
	}
	sc.Duration = sim.Duration(until - from)
	return nil
}

// windowLoad returns l from time from on, up to until.
func windowLoad(l sim.Load, from, until time.Duration) (sim.Load, error) {
	step := l.Step.D()
	if from == 0 || step <= 0 || len(l.Rates) == 1 {
		return l, nil
	}
	first := int(from / step)
	if first >= len(l.Rates)-1 {
		return sim.Load{Node: l.Node, Function: l.Function, Rates: []float64{l.Rates[len(l.Rates)-1]}}, nil
	}
	off := from % step
	if off == 0 {
		l.Rates = slices.Clone(l.Rates[first:])
		return l, nil
	}
	// The window starts inside a step: steps of g = gcd(step, off) keep
	// every boundary, each rate repeated step/g times.
	g := gcd(step, off)
	per := int(step / g)
	head := int((step - off) / g)
	n := head + per*(len(l.Rates)-1-first)
	if need := int((until-from+g-1)/g) + 1; n > need {
		n = need // rates past the window's end are never used
	}
	if n > MaxWindowRates || g < time.Millisecond {
		return l, fmt.Errorf("--from %v is not on the load's %v steps and would take %d rates of %v: choose a start closer to a step boundary", from, step, n, g)
	}
	rates := make([]float64, 0, n+1)
	for k := 0; len(rates) < n; k++ {
		i := first + (int(off/g)+k)/per
		rates = append(rates, l.Rates[min(i, len(l.Rates)-1)])
	}
	rates = append(rates, l.Rates[len(l.Rates)-1])
	return sim.Load{Node: l.Node, Function: l.Function, Step: sim.Duration(g), Rates: rates}, nil
}

func gcd(a, b time.Duration) time.Duration {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Unloaded returns the nodes of sc that no load entry sends a request to
// during its run (a zero rate throughout).
func Unloaded(sc *sim.Scenario) []string {
	loaded := map[string]bool{}
	d := sc.Duration.D()
	for _, l := range sc.Load {
		if hasLoad(l, d) {
			loaded[l.Node] = true
		}
	}
	var out []string
	for _, n := range sc.Nodes {
		if !loaded[n.ID] {
			out = append(out, n.ID)
		}
	}
	return out
}

// hasLoad reports whether l has a positive rate in [0, d).
func hasLoad(l sim.Load, d time.Duration) bool {
	if l.Step <= 0 || len(l.Rates) == 1 {
		return l.Rates[0] > 0
	}
	for i, r := range l.Rates {
		if time.Duration(i)*l.Step.D() >= d {
			break
		}
		if r > 0 {
			return true
		}
	}
	return false
}
