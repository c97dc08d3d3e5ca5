package strategy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/dfaas-go/dfaas/forecast"
)

// NodeMargin is the original Node Margin strategy, with its bugs fixed. A
// node predicts its resource usage (CPU, memory, power) from the rates of
// its functions and compares it with its limits. It is overloaded when a
// predicted metric exceeds its limit. Its usage U is the mean over the
// metrics of prediction/limit in percent; a node that is not overloaded
// offers its margin, (100-U) divided among the neighbours it shares a
// function with, and announces it with the usage (in percentage points)
// each req/s of each of its functions costs it. An overloaded node moves
// its load to neighbours greedily, in quanta of Quantum of what it still
// serves locally, round robin over the neighbours with a margin, as long
// as a neighbour's margin exceeds what it has been sent, until it is no
// longer overloaded or no neighbour can take more. What it cannot move is
// served locally (Node Margin has no reject action).
//
// The original asks a remote forecaster (trained offline, per node type)
// for every prediction. NodeMargin instead learns the node's usage online
// with forecast.ResourceModel, from the usage the agent measures
// (Snapshot.Resources) and the rates processed locally, and announces its
// marginal costs so that neighbours need no model of it. Where the agent
// also measures each function's own CPU and memory (Function.CPU and
// Memory, from cAdvisor), the costs come from those measurements; the
// costs inferred from the node's usage remain for what is not measured.
// A remote model is still possible: an Advisor (see ResourceAdvisor) may
// put usage and costs in Snapshot.Advice, which take precedence. While
// nothing is known about resources (no measurement, or functions the model
// has not learned yet), a function's stated capacity serves as its cost:
// the usage is then the sum of rate/capacity over the functions, against a
// limit of Utilization.
//
// Fixed defects of the original: the neighbour's load is announced per
// function, not in usage groups whose fields were mixed up (the medium
// rate held the low rate, the low rate was never set); announcements from
// unknown or expired neighbours cannot crash anything (only the snapshot's
// neighbours are read); periods of any length work; a forecaster failure
// is not fatal (the capacity model takes over).
//
// NodeMargin keeps state (its resource model) between calls; like every
// strategy it is deterministic given the sequence of snapshots.
type NodeMargin struct {
	// Limits are the node's thresholds, in the units of Resources (cores
	// busy, bytes, watts). A zero field sets no limit on that metric; if
	// all are zero, 90% of the node's cores and memory (when known).
	Limits forecast.Usage `json:"limits"`
	// Quantum is the share of what a function still serves locally that
	// one greedy step moves, in (0, 1). If zero, 0.01 (the original's
	// 1%).
	Quantum float64 `json:"quantum"`
	// Utilization is the limit of the capacity model, in (0, 1]. If
	// zero, DefaultUtilization.
	Utilization float64 `json:"utilization"`

	model *forecast.ResourceModel
}

// nodeMarginVersion is the version of the Data that NodeMargin announces.
const nodeMarginVersion = 1

// nodeMarginData is what NodeMargin announces in Announcement.Data.
type nodeMarginData struct {
	V int `json:"v"`
	// Margin is the usage, in percentage points, the node offers each
	// neighbour it shares a function with.
	Margin float64 `json:"margin"`
	// Cost is the usage, in percentage points, one req/s of each function
	// costs the node.
	Cost map[string]float64 `json:"cost,omitempty"`
}

// ResourceAdvice is the advice NodeMargin reads from Snapshot.Advice when
// a remote model provides the predictions: the usage predicted for the
// rates the node processes now and the marginal usage of one req/s of each
// function.
type ResourceAdvice struct {
	Usage forecast.Usage            `json:"usage"`
	Costs map[string]forecast.Usage `json:"costs"`
}

// maxNodeMarginSteps bounds the greedy loop.
const maxNodeMarginSteps = 100_000

// Validate implements Validator.
func (nm *NodeMargin) Validate() error {
	for _, v := range []float64{nm.Limits.CPU, nm.Limits.Memory, nm.Limits.Power} {
		if !finiteNonNeg(v) {
			return fmt.Errorf("limits: %v is not a finite non-negative number", v)
		}
	}
	if !(nm.Quantum >= 0 && nm.Quantum < 1) {
		return fmt.Errorf("quantum %v not in (0, 1)", nm.Quantum)
	}
	if !(nm.Utilization >= 0 && nm.Utilization <= 1) {
		return fmt.Errorf("utilization %v not in (0, 1]", nm.Utilization)
	}
	return nil
}

