package forecast

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Usage is a node's resource usage, in the units of strategy.Resources:
// CPU in cores busy on average, Memory in bytes in use, Power in watts.
// In an observation a zero field means "not measured".
type Usage struct {
	CPU    float64 `json:"cpu"`    // cores busy on average
	Memory float64 `json:"memory"` // bytes in use
	Power  float64 `json:"power"`  // watts on average
}

// Prediction is what a ResourceModel predicts for a mix of rates.
type Prediction struct {
	// Mean is the expected usage. A field is 0 when the model has never
	// observed that metric.
	Mean Usage
	// Upper is Mean plus the safety margin: the ResourceConfig.Quantile
	// quantile of the model's recent one-step errors (never below Mean).
	Upper Usage
}

// ResourcePredictor predicts a node's resource usage from the rates
// (req/s) of the functions it processes. ResourceModel implements it
// without I/O; remote.Predictor asks the original DFaaS forecaster service.
type ResourcePredictor interface {
	PredictResources(ctx context.Context, rates map[string]float64) (Prediction, error)
}

// ResourceConfig configures a ResourceModel. The zero value is valid and
// means the documented defaults.
type ResourceConfig struct {
	// Forgetting is the weight of the past per observation, in (0, 1]:
	// an observation k steps old counts Forgetting^k. 1 never forgets.
	// If zero, 0.99 (a memory of about 100 observations).
	Forgetting float64
	// Quantile is the quantile of recent errors added to the mean
	// prediction for Prediction.Upper, in (0, 1). If zero, 0.95.
	Quantile float64
	// Window is how many recent errors per metric the quantile is
	// computed from. If zero, 256.
	Window int
	// MaxFunctions bounds the number of functions the model tracks; when
	// a new one arrives the one idle for longest is dropped. If zero, 64.
	MaxFunctions int
	// Regularization is the weight, in (req/s)², that keeps a cost the
	// recent data says nothing about (say, of a function that has been
	// idle for an hour) at its last estimate instead of letting it drift.
	// If zero, 1e-3.
	Regularization float64
}

// Validate reports whether c is usable, naming the first bad field.
func (c ResourceConfig) Validate() error {
	switch {
	case c.Forgetting != 0 && !(c.Forgetting > 0 && c.Forgetting <= 1):
		return fmt.Errorf("forecast: resource model: Forgetting %v not in (0, 1]", c.Forgetting)
	case c.Quantile != 0 && !(c.Quantile > 0 && c.Quantile < 1):
		return fmt.Errorf("forecast: resource model: Quantile %v not in (0, 1)", c.Quantile)
	case c.Window < 0:
		return fmt.Errorf("forecast: resource model: negative Window %d", c.Window)
	case c.MaxFunctions < 0:
		return fmt.Errorf("forecast: resource model: negative MaxFunctions %d", c.MaxFunctions)
	case c.Regularization != 0 && !(c.Regularization > 0 && !math.IsInf(c.Regularization, 0)):
		return fmt.Errorf("forecast: resource model: Regularization %v not positive and finite", c.Regularization)
	}
	return nil
}

func (c ResourceConfig) withDefaults() ResourceConfig {
	if c.Forgetting == 0 {
		c.Forgetting = 0.99
	}
	if c.Quantile == 0 {
		c.Quantile = 0.95
	}
	if c.Window == 0 {
		c.Window = 256
	}
	if c.MaxFunctions == 0 {
		c.MaxFunctions = 64
	}
	if c.Regularization == 0 {
		c.Regularization = 1e-3
	}
	return c
}

// Bounds of the resource model's inputs: larger values are rejected as
// bad input, so that the arithmetic stays far from overflow.
const (
	MaxRate  = 1e9  // req/s
	MaxUsage = 1e18 // in any unit of Usage
)

// Errors of the resource model.
var (
	// ErrUnknownFunction is returned (wrapped) when a prediction involves
	// a function whose cost the model has not learned: it never saw the
	// function with a positive rate.
	ErrUnknownFunction = errors.New("forecast: function cost not learned")
	// ErrBadInput is returned (wrapped) for a negative, NaN, infinite or
	// too large (see MaxRate, MaxUsage) rate or usage, or an empty
	// function name.
	ErrBadInput = errors.New("forecast: bad input")
)

