package sim

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/routing"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// The parity test runs one script of observations and messages through
// two federations: live agents (dfaas.Node with in-memory parts:
// peer.MemNetwork, a metricsrc.Delta over metricsrc.Counters as the
// embedded proxy keeps them, faas.Static, proxyctl.Recorder) and the
// simulator's nodes (simNode, driven cycle by cycle). After every step it
// checks that each node gave its strategy the same snapshot, got the same
// decision, keeps the same decision in force and sent the same messages
// (recipient, sequence number, acceptance, announcement) on both paths.
// The expected output in the script (go test -update rewrites it) shows
// what the agent did, to review the cycle's behaviour: delivery, expiry,
// the credential handshake, fail-static, restarts.
//
// Script commands:
//
//	nodes ID...                        declare the nodes (stepped in this order)
//	deploy NODE FN capacity=R concurrency=N
//	link A B rtt=D
//	strategy NAME                      a built-in (default static)
//	forecast METHOD                    forecaster of both paths (default none)
//	start                              build both federations
//	requests NODE FN offered=N local=N from-neighbours=N forwarded=N rejected=N failed=N latency=D
//	                                   what the proxy counts over the coming period
//	answers NODE FN FROM succeeded=N failed=N latency=D
//	                                   what NODE's proxy counts over the coming period of
//	                                   FROM's answers to the requests it forwarded there
//	step                               every node runs a cycle; time advances a period
//	fail-proxy NODE / heal-proxy NODE  the data plane refuses / accepts decisions
//	cut A B / heal                     messages between A and B are lost / delivered
//	restart NODE                       the agent and its proxy restart (fresh state)
func TestParity(t *testing.T) {
	files, err := filepath.Glob("testdata/parity/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no parity scripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file, nil)
		})
	}
}

// TestParityDetectsDifferences checks that the comparison can fail: a
// script run with a deliberate difference on the simulator's side must be
// reported.
func TestParityDetectsDifferences(t *testing.T) {
	perturbations := map[string]func(p *parity){
		"rtt":     func(p *parity) { p.simRTT = time.Millisecond },
		"seed":    func(p *parity) { p.simSeed = 1 },
		"request": func(p *parity) { p.simExtra = 1 },
		"message": func(p *parity) { p.simDropFirst = true },
	}
	for name, perturb := range perturbations {
		t.Run(name, func(t *testing.T) {
			var diff string
			runScript(&failRecorder{T: t, fail: func(msg string) { diff = msg }}, "testdata/parity/handshake.txt", perturb)
			if diff == "" {
				t.Fatalf("a difference (%s) between the agent and the simulator went unnoticed", name)
			}
			if !strings.Contains(diff, "differ") {
				t.Fatalf("not reported as a difference: %s", diff)
			}
		})
	}
}

// failRecorder turns the first Fatalf into a recorded message and stops
// the script.
type failRecorder struct {
	*testing.T
	fail func(string)
}

func (f *failRecorder) Fatalf(format string, a ...any) {
	f.fail(fmt.Sprintf(format, a...))
	panic(errStopScript)
}

func (f *failRecorder) Errorf(format string, a ...any) { f.Fatalf(format, a...) }

var errStopScript = errors.New("script stopped")

// scriptT is what runScript needs of a test.
type scriptT interface {
	Helper()
	Fatalf(format string, a ...any)
	Errorf(format string, a ...any)
	Cleanup(func())
}

// runScript runs the script in file; perturb, if not nil, changes the
// simulator's side before the start.
func runScript(t scriptT, file string, perturb func(*parity)) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil && r != errStopScript {
			panic(r)
		}
	}()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v", err)
	}
	p := newParity(t)
	t.Cleanup(p.close)
	var out strings.Builder
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		out.WriteString(line + "\n")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var want []string
		hasBlock := i+1 < len(lines) && lines[i+1] == "----"
		if hasBlock {
			for i += 2; i < len(lines) && lines[i] != ""; i++ {
				want = append(want, lines[i])
			}
			i-- // the blank line after the block is copied as any other
		}
		if line == "start" && perturb != nil {
			perturb(p)
		}
		got, err := p.run(line)
		if err != nil {
			t.Fatalf("%s: %q: %v", file, line, err)
		}
		if got == "" {
			continue
		}
		out.WriteString("----\n" + got + "\n")
		if !golden.Update() && got != strings.Join(want, "\n") {
			t.Errorf("%s: %q: output differs (go test -update rewrites it, then review the diff)\n got:\n%s\nwant:\n%s", file, line, got, strings.Join(want, "\n"))
		}
	}
	if golden.Update() && perturb == nil {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatalf("%v", err)
		}
	}
}