// usageModel is a linear model of the node's usage of each metric, in
// percent of its limit: base at the rates processed now, plus the cost of
// each function's change in rate.
type usageModel struct {
	active [3]bool               // metrics with a limit (CPU, memory, power)
	base   [3]float64            // percent of the limit at the rates processed now
	cost   map[string][3]float64 // percentage points per req/s
	at     map[string]float64    // the rates processed now
}

// usage returns the predicted usage of each metric for rates.
func (m usageModel) usage(rates map[string]float64) [3]float64 {
	u := m.base
	for _, fn := range sortedKeys(rates) {
		c := m.cost[fn]
		for i := range u {
			u[i] += c[i] * (rates[fn] - m.at[fn])
		}
	}
	return u
}

// overloaded reports whether a metric of u exceeds its limit.
func (m usageModel) overloaded(u [3]float64) bool {
	for i, a := range m.active {
		if a && u[i] > 100 {
			return true
		}
	}
	return false
}

// mean returns the mean over the metrics with a limit: the original's U.
func (m usageModel) mean(u [3]float64) float64 {
	var sum float64
	var k int
	for i, a := range m.active {
		if a {
			sum += u[i]
			k++
		}
	}
	if k == 0 {
		return 0
	}
	return sum / float64(k)
}

// Decide implements Strategy.
func (nm *NodeMargin) Decide(s Snapshot) (Decision, error) {
	if nm.model == nil {
		m, err := forecast.NewResourceModel(forecast.ResourceConfig{})
		if err != nil {
			return Decision{}, fmt.Errorf("nodemargin: %w", err)
		}
		nm.model = m
	}
	quantum := nm.Quantum
	if quantum == 0 {
		quantum = 0.01
	}
	processed := map[string]float64{}
	for _, f := range s.Functions {
		if f.Local > 0 {
			processed[f.Name] = f.Local
		}
	}
	measured := nm.observe(s, processed)
	um := nm.usageModel(s, processed, measured)

	// Own load: the users' requests for the functions deployed here, plus
	// what neighbours send.
	own := map[string]float64{}
	mix := map[string]float64{}
	for _, f := range s.Functions {
		if f.Deployed {
			own[f.Name] = f.Forecast
			mix[f.Name] = f.Forecast + f.FromNeighbours
		}
	}
	overloaded := um.overloaded(um.usage(mix))
	data := nodeMarginAnnounce(s, um, mix, overloaded)

	t := nodeMarginTransfer{
		um:      um,
		quantum: quantum,
		targets: nodeMarginTargets(s, own),
		maint:   maps.Clone(own),
		mix:     mix,
		fwd:     map[NodeID]map[string]float64{},
	}
	if overloaded {
		t.run()
	}

	d := Decision{Announce: BaseAnnouncement(s)}
	for _, f := range s.Functions {
		if !f.Deployed {
			continue // the agent's default: even among the neighbours running it
		}
		total := own[f.Name]
		if total == 0 {
			d.Routes = append(d.Routes, Route{Function: f.Name, Local: 1})
			continue
		}
		w := map[NodeID]float64{}
		for id, m := range t.fwd {
			if v := m[f.Name]; v > 0 {
				w[id] = v
			}
		}
		d.Routes = append(d.Routes, NewRoute(f.Name, t.maint[f.Name], 0, w))
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Decision{}, fmt.Errorf("nodemargin: encode data: %w", err)
	}
	if len(raw) <= MaxAnnouncementData {
		d.Announce.Data = raw
	}
	return d, nil
}

// nodeMarginAnnounce returns what the node announces: its margin, shared
// among the neighbours with a function in common, and its costs.
func nodeMarginAnnounce(s Snapshot, um usageModel, mix map[string]float64, overloaded bool) nodeMarginData {
	common := 0
	for _, n := range s.Neighbours {
		for _, fs := range n.Announcement.Functions {
			if f, ok := s.Function(fs.Name); ok && f.Deployed && fs.Deployed {
				common++
				break
			}
		}
	}
	data := nodeMarginData{V: nodeMarginVersion, Cost: map[string]float64{}}
	if !overloaded && common > 0 {
		data.Margin = math.Max(0, 100-um.mean(um.usage(mix))) / float64(common)
	}
	for fn, c := range um.cost {
		if f, ok := s.Function(fn); ok && f.Deployed {
			if v := um.mean(c); isFinite(v) && v >= 0 {
				data.Cost[fn] = v
			}
		}
	}
	return data
}

// nodeMarginTarget is a neighbour that offers a margin, as the greedy
// transfer sees it.
type nodeMarginTarget struct {
	id     NodeID
	margin float64
	cost   map[string]float64
	fns    []string // the functions it may be sent, in name order
	cursor int      // the next one in fns
}