// ResourceModel learns how a node's CPU, memory and power depend on the
// rates (req/s) of the functions it processes, online, from what it
// observes on the machine it runs on, and predicts the usage of other rate
// mixes: "how busy would this node be if it took 20 req/s more of f?".
//
// For each metric the model is linear, usage = base + Σ cost_f × rate_f,
// with non-negative costs, fitted by recursive least squares with
// exponential forgetting (solved in information form, with stabilized
// forgetting so that costs the recent data does not excite keep their
// estimate). Feed it, once per period, the rates processed locally
// (strategy.Function.Local, which includes requests from neighbours) and
// the usage measured over the same period (strategy.Snapshot.Resources).
// Where each function's own usage is measured too (strategy.Function.CPU
// and Memory, from cAdvisor), feed it to ObserveFunction: Cost then uses
// it instead of the costs inferred from the node's usage.
//
// Each metric is learned only from observations that measured it, so a
// node without a power meter simply predicts no power.
//
// What the model cannot know: a function seen only in fixed proportion to
// another (their costs are then split arbitrarily, though their sum is
// right); and the cost of a function that has been idle while the cost of
// another changed (its estimate absorbs part of the change until it runs
// again). Usage that is not linear in the rates (a saturated CPU, memory
// the runtime keeps after a burst) shows up as a wider margin. The model is pure
// (no clock, no I/O), deterministic, and keeps O(MaxFunctions²) memory. It
// is not safe for concurrent use.
type ResourceModel struct {
	cfg     ResourceConfig
	names   []string // function of feature i+1, in order of arrival
	lastUse []int    // observation number when each function last had a positive rate
	obs     int
	metrics [3]linearModel // CPU, Memory, Power

	prevRates map[string]float64 // rates of the last observation
	prevY     [3]float64         // its usage (0: not measured)

	// Per-function models learned from usage measured per function
	// (ObserveFunction), which Cost prefers; fobs counts their
	// observations, for eviction.
	measured map[string]*measuredModel
	fobs     int
}

// measuredModel is one function's own usage, base + cost × rate, for the
// metrics measured per function (CPU and memory).
type measuredModel struct {
	metrics [2]linearModel
	last    int  // fobs at its last observation
	loaded  bool // observed with a positive rate: its cost means something
}

// NewResourceModel returns an untrained model.
func NewResourceModel(cfg ResourceConfig) (*ResourceModel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &ResourceModel{cfg: cfg.withDefaults()}
	for i := range m.metrics {
		m.metrics[i] = newLinearModel(m.cfg.Window, m.cfg.Regularization)
	}
	return m, nil
}

// Observe adds one observation: the rates of the functions processed over a
// period and the usage measured over it. A function missing from rates had
// rate 0; a zero field of u was not measured. On an error nothing changes.
func (m *ResourceModel) Observe(rates map[string]float64, u Usage) error {
	if err := checkRates(rates); err != nil {
		return err
	}
	if err := checkUsage("usage", u); err != nil {
		return err
	}
	if err := m.admit(rates); err != nil {
		return err
	}
	m.obs++
	for i, n := range m.names {
		if rates[n] > 0 {
			m.lastUse[i] = m.obs
		}
	}
	x := m.features(rates)
	var dx []float64
	if m.prevRates != nil {
		dx = m.features(m.prevRates)
		for i := range dx {
			dx[i] = x[i] - dx[i]
		}
	}
	ys := [3]float64{u.CPU, u.Memory, u.Power}
	for i, y := range ys {
		if y <= 0 {
			continue
		}
		lm := &m.metrics[i]
		if dx != nil && m.prevY[i] > 0 && lm.n > 0 {
			// The error of the prediction anchored on the last
			// observation, before this one is learned.
			lm.change.add(y-(m.prevY[i]+dot(lm.w, dx)), m.cfg.Quantile)
		}
		lm.observe(x, y, m.cfg.Forgetting, m.cfg.Quantile)
	}
	m.prevRates = map[string]float64{}
	for n, v := range rates {
		if v > 0 {
			m.prevRates[n] = v
		}
	}
	m.prevY = ys
	return nil
}

// Predict returns the usage expected for rates. It returns an error
// wrapping ErrUnknownFunction if a function with a positive rate was never
// observed with a positive rate.
func (m *ResourceModel) Predict(rates map[string]float64) (Prediction, error) {
	if err := checkRates(rates); err != nil {
		return Prediction{}, err
	}
	if err := m.known(rates); err != nil {
		return Prediction{}, err
	}
	x := m.features(rates)
	var p Prediction
	for i := range m.metrics {
		mean, upper := m.metrics[i].predict(x)
		switch i {
		case 0:
			p.Mean.CPU, p.Upper.CPU = mean, upper
		case 1:
			p.Mean.Memory, p.Upper.Memory = mean, upper
		case 2:
			p.Mean.Power, p.Upper.Power = mean, upper
		}
	}
	return p, nil
}