// parity holds the two federations of a script.
type parity struct {
	t        scriptT
	ids      []string
	deployed map[string][]Function
	links    []Link
	strat    string
	fcName   string
	period   time.Duration
	now      int64 // ns since time zero
	cut      map[[2]string]bool

	// The agents' side.
	net    *peer.MemNetwork
	agents map[string]*agent

	// The simulator's side.
	e       *engine
	pending map[int32][]envelope // messages in flight, by recipient
	latency map[int32]map[int32]uint64
	ansLat  map[[3]string]uint64 // answer latency sums (ns), by node, function and neighbour
	seeds   map[string]uint64
	incs    map[string]uint64 // each node's incarnation, on both sides

	// Deliberate differences on the simulator's side
	// (TestParityDetectsDifferences).
	simRTT       time.Duration
	simSeed      uint64
	simExtra     uint64
	simDropFirst bool
}

// envelope is a message the simulator's engine carried.
type envelope struct {
	from, to int32
	msg      control.Message
}

// agent is one live agent with in-memory parts.
type agent struct {
	id       string
	tr       *directoryTransport
	node     *dfaas.Node
	proxy    *proxyctl.Recorder
	faas     *faas.Static
	counters *metricsrc.Counters
	rec      *recording
	inForce  strategy.Decision
	err      error
}

// recording is a strategy that records what it was given and returned.
type recording struct {
	st    strategy.Strategy
	calls []call
}

type call struct {
	s   strategy.Snapshot
	d   strategy.Decision
	err string
}

func (r *recording) Decide(s strategy.Snapshot) (strategy.Decision, error) {
	d, err := r.st.Decide(s)
	c := call{s: s.Clone(), d: d.Clone()}
	if err != nil {
		c.err = err.Error()
	}
	r.calls = append(r.calls, c)
	return d, err
}

// directoryTransport is a MemTransport whose directory lists the node's
// links with their RTTs (as the simulator's links), and which records what
// it sends.
type directoryTransport struct {
	*peer.MemTransport
	mu    sync.Mutex
	peers []peer.Info
	sent  []sent
}

type sent struct {
	to  string
	msg dfaas.StateMessage
}

func (d *directoryTransport) Peers() []peer.Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.peers)
}

func (d *directoryTransport) Send(ctx context.Context, to peer.ID, data []byte) error {
	m, err := dfaas.DecodeMessage(data, 0)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.sent = append(d.sent, sent{string(to), m})
	d.mu.Unlock()
	return d.MemTransport.Send(ctx, to, data)
}

func (d *directoryTransport) takeSent() []sent {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sent
	d.sent = nil
	return s
}

func newParity(t scriptT) *parity {
	return &parity{
		t: t, deployed: map[string][]Function{}, strat: "static", period: time.Second, cut: map[[2]string]bool{},
		agents: map[string]*agent{}, pending: map[int32][]envelope{}, latency: map[int32]map[int32]uint64{}, seeds: map[string]uint64{}, ansLat: map[[3]string]uint64{},
		incs: map[string]uint64{},
	}
}

func (p *parity) close() {
	for _, a := range p.agents {
		a.node.Close()
	}
	if p.net != nil {
		p.net.Close()
	}
}