// nodeMarginTargets returns the neighbours that offer a margin for some of
// the functions in own.
func nodeMarginTargets(s Snapshot, own map[string]float64) []*nodeMarginTarget {
	var targets []*nodeMarginTarget
	for _, n := range s.Neighbours {
		var nd nodeMarginData
		if json.Unmarshal(n.Announcement.Data, &nd) != nil || nd.V != nodeMarginVersion || !(nd.Margin > 0) || !isFinite(nd.Margin) {
			continue
		}
		t := &nodeMarginTarget{id: n.ID, margin: nd.Margin, cost: nd.Cost}
		for _, fn := range sortedKeys(own) {
			if c := nd.Cost[fn]; n.Announcement.Runs(fn) && c > 0 && isFinite(c) {
				t.fns = append(t.fns, fn)
			}
		}
		if len(t.fns) > 0 {
			targets = append(targets, t)
		}
	}
	return targets
}

// nodeMarginTransfer is the greedy transfer of an overloaded node's load
// to its neighbours.
type nodeMarginTransfer struct {
	um      usageModel
	quantum float64
	targets []*nodeMarginTarget
	maint   map[string]float64            // the load kept, by function
	mix     map[string]float64            // the load processed here, by function
	fwd     map[NodeID]map[string]float64 // the load sent, by neighbour and function
}

// sent returns the usage t has been sent, in its percentage points.
func (tr *nodeMarginTransfer) sent(t *nodeMarginTarget) float64 {
	var u float64
	for _, fn := range sortedKeys(tr.fwd[t.id]) {
		u += tr.fwd[t.id][fn] * t.cost[fn]
	}
	return u
}

// run moves load in quanta, round robin over the targets, until the node
// is no longer overloaded or no target can take more.
func (tr *nodeMarginTransfer) run() {
	overloaded := true
	next := 0
	for steps := 0; overloaded && len(tr.targets) > 0 && steps < maxNodeMarginSteps; steps++ {
		next %= len(tr.targets)
		t := tr.targets[next]
		fn := t.fns[t.cursor]
		q := tr.quantum * tr.maint[fn]
		if q < 1e-9 {
			// Nothing left to move for fn: drop it everywhere.
			for _, o := range tr.targets {
				o.fns = slices.DeleteFunc(o.fns, func(x string) bool { return x == fn })
				o.cursor = 0
			}
			tr.targets = slices.DeleteFunc(tr.targets, func(o *nodeMarginTarget) bool { return len(o.fns) == 0 })
			continue
		}
		if t.margin > tr.sent(t)+q*t.cost[fn] {
			tr.maint[fn] -= q
			tr.mix[fn] -= q
			if tr.fwd[t.id] == nil {
				tr.fwd[t.id] = map[string]float64{}
			}
			tr.fwd[t.id][fn] += q
			overloaded = tr.um.overloaded(tr.um.usage(tr.mix))
			t.cursor = (t.cursor + 1) % len(t.fns)
			next++
			continue
		}
		t.fns = slices.Delete(t.fns, t.cursor, t.cursor+1)
		if t.cursor >= len(t.fns) {
			t.cursor = 0
		}
		if len(t.fns) == 0 {
			tr.targets = slices.Delete(tr.targets, next, next+1)
		}
	}
}

// observe feeds the resource model with this period's measurements and
// returns the node's measured usage: Snapshot.Resources, or, when the node's
// usage is unknown, the sum of the usage measured per function (a lower
// bound: it leaves out the rest of the machine). Usage measured per
// function (Function.CPU and Memory, from cAdvisor) also teaches the model
// each function's own cost, which it then prefers to the cost inferred
// from the node's usage; where it is not measured the inferred cost stays.
func (nm *NodeMargin) observe(s Snapshot, processed map[string]float64) forecast.Usage {
	measured := forecast.Usage{CPU: s.Resources.CPU, Memory: s.Resources.Memory, Power: s.Resources.Power}
	var sum forecast.Usage
	for _, f := range s.Functions {
		if f.CPU > 0 || f.Memory > 0 {
			sum.CPU += f.CPU
			sum.Memory += f.Memory
			// A bad observation is dropped; the model is left as it was.
			_ = nm.model.ObserveFunction(f.Name, f.Local, forecast.Usage{CPU: f.CPU, Memory: f.Memory})
		}
	}
	if measured == (forecast.Usage{}) {
		measured = sum
	}
	if measured != (forecast.Usage{}) {
		_ = nm.model.Observe(processed, measured)
	}
	return measured
}