// PredictFrom returns the usage expected for rates given that usage now
// was measured while the node processed the rates from: now plus the
// change the model predicts between the two mixes. Anchored on a
// measurement, it includes what the model cannot see, such as other
// programs on the machine; its margin is the quantile of the errors of
// such anchored predictions from one observation to the next. A metric
// not measured in now (0) is predicted as by Predict.
func (m *ResourceModel) PredictFrom(now Usage, from, rates map[string]float64) (Prediction, error) {
	if err := checkUsage("usage", now); err != nil {
		return Prediction{}, err
	}
	if err := checkRates(from); err != nil {
		return Prediction{}, err
	}
	p, err := m.Predict(rates)
	if err != nil {
		return Prediction{}, err
	}
	if err := m.known(from); err != nil {
		return Prediction{}, err
	}
	x, x0 := m.features(rates), m.features(from)
	for i, u := range [3]float64{now.CPU, now.Memory, now.Power} {
		lm := &m.metrics[i]
		if u == 0 || lm.n == 0 {
			continue
		}
		mean := u
		for j := range x {
			mean += lm.w[j] * (x[j] - x0[j])
		}
		mean = max(0, mean)
		upper := mean + lm.change.margin
		switch i {
		case 0:
			p.Mean.CPU, p.Upper.CPU = mean, upper
		case 1:
			p.Mean.Memory, p.Upper.Memory = mean, upper
		case 2:
			p.Mean.Power, p.Upper.Power = mean, upper
		}
	}
	return p, nil
}

// PredictResources implements ResourcePredictor: it is Predict, and ignores
// ctx.
func (m *ResourceModel) PredictResources(_ context.Context, rates map[string]float64) (Prediction, error) {
	return m.Predict(rates)
}

// Headroom returns how many req/s of function fn can be added to rates
// before the upper prediction of some metric reaches its limit. A zero
// field of limit sets no limit, as does a metric never observed or that fn
// does not raise; with no limit at all Headroom is +Inf. It is 0 when
// rates alone already reach a limit.
func (m *ResourceModel) Headroom(rates map[string]float64, fn string, limit Usage) (float64, error) {
	if err := m.checkHeadroom(fn, limit); err != nil {
		return 0, err
	}
	p, err := m.Predict(rates)
	if err != nil {
		return 0, err
	}
	return m.headroom(p, fn, limit), nil
}

// HeadroomFrom is Headroom anchored on a measurement, as PredictFrom: how
// many req/s of fn can be added to the rates the node processed while it
// used now.
func (m *ResourceModel) HeadroomFrom(now Usage, rates map[string]float64, fn string, limit Usage) (float64, error) {
	if err := m.checkHeadroom(fn, limit); err != nil {
		return 0, err
	}
	p, err := m.PredictFrom(now, rates, rates)
	if err != nil {
		return 0, err
	}
	return m.headroom(p, fn, limit), nil
}

func (m *ResourceModel) checkHeadroom(fn string, limit Usage) error {
	if fn == "" {
		return fmt.Errorf("%w: empty function name", ErrBadInput)
	}
	if err := checkUsage("limit", limit); err != nil {
		return err
	}
	if j := slices.Index(m.names, fn); j < 0 || !m.learned(j) {
		return fmt.Errorf("%w: %q", ErrUnknownFunction, fn)
	}
	return nil
}

func (m *ResourceModel) headroom(p Prediction, fn string, limit Usage) float64 {
	j := slices.Index(m.names, fn)
	h := math.Inf(1)
	for i, l := range [3]float64{limit.CPU, limit.Memory, limit.Power} {
		lm := &m.metrics[i]
		if l == 0 || lm.n == 0 {
			continue
		}
		up := [3]float64{p.Upper.CPU, p.Upper.Memory, p.Upper.Power}[i]
		c := lm.w[j+1]
		switch {
		case up >= l:
			return 0
		case c > 0:
			h = min(h, (l-up)/c)
		}
	}
	return h
}