// run runs one script line and returns its output.
func (p *parity) run(line string) (string, error) {
	f := strings.Fields(line)
	args := map[string]string{}
	for _, a := range f[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			args[k] = v
		}
	}
	switch f[0] {
	case "nodes":
		p.ids = f[1:]
	case "deploy":
		capacity, _ := strconv.ParseFloat(args["capacity"], 64)
		conc, _ := strconv.Atoi(args["concurrency"])
		p.deployed[f[1]] = append(p.deployed[f[1]], Function{Name: f[2], Capacity: capacity, Concurrency: conc})
	case "link":
		rtt, err := time.ParseDuration(args["rtt"])
		if err != nil {
			return "", err
		}
		p.links = append(p.links, Link{A: f[1], B: f[2], RTT: Duration(rtt)})
	case "strategy":
		p.strat = f[1]
	case "forecast":
		p.fcName = f[1]
	case "start":
		return "", p.start()
	case "requests":
		return "", p.requests(f[1], f[2], args)
	case "answers":
		return "", p.answers(f[1], f[2], f[3], args)
	case "step":
		return p.step()
	case "fail-proxy", "heal-proxy":
		var err error
		if f[0] == "fail-proxy" {
			err = errors.New("proxy down")
		}
		p.agents[f[1]].proxy.SetErr(err)
		p.simNode(f[1]).applyErr = err
	case "cut":
		p.net.Partition(peer.ID(f[1]), peer.ID(f[2]))
		p.cut[[2]string{f[1], f[2]}], p.cut[[2]string{f[2], f[1]}] = true, true
	case "heal":
		p.net.Heal()
		clear(p.cut)
	case "restart":
		return "", p.restart(f[1])
	default:
		return "", fmt.Errorf("unknown command %q", f[0])
	}
	return "", nil
}

func (p *parity) simNode(id string) *simNode { return p.e.nodes[p.e.nodeIdx[strategy.NodeID(id)]] }