// usageModel returns the usage model of this period: from resource advice
// if any, else from the learned resource model where it knows every
// function processed, else from the stated capacities.
func (nm *NodeMargin) usageModel(s Snapshot, processed map[string]float64, measured forecast.Usage) usageModel {
	limits := nm.Limits
	if limits == (forecast.Usage{}) {
		limits = forecast.Usage{CPU: 0.9 * s.Resources.CPUCores, Memory: 0.9 * s.Resources.MemoryTotal}
	}
	lims := [3]float64{limits.CPU, limits.Memory, limits.Power}
	pct := func(u forecast.Usage) [3]float64 {
		var p [3]float64
		for i, v := range [3]float64{u.CPU, u.Memory, u.Power} {
			if lims[i] > 0 {
				p[i] = 100 * v / lims[i]
			}
		}
		return p
	}
	valid := func(p [3]float64) bool {
		for _, v := range p {
			if !isFinite(v) || v < 0 {
				return false
			}
		}
		return true
	}
	linear := func(base forecast.Usage, cost func(fn string) (forecast.Usage, bool)) (usageModel, bool) {
		m := usageModel{base: pct(base), cost: map[string][3]float64{}, at: processed}
		any := false
		for i, l := range lims {
			m.active[i] = l > 0
			any = any || m.active[i]
		}
		if !any || !valid(m.base) {
			return usageModel{}, false
		}
		for _, f := range s.Functions {
			if !f.Deployed {
				continue
			}
			c, ok := cost(f.Name)
			if !ok || !valid(pct(c)) {
				return usageModel{}, false
			}
			m.cost[f.Name] = pct(c)
		}
		return m, true
	}
	if len(s.Advice) > 0 {
		var ra ResourceAdvice
		if json.Unmarshal(s.Advice, &ra) == nil && ra.Costs != nil {
			if m, ok := linear(ra.Usage, func(fn string) (forecast.Usage, bool) { c, ok := ra.Costs[fn]; return c, ok }); ok {
				return m
			}
		}
	}
	if measured != (forecast.Usage{}) {
		if m, ok := linear(measured, nm.model.Cost); ok {
			return m
		}
	}
	// Capacity model: one metric, Σ rate/(Utilization·capacity), in
	// percent.
	u := nm.Utilization
	if u == 0 {
		u = DefaultUtilization
	}
	m := usageModel{active: [3]bool{true}, cost: map[string][3]float64{}, at: map[string]float64{}}
	for _, f := range s.Functions {
		if f.Deployed && f.Capacity > 0 {
			m.cost[f.Name] = [3]float64{100 / (u * f.Capacity)}
		}
	}
	return m
}

// ResourceAdvisor is an Advisor that gets the resource predictions
// NodeMargin needs from a forecast.ResourcePredictor, such as the original
// DFaaS forecaster service (package forecast/remote): the usage predicted
// for the rates the node processes, and for each deployed function the
// change when Step req/s of it are added. The agent calls it with a
// deadline; NodeMargin reads the answer (a ResourceAdvice) from
// Snapshot.Advice.
type ResourceAdvisor struct {
	Predictor forecast.ResourcePredictor
	// Step is the rate added to measure a function's marginal cost. If
	// zero, 1 req/s.
	Step float64
}

// Advise implements Advisor.
func (ra ResourceAdvisor) Advise(ctx context.Context, s Snapshot) (json.RawMessage, error) {
	if ra.Predictor == nil {
		return nil, errors.New("nodemargin: ResourceAdvisor has no Predictor")
	}
	step := ra.Step
	if !(step > 0) || !isFinite(step) {
		step = 1
	}
	rates := map[string]float64{}
	for _, f := range s.Functions {
		if f.Local > 0 {
			rates[f.Name] = f.Local
		}
	}
	base, err := ra.Predictor.PredictResources(ctx, rates)
	if err != nil {
		return nil, fmt.Errorf("nodemargin: predict: %w", err)
	}
	adv := ResourceAdvice{Usage: base.Mean, Costs: map[string]forecast.Usage{}}
	for _, f := range s.Functions {
		if !f.Deployed {
			continue
		}
		more := maps.Clone(rates)
		more[f.Name] += step
		p, err := ra.Predictor.PredictResources(ctx, more)
		if err != nil {
			return nil, fmt.Errorf("nodemargin: predict with more %q: %w", f.Name, err)
		}
		adv.Costs[f.Name] = forecast.Usage{
			CPU:    math.Max(0, p.Mean.CPU-base.Mean.CPU) / step,
			Memory: math.Max(0, p.Mean.Memory-base.Mean.Memory) / step,
			Power:  math.Max(0, p.Mean.Power-base.Mean.Power) / step,
		}
	}
	return json.Marshal(adv)
}

// Interface guards.
var (
	_ Strategy  = (*NodeMargin)(nil)
	_ Validator = (*NodeMargin)(nil)
	_ Advisor   = ResourceAdvisor{}
)