// Cost returns the learned marginal usage of one req/s of fn (CPU in
// cores, i.e. CPU seconds per request; memory in bytes; power in watts)
// and whether the model has learned it. For a metric measured per function
// (ObserveFunction) it is the cost learned from those measurements, else
// the one inferred from the node's usage (Observe).
func (m *ResourceModel) Cost(fn string) (Usage, bool) {
	var c Usage
	j := slices.Index(m.names, fn)
	ok := j >= 0 && m.learned(j)
	if ok {
		c = Usage{CPU: m.metrics[0].w[j+1], Memory: m.metrics[1].w[j+1], Power: m.metrics[2].w[j+1]}
	}
	if mm := m.measured[fn]; mm != nil && mm.loaded {
		if mm.metrics[0].n > 0 {
			c.CPU, ok = mm.metrics[0].w[1], true
		}
		if mm.metrics[1].n > 0 {
			c.Memory, ok = mm.metrics[1].w[1], true
		}
	}
	return c, ok
}

// ObserveFunction adds one observation of what function fn itself used
// while it processed rate req/s over a period, as measured per container
// (cAdvisor): u.CPU in cores, u.Memory in bytes; a zero field was not
// measured, and u.Power is ignored (nothing measures it per function).
// From these the model learns fn's own usage, base + cost × rate, fitted
// like the node's model; Cost then returns that cost for each metric
// measured so, since it owes nothing to the other functions or to the rest
// of the machine (which confound the costs inferred from the node's usage,
// see ResourceModel). It tracks at most MaxFunctions functions, dropping
// the one observed least recently. On an error nothing changes.
func (m *ResourceModel) ObserveFunction(fn string, rate float64, u Usage) error {
	if err := checkRates(map[string]float64{fn: rate}); err != nil {
		return err
	}
	if err := checkUsage("usage of "+fn, u); err != nil {
		return err
	}
	if u.CPU == 0 && u.Memory == 0 {
		return nil
	}
	mm := m.measured[fn]
	if mm == nil {
		if m.measured == nil {
			m.measured = map[string]*measuredModel{}
		}
		if len(m.measured) >= m.cfg.MaxFunctions {
			victim := ""
			for _, n := range slices.Sorted(maps.Keys(m.measured)) {
				if victim == "" || m.measured[n].last < m.measured[victim].last {
					victim = n
				}
			}
			delete(m.measured, victim)
		}
		mm = &measuredModel{}
		for i := range mm.metrics {
			mm.metrics[i] = newLinearModel(m.cfg.Window, m.cfg.Regularization)
			mm.metrics[i].grow()
		}
		m.measured[fn] = mm
	}
	m.fobs++
	mm.last = m.fobs
	mm.loaded = mm.loaded || rate > 0
	for i, y := range [2]float64{u.CPU, u.Memory} {
		if y > 0 {
			mm.metrics[i].observe([]float64{1, rate}, y, m.cfg.Forgetting, m.cfg.Quantile)
		}
	}
	return nil
}

// Base returns the learned usage of the node at zero load.
func (m *ResourceModel) Base() Usage {
	return Usage{CPU: m.metrics[0].w[0], Memory: m.metrics[1].w[0], Power: m.metrics[2].w[0]}
}

// Margin returns the current safety margins per metric (Prediction.Upper
// minus Prediction.Mean): of Predict, and of PredictFrom.
func (m *ResourceModel) Margin() (level, change Usage) {
	l, c := &m.metrics, [3]float64{}
	for i := range l {
		c[i] = l[i].change.margin
	}
	return Usage{CPU: l[0].level.margin, Memory: l[1].level.margin, Power: l[2].level.margin},
		Usage{CPU: c[0], Memory: c[1], Power: c[2]}
}

// Observations returns how many observations the model took.
func (m *ResourceModel) Observations() int { return m.obs }

func checkUsage(what string, u Usage) error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"cpu", u.CPU}, {"memory", u.Memory}, {"power", u.Power}} {
		if !finite(f.v) || f.v < 0 || f.v > MaxUsage {
			return fmt.Errorf("%w: %s %s %v (want 0 to %g)", ErrBadInput, what, f.name, f.v, float64(MaxUsage))
		}
	}
	return nil
}

func checkRates(rates map[string]float64) error {
	for _, n := range sortedKeys(rates) {
		if n == "" {
			return fmt.Errorf("%w: empty function name", ErrBadInput)
		}
		if v := rates[n]; !finite(v) || v < 0 || v > MaxRate {
			return fmt.Errorf("%w: rate of %q is %v (want 0 to %g)", ErrBadInput, n, v, float64(MaxRate))
		}
	}
	return nil
}