// start builds both federations.
func (p *parity) start() error {
	sc := &Scenario{Name: "parity", Duration: Duration(time.Hour), Period: Duration(p.period), Seed: 1, Links: p.links}
	for _, id := range p.ids {
		sc.Nodes = append(sc.Nodes, Node{ID: id, Functions: p.deployed[id]})
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	sc.fillDefaults()
	for i := range sc.Links {
		sc.Links[i].RTT += Duration(p.simRTT)
	}
	var fc forecast.Factory
	if p.fcName != "" {
		f, err := forecast.ByName(p.fcName)
		if err != nil {
			return err
		}
		fc = f
	}
	factory, ok := strategy.Builtin().Factory(p.strat)
	if !ok {
		return fmt.Errorf("unknown strategy %q", p.strat)
	}
	e, err := newEngine(sc, Config{Strategy: p.strat, Factory: factory, Forecaster: fc, NoResources: true, Handshake: true})
	if err != nil {
		return err
	}
	p.e = e
	p.net = peer.NewMemNetwork(peer.MemNetworkOptions{})
	for i, id := range p.ids {
		p.seeds[id] = uint64(i+1) * 0x9e3779b97f4a7c15
		p.incs[id] = 1
		tr, err := p.net.Join(peer.ID(id))
		if err != nil {
			return err
		}
		dt := &directoryTransport{MemTransport: tr}
		n := p.simNode(id)
		for _, pr := range n.peers {
			dt.peers = append(dt.peers, peer.Info{ID: peer.ID(pr.ID), Up: true, RTT: pr.RTT - p.simRTT})
		}
		fns := make([]faas.Function, 0, len(p.deployed[id]))
		for _, f := range sc.Nodes[i].Functions {
			fns = append(fns, faas.Function{Name: f.Name, Replicas: 1, AvailableReplicas: 1, Labels: map[string]string{
				faas.LabelMaxRate: strconv.FormatFloat(f.Capacity, 'g', -1, 64), faas.LabelConcurrency: strconv.Itoa(f.Concurrency)}})
		}
		p.agents[id] = &agent{id: id, tr: dt, faas: faas.NewStatic(fns...)}
		if err := p.startAgent(id, fc); err != nil {
			return err
		}
		if err := p.startSimAgent(id); err != nil {
			return err
		}
	}
	return nil
}

// startAgent starts (or restarts) the live agent id with a fresh proxy
// and fresh counters.
func (p *parity) startAgent(id string, fc forecast.Factory) error {
	a := p.agents[id]
	st, err := strategy.Builtin().New(p.strat, nil)
	if err != nil {
		return err
	}
	a.rec, a.proxy, a.counters, a.inForce = &recording{st: st}, proxyctl.NewRecorder(0), metricsrc.NewCounters(), strategy.Decision{}
	a.counters.MeasureAnswers() // as the embedded proxy's, which the simulator models
	a.node, err = dfaas.New(dfaas.Config{
		Strategy: a.rec, Proxy: a.proxy, FaaS: a.faas, Metrics: metricsrc.NewDelta(a.counters), Peers: a.tr,
		ProxyURL: "http://" + id + ".example:30080", Period: p.period, Seed: p.seeds[id], Forecaster: fc,
		Incarnation: p.incs[id],
	})
	return err
}

// startSimAgent gives the simulator's node id a fresh agent and proxy,
// with the same seed as the live agent's.
func (p *parity) startSimAgent(id string) error {
	n := p.simNode(id)
	core, err := control.New(p.e.coreConfig(n.id, p.seeds[id]+p.simSeed, p.incs[id]))
	if err != nil {
		return err
	}
	st, err := strategy.Builtin().New(p.strat, nil)
	if err != nil {
		return err
	}
	n.core, n.st = core, &recording{st: st}
	for i := range n.routes {
		n.routes[i] = route{}
		if n.stations[i] != nil {
			n.routes[i].r, n.routes[i].ok = routing.Default(true, 0)
		}
	}
	clear(n.cnt)
	clear(n.last)
	clear(n.ans)
	clear(n.lastAns)
	n.hasLast, n.applyErr = false, nil
	p.latency[n.idx] = map[int32]uint64{}
	return nil
}

// requests counts the requests of the coming period on both proxies.
func (p *parity) requests(id, fn string, args map[string]string) error {
	num := func(k string) uint64 {
		v, _ := strconv.ParseUint(args[k], 10, 64)
		return v
	}
	lat, _ := time.ParseDuration(args["latency"])
	fc := p.agents[id].counters.Function(fn)
	fc.Offered.Add(num("offered"))
	fc.Local.Add(num("local"))
	fc.FromNeighbours.Add(num("from-neighbours"))
	fc.Forwarded.Add(num("forwarded"))
	fc.Rejected.Add(num("rejected"))
	fc.Failed.Add(num("failed"))
	for range num("local") {
		fc.ObserveLatency(lat)
	}

	n := p.simNode(id)
	i, ok := p.e.fnIdx[fn]
	if !ok {
		return fmt.Errorf("function %q is deployed nowhere (the simulator knows only deployed functions)", fn)
	}
	c := &n.cnt[i]
	c.exists = true
	c.offered += num("offered") + p.simExtra
	c.local += num("local")
	c.fromNeighbours += num("from-neighbours")
	c.forwarded += num("forwarded")
	c.rejected += num("rejected")
	c.failed += num("failed")
	c.latencyCount += num("local")
	p.latency[n.idx][i] += num("local") * uint64(lat)
	c.latencySum = time.Duration(p.latency[n.idx][i]).Seconds() // as metricsrc.Counters sums
	return nil
}

// answers counts, on both proxies of node id, the answers of neighbour
// from to the requests for fn it forwarded there over the coming period.
func (p *parity) answers(id, fn, from string, args map[string]string) error {
	num := func(k string) uint64 {
		v, _ := strconv.ParseUint(args[k], 10, 64)
		return v
	}
	lat, _ := time.ParseDuration(args["latency"])
	fc := p.agents[id].counters.Function(fn)
	for range num("succeeded") {
		fc.AddAnswer(from, true, lat)
	}
	for range num("failed") {
		fc.AddAnswer(from, false, 0)
	}

	n := p.simNode(id)
	i, ok := p.e.fnIdx[fn]
	li, linked := n.linkByID(strategy.NodeID(from))
	if !ok || !linked {
		return fmt.Errorf("function %q or link %s-%s unknown", fn, id, from)
	}
	a := &n.ans[int(i)*len(n.links)+int(li)]
	a.succeeded += num("succeeded")
	a.failed += num("failed")
	a.latencyCount += num("succeeded")
	key := [3]string{id, fn, from}
	p.ansLat[key] += num("succeeded") * uint64(lat)
	a.latencySum = time.Duration(p.ansLat[key]).Seconds() // as metricsrc.Counters sums
	return nil
}

// restart restarts node id's agent and proxy on both sides, in a new
// incarnation: its state is lost, and so are the messages waiting for it.
func (p *parity) restart(id string) error {
	p.incs[id]++
	a := p.agents[id]
	a.node.Close()
	for drained := false; !drained; {
		select {
		case <-a.tr.Recv():
		default:
			drained = true
		}
	}
	var fc forecast.Factory
	if p.fcName != "" {
		fc, _ = forecast.ByName(p.fcName)
	}
	if err := p.startAgent(id, fc); err != nil {
		return err
	}
	delete(p.pending, p.simNode(id).idx)
	for k := range p.ansLat {
		if k[0] == id {
			delete(p.ansLat, k)
		}
	}
	return p.startSimAgent(id)
}

// step runs a cycle on every node of both federations at the current time,
// compares them, and advances the time by a period.
func (p *parity) step() (string, error) {
	now := wallClock(p.now)
	var out []string
	for _, id := range p.ids {
		a, n := p.agents[id], p.simNode(id)
		a.rec.calls, n.st.(*recording).calls = nil, nil
		d, err := a.node.Step(context.Background(), now)
		if errors.Is(err, dfaas.ErrClosed) {
			return "", err
		}
		a.inForce, a.err = d, err
		for _, env := range p.pending[n.idx] {
			n.receive(p.now, env.from, env.msg)
		}
		delete(p.pending, n.idx)
		n.tick(p.now)
		simSent := p.collect()
		p.compare(id, a, n, a.tr.takeSent(), simSent, &out)
	}
	p.now += int64(p.period)
	return strings.Join(out, "\n"), nil
}

// collect takes the messages the simulator's node just sent off the
// engine's queue, dropping those across a cut, and returns them.
func (p *parity) collect() []envelope {
	var got []envelope
	for len(p.e.queue) > 0 {
		ev := p.e.queue.pop()
		if ev.kind != evAnnounce {
			continue
		}
		m := p.e.slots[ev.aux]
		p.e.slots[ev.aux] = control.Message{}
		p.e.freeSlot = append(p.e.freeSlot, ev.aux)
		got = append(got, envelope{from: ev.fn, to: ev.node, msg: m})
	}
	slices.SortFunc(got, func(a, b envelope) int {
		return strings.Compare(string(p.e.nodes[a.to].id), string(p.e.nodes[b.to].id))
	})
	for _, env := range got {
		from, to := string(p.e.nodes[env.from].id), string(p.e.nodes[env.to].id)
		if p.cut[[2]string{from, to}] {
			continue
		}
		if p.simDropFirst {
			p.simDropFirst = false
			continue
		}
		p.pending[env.to] = append(p.pending[env.to], env)
	}
	return got
}

// compare checks that node id did the same on both sides in this step,
// and appends the agent's summary to out.
func (p *parity) compare(id string, a *agent, n *simNode, agentSent []sent, simSent []envelope, out *[]string) {
	t := p.t
	t.Helper()
	ac, sc := a.rec.calls, n.st.(*recording).calls
	if len(ac) != len(sc) {
		t.Fatalf("t=%v node %s: the strategy was called %d times by the agent, %d by the simulator: the paths differ", p.time(), id, len(ac), len(sc))
	}
	for i := range ac {
		if !ac[i].s.Equal(sc[i].s) {
			t.Fatalf("t=%v node %s: snapshots differ:\nagent: %s\nsim:   %s", p.time(), id, js(ac[i].s), js(sc[i].s))
		}
		if !ac[i].d.Equal(sc[i].d) || ac[i].err != sc[i].err {
			t.Fatalf("t=%v node %s: decisions differ:\nagent: %s %s\nsim:   %s %s", p.time(), id, js(ac[i].d), ac[i].err, js(sc[i].d), sc[i].err)
		}
	}
	if inForce := n.core.Decision(); !a.inForce.Equal(inForce) {
		t.Fatalf("t=%v node %s: decisions in force differ:\nagent: %s\nsim:   %s", p.time(), id, js(a.inForce), js(inForce))
	}
	// A step's greetings go before its cycle's messages, in the order the
	// messages that called for them arrived: compare by recipient and
	// sequence number.
	slices.SortStableFunc(agentSent, func(a, b sent) int {
		return cmp.Or(strings.Compare(a.to, b.to), cmp.Compare(a.msg.Seq, b.msg.Seq))
	})
	slices.SortStableFunc(simSent, func(a, b envelope) int {
		return cmp.Or(strings.Compare(string(p.e.nodes[a.to].id), string(p.e.nodes[b.to].id)), cmp.Compare(a.msg.Seq, b.msg.Seq))
	})
	if len(agentSent) != len(simSent) {
		t.Fatalf("t=%v node %s: sent %d messages as an agent, %d in the simulator: the paths differ", p.time(), id, len(agentSent), len(simSent))
	}
	for i, as := range agentSent {
		ss := simSent[i]
		to := string(p.e.nodes[ss.to].id)
		if as.to != to || as.msg.Incarnation != ss.msg.Incarnation || as.msg.Seq != ss.msg.Seq || (as.msg.Token != "") != ss.msg.Accepts || !as.msg.Announcement.Equal(ss.msg.Announcement) {
			t.Fatalf("t=%v node %s: messages differ:\nagent: to %s seq %d token %v %s\nsim:   to %s seq %d accepts %v %s", p.time(), id,
				as.to, as.msg.Seq, as.msg.Token != "", js(as.msg.Announcement), to, ss.msg.Seq, ss.msg.Accepts, js(ss.msg.Announcement))
		}
	}
	lines := summary(id, ac, a.err, agentSent)
	if len(ac) > 0 && a.err == nil {
		// What Bound capped of the decision (the decision in force,
		// compared above, is the capped one).
		var capped []string
		for _, c := range a.node.Status(wallClock(p.now)).Trust.Allowances {
			if c.Capped {
				capped = append(capped, fmt.Sprintf("%s to %.4g req/s (decided %.4g)", c.ID, c.AllowanceRPS, c.DecidedRPS))
			}
		}
		if len(capped) > 0 {
			lines = slices.Insert(lines, len(lines)-1, fmt.Sprintf("%s: capped %s", id, strings.Join(capped, ", ")))
		}
	}
	*out = append(*out, lines...)
}

func (p *parity) time() time.Duration { return time.Duration(p.now) }

// summary describes what agent id did in a step.
func summary(id string, calls []call, err error, msgs []sent) []string {
	var lines []string
	for _, c := range calls {
		lines = append(lines, fmt.Sprintf("%s: neighbours %s", id, neighbours(c.s)), fmt.Sprintf("%s: functions %s", id, functions(c.s)))
		if c.err != "" {
			lines = append(lines, fmt.Sprintf("%s: decide: %s", id, c.err))
		} else {
			lines = append(lines, fmt.Sprintf("%s: decided %s", id, routes(c.d)))
		}
	}
	if err != nil {
		lines = append(lines, fmt.Sprintf("%s: kept the decision in force: %v", id, err))
	}
	var to []string
	for _, m := range msgs {
		s := fmt.Sprintf("%s#%d", m.to, m.msg.Seq)
		if m.msg.Incarnation != 1 {
			s = fmt.Sprintf("%s#%d.%d", m.to, m.msg.Incarnation, m.msg.Seq)
		}
		if m.msg.Token != "" {
			s += "+token"
		}
		for _, g := range m.msg.Announcement.Grants {
			s += fmt.Sprintf("+grant(%s %.4g)", g.Function, g.Rate)
		}
		to = append(to, s)
	}
	return append(lines, fmt.Sprintf("%s: sent %s", id, strings.Join(to, " ")))
}

func neighbours(s strategy.Snapshot) string {
	var out []string
	for _, nb := range s.Neighbours {
		out = append(out, fmt.Sprintf("%s(age %v rtt %v)", nb.ID, nb.Age, nb.RTT))
	}
	return "[" + strings.Join(out, " ") + "]"
}

func functions(s strategy.Snapshot) string {
	var out []string
	for _, f := range s.Functions {
		d := ""
		if f.Deployed {
			d = fmt.Sprintf("deployed cap %.4g ", f.Capacity)
		}
		out = append(out, fmt.Sprintf("%s(%soffered %.4g forecast %.4g local %.4g latency %v)", f.Name, d, f.Offered, f.Forecast, f.Local, f.Latency))
	}
	return "[" + strings.Join(out, " ") + "]"
}

func routes(d strategy.Decision) string {
	var out []string
	for _, r := range d.Routes {
		s := fmt.Sprintf("%s(local %.3g reject %.3g", r.Function, r.Local, r.Reject)
		for _, sh := range r.Forward {
			s += fmt.Sprintf(" %s %.3g", sh.Node, sh.Share)
		}
		if r.LocalLimit > 0 {
			s += fmt.Sprintf(" limit %.4g", r.LocalLimit)
		}
		out = append(out, s+")")
	}
	return "[" + strings.Join(out, " ") + "]"
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