func sortedKeys(rates map[string]float64) []string {
	ks := make([]string, 0, len(rates))
	for k := range rates {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (m *ResourceModel) learned(j int) bool { return m.lastUse[j] > 0 }

func (m *ResourceModel) known(rates map[string]float64) error {
	for _, n := range sortedKeys(rates) {
		if rates[n] == 0 {
			continue
		}
		if j := slices.Index(m.names, n); j < 0 || !m.learned(j) {
			return fmt.Errorf("%w: %q", ErrUnknownFunction, n)
		}
	}
	return nil
}

// admit makes room for, and adds, the functions of rates with a positive
// rate that the model does not track yet.
func (m *ResourceModel) admit(rates map[string]float64) error {
	var add []string
	for _, n := range sortedKeys(rates) {
		if rates[n] > 0 && !slices.Contains(m.names, n) {
			add = append(add, n)
		}
	}
	if len(add) == 0 {
		return nil
	}
	active := 0
	for _, v := range rates {
		if v > 0 {
			active++
		}
	}
	if active > m.cfg.MaxFunctions {
		return fmt.Errorf("%w: %d functions with a positive rate, MaxFunctions is %d", ErrBadInput, active, m.cfg.MaxFunctions)
	}
	for _, n := range add {
		if len(m.names) == m.cfg.MaxFunctions {
			m.evict(rates)
		}
		m.names = append(m.names, n)
		m.lastUse = append(m.lastUse, 0)
		for i := range m.metrics {
			m.metrics[i].grow()
		}
	}
	return nil
}

// evict drops the function idle for longest among those not active in
// rates (ties: the earliest tracked).
func (m *ResourceModel) evict(rates map[string]float64) {
	victim := -1
	for i, n := range m.names {
		if rates[n] > 0 {
			continue
		}
		if victim < 0 || m.lastUse[i] < m.lastUse[victim] {
			victim = i
		}
	}
	m.names = slices.Delete(m.names, victim, victim+1)
	m.lastUse = slices.Delete(m.lastUse, victim, victim+1)
	for i := range m.metrics {
		m.metrics[i].drop(victim + 1)
	}
}

func (m *ResourceModel) features(rates map[string]float64) []float64 {
	x := make([]float64, 1+len(m.names))
	x[0] = 1
	for i, n := range m.names {
		x[i+1] = rates[n]
	}
	return x
}

// linearModel is exponentially weighted least squares in information form:
// R w = r, with R = Σ λ^k x xᵀ (+ stabilization) and r = Σ λ^k x y. Weights
// other than the intercept are kept non-negative.
type linearModel struct {
	reg           float64
	n             int
	R             [][]float64
	r, w          []float64
	level, change errorRing // errors of Predict and PredictFrom
}

func newLinearModel(window int, reg float64) linearModel {
	return linearModel{
		reg:    reg,
		R:      [][]float64{{reg}},
		r:      []float64{0},
		w:      []float64{0},
		level:  errorRing{res: make([]float64, 0, window)},
		change: errorRing{res: make([]float64, 0, window)},
	}
}

// errorRing keeps recent prediction errors and their upper quantile.
type errorRing struct {
	res    []float64
	next   int
	margin float64 // max(0, quantile of res)
}

func (e *errorRing) add(v, q float64) {
	if len(e.res) < cap(e.res) {
		e.res = append(e.res, v)
	} else {
		e.res[e.next] = v
		e.next = (e.next + 1) % len(e.res)
	}
	e.margin = max(0, quantile(e.res, q))
}

// grow adds a feature with no information and weight 0.
func (l *linearModel) grow() {
	d := len(l.w)
	for i := range l.R {
		l.R[i] = append(l.R[i], 0)
	}
	row := make([]float64, d+1)
	row[d] = l.reg
	l.R = append(l.R, row)
	l.r = append(l.r, 0)
	l.w = append(l.w, 0)
}

// drop removes feature j.
func (l *linearModel) drop(j int) {
	l.R = slices.Delete(l.R, j, j+1)
	for i := range l.R {
		l.R[i] = slices.Delete(l.R[i], j, j+1)
	}
	l.r = slices.Delete(l.r, j, j+1)
	l.w = slices.Delete(l.w, j, j+1)
}

func (l *linearModel) observe(x []float64, y, lambda, q float64) {
	if l.n > 0 {
		l.level.add(y-dot(l.w, x), q)
	}
	l.n++
	d := len(x)
	// Stabilized forgetting: the information lost by forgetting is
	// replaced by reg·I centred on the current weights, so that a
	// direction the data no longer excites keeps its estimate.
	s := (1 - lambda) * l.reg
	for i := range d {
		for k := range d {
			l.R[i][k] = lambda*l.R[i][k] + x[i]*x[k]
		}
		l.R[i][i] += s
		l.r[i] = lambda*l.r[i] + x[i]*y + s*l.w[i]
	}
	l.w = nnls(l.R, l.r, l.w)
}

func (l *linearModel) predict(x []float64) (mean, upper float64) {
	if l.n == 0 {
		return 0, 0
	}
	mean = max(0, dot(l.w, x))
	return mean, mean + l.level.margin
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// quantile returns the q-quantile of vs (linear interpolation) without
// modifying vs.
func quantile(vs []float64, q float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	p := q * float64(len(s)-1)
	i := int(p)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (p-float64(i))*(s[i+1]-s[i])
}

// nnls minimizes ½ wᵀRw − rᵀw subject to w[i] ≥ 0 for i ≥ 1 (w[0] is
// free), for a symmetric positive definite R, by the Lawson–Hanson active
// set method. prev is only a fallback should the solver fail to converge.
func nnls(R [][]float64, r, prev []float64) []float64 {
	d := len(r)
	all := make([]int, d)
	for i := range all {
		all[i] = i
	}
	if w, ok := solveSub(R, r, all); ok && nonneg(w) {
		return w
	}
	free := []int{0} // the passive set
	w := make([]float64, d)
	if s, ok := solveSub(R, r, free); ok {
		w = s
	}
	const tol = 1e-12
	for range 3 * d {
		// Most promising constrained variable to free: largest
		// gradient r − Rw among those held at 0.
		best, bestG := -1, 0.0
		for j := 1; j < d; j++ {
			if slices.Contains(free, j) {
				continue
			}
			g := r[j] - dot(R[j], w)
			if g > bestG*(1+tol) && g > tol*(1+math.Abs(r[j])) {
				best, bestG = j, g
			}
		}
		if best < 0 {
			return w
		}
		free = append(free, best)
		slices.Sort(free)
		for range 3 * d {
			s, ok := solveSub(R, r, free)
			if !ok {
				return slices.Clone(prev)
			}
			if nonneg(s) {
				w = s
				break
			}
			// Step from w towards s until the first free variable
			// hits zero, and hold it there.
			alpha := 1.0
			for _, j := range free {
				if j > 0 && s[j] <= 0 {
					alpha = min(alpha, w[j]/(w[j]-s[j]))
				}
			}
			for i := range w {
				w[i] += alpha * (s[i] - w[i])
			}
			free = slices.DeleteFunc(free, func(j int) bool {
				if j > 0 && w[j] <= tol {
					w[j] = 0
					return true
				}
				return false
			})
		}
	}
	return w
}

func nonneg(w []float64) bool {
	for _, v := range w[1:] {
		if v < 0 {
			return false
		}
	}
	return true
}

// solveSub solves R[idx][idx] s[idx] = r[idx] by Cholesky, with s zero
// elsewhere. ok is false if the sub-matrix is not positive definite.
func solveSub(R [][]float64, r []float64, idx []int) (s []float64, ok bool) {
	n := len(idx)
	L := make([][]float64, n)
	for i := range n {
		L[i] = make([]float64, i+1)
		for k := 0; k <= i; k++ {
			v := R[idx[i]][idx[k]]
			for m := range k {
				v -= L[i][m] * L[k][m]
			}
			if i == k {
				if !(v > 0) {
					return nil, false
				}
				L[i][i] = math.Sqrt(v)
			} else {
				L[i][k] = v / L[k][k]
			}
		}
	}
	z := make([]float64, n)
	for i := range n {
		v := r[idx[i]]
		for m := range i {
			v -= L[i][m] * z[m]
		}
		z[i] = v / L[i][i]
	}
	s = make([]float64, len(r))
	for i := n - 1; i >= 0; i-- {
		v := z[i]
		for m := i + 1; m < n; m++ {
			v -= L[m][i] * s[idx[m]]
		}
		s[idx[i]] = v / L[i][i]
	}
	for _, v := range s {
		if !finite(v) {
			return nil, false
		}
	}
	return s, true
}

var _ ResourcePredictor = (*ResourceModel)(nil)
