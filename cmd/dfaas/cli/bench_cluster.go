package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// benchKey is a node's key file and the node ID it gives.
type benchKey struct {
	file string
	id   string
}

// benchRunConfig is one run of a scenario with one strategy on real
// processes.
type benchRunConfig struct {
	sc       *sim.Scenario // cut to the run's length
	strategy string
	proxy    string // embedded or haproxy
	period   time.Duration
	forecast string
	net      benchNet
	links    map[int][]int // node → linked nodes
	bin      string        // the dfaas executable
	dir      string        // work directory of this run (removed by the caller)
	keys     []benchKey
	logLevel string
	timeout  time.Duration // of each user request
	form     time.Duration // how long to wait for the federation to form
	progress io.Writer     // nil: no progress bar
	label    string        // for the progress bar
	log      *slog.Logger
}

// benchRunOutput is what a run observed.
type benchRunOutput struct {
	records   []report.Record
	decisions []report.Decision
	notes     []string
}

// benchNode is one node's processes during a run.
type benchNode struct {
	id          string
	faas, agent *benchProc
	client      *http.Client // dials inside the node's network
	ports       benchPorts
}

// benchRun starts the nodes, waits for the federation, sends the load,
// records requests and decisions, and stops every process it started, on
// every path.
func benchRun(ctx context.Context, cfg benchRunConfig) (out benchRunOutput, err error) {
	sc := cfg.sc
	nodes := make([]*benchNode, len(sc.Nodes))
	var procWG sync.WaitGroup
	defer func() {
		var stops sync.WaitGroup
		for _, n := range nodes {
			if n == nil {
				continue
			}
			// Agents first (each stops its HAProxy), then the FaaS.
			if n.agent != nil {
				stops.Go(func() { n.agent.stop(10 * time.Second) })
			}
		}
		stops.Wait()
		for _, n := range nodes {
			if n != nil && n.faas != nil {
				stops.Go(func() { n.faas.stop(5 * time.Second) })
			}
		}
		stops.Wait()
		procWG.Wait()
		cfg.net.sweep()
		benchSweepDir(cfg.dir, 5*time.Second)
		for _, n := range nodes {
			if n != nil && n.client != nil {
				n.client.CloseIdleConnections()
			}
		}
	}()
	names := map[string]string{}
	for i, n := range sc.Nodes {
		names[cfg.keys[i].id] = n.ID
	}
	// FaaS first: the agents list its functions at start.
	for i, n := range sc.Nodes {
		p := cfg.net.ports(i)
		nodes[i] = &benchNode{id: n.ID, ports: p, client: benchClient(cfg.net.dialer(i), cfg.timeout)}
		argv := []string{cfg.bin, "faas", "--listen", fmt.Sprintf("127.0.0.1:%d", p.faas),
			"--seed", strconv.FormatUint(sc.Seed*1000+uint64(i)+1, 10), "--log-level", cfg.logLevel}
		argv = append(argv, benchFunctionFlags(n.Functions)...)
		proc, err := benchStart(&procWG, n.ID+" faas", cfg.net.command(i, argv))
		if err != nil {
			return out, err
		}
		nodes[i].faas = proc
	}
	for i, n := range nodes {
		base := fmt.Sprintf("http://127.0.0.1:%d", n.ports.faas)
		if err := benchWaitHTTP(ctx, n.client, base+"/healthz", n.faas, 20*time.Second); err != nil {
			return out, fmt.Errorf("node %s: FaaS: %w", n.id, err)
		}
		if len(sc.Nodes[i].Functions) == 0 {
			// dfaas faas serves every built-in when given no function:
			// delete them, so that the node runs none, as the scenario says.
			if err := benchDeleteFunctions(ctx, n.client, base); err != nil {
				return out, fmt.Errorf("node %s: %w", n.id, err)
			}
		}
	}
	var members []string
	for _, k := range cfg.keys {
		members = append(members, k.id)
	}
	// Agents start at the phases the simulator gives the nodes' control
	// cycles (same seed, same draw), so that they do not all decide at the
	// same instant and the load starts at the same point of their cycles.
	rnd := rand.New(rand.NewPCG(sc.Seed, 0x7105e))
	phases := make([]time.Duration, len(nodes))
	order := make([]int, len(nodes))
	for i := range nodes {
		phases[i], order[i] = time.Duration(rnd.Int64N(int64(cfg.period))), i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(phases[a], phases[b]) })
	t0 := time.Now()
	for _, i := range order {
		n := nodes[i]
		if err := benchSleep(ctx, time.Until(t0.Add(phases[i]))); err != nil {
			return out, err
		}
		p := n.ports
		var boot []string
		for _, j := range cfg.links[i] {
			boot = append(boot, fmt.Sprintf("quic://%s:%d/%s", cfg.net.addr(j), cfg.net.ports(j).peer, cfg.keys[j].id))
		}
		listenHost := "" // every address of the node's namespace
		if _, lo := cfg.net.(*benchLoopback); lo {
			listenHost = "127.0.0.1"
		}
		hdir := filepath.Join(cfg.dir, strconv.Itoa(i))
		if err := os.MkdirAll(hdir, 0o700); err != nil {
			return out, err
		}
		argv := []string{cfg.bin, "agent",
			"--strategy", cfg.strategy, "--period", cfg.period.String(), "--forecast", cfg.forecast,
			"--seed", strconv.FormatUint(sc.Seed+uint64(i), 10), "--log-level", cfg.logLevel,
			"--key", cfg.keys[i].file, "--members", strings.Join(members, ","),
			"--peer-listen", fmt.Sprintf("%s:%d", listenHost, p.peer),
			"--node-ip", cfg.net.addr(i), "--proxy-listen", fmt.Sprintf("%s:%d", listenHost, p.proxy),
			"--http", fmt.Sprintf("127.0.0.1:%d", p.admin),
			"--faas", "openfaas", "--openfaas-url", fmt.Sprintf("http://127.0.0.1:%d", p.faas),
			// The nodes share this machine, whose CPU and memory are no one
			// node's: the agents get no node usage (nor do the simulated
			// nodes the report sets beside them, sim.Config.NoResources),
			// and resource-based strategies use their capacity model.
			"--node-exporter-url", "none",
			"--proxy", cfg.proxy,
		}
		if len(boot) > 0 {
			argv = append(argv, "--bootstrap", strings.Join(boot, ","))
		}
		if cfg.proxy == "haproxy" {
			argv = append(argv, "--haproxy-dir", filepath.Join(hdir, "h"), "--haproxy-metrics", fmt.Sprintf("127.0.0.1:%d", p.metrics))
			// HAProxy queues requests for a function's concurrency slots
			// itself (the FaaS queue then stays empty): give its queue the
			// functions' time-out, as the scenario says (the longest, if a
			// node's functions differ).
			var qt time.Duration
			for _, f := range sc.Nodes[i].Functions {
				qt = max(qt, f.Timeout.D())
			}
			if qt > 0 {
				argv = append(argv, "--haproxy-queue-timeout", qt.String())
			}
		}
		proc, err := benchStart(&procWG, n.id+" agent", cfg.net.command(i, argv))
		if err != nil {
			return out, err
		}
		n.agent = proc
	}
	for _, n := range nodes {
		if err := benchWaitHTTP(ctx, n.client, n.adminURL()+"/healthz", n.agent, 30*time.Second); err != nil && !errors.Is(err, errBenchUnhealthy) {
			return out, fmt.Errorf("node %s: agent: %w", n.id, err)
		}
	}
	// The load starts after sim.WarmupPeriods control cycles of every
	// node, as in the simulator, if the federation has formed by then;
	// else at the next cycle boundary after it has (or after --form-timeout).
	loadAt := t0.Add(sim.WarmupPeriods * cfg.period)
	if err := benchWaitFederation(ctx, nodes, cfg.links, loadAt); err != nil {
		if errors.Is(err, errBenchProcExited) || ctx.Err() != nil {
			return out, cmp.Or(ctx.Err(), err)
		}
		err = benchWaitFederation(ctx, nodes, cfg.links, t0.Add(cfg.form))
		if errors.Is(err, errBenchProcExited) || ctx.Err() != nil {
			return out, cmp.Or(ctx.Err(), err)
		}
		k := time.Since(t0)/cfg.period + 1
		loadAt = t0.Add(k * cfg.period)
		if err != nil {
			out.notes = append(out.notes, fmt.Sprintf("%s: the federation had not fully formed after %v (%v); load was sent anyway", cfg.strategy, cfg.form, err))
			cfg.log.Warn("federation not fully formed; sending load anyway", "err", err)
		} else {
			out.notes = append(out.notes, fmt.Sprintf("%s: the federation formed late: the load started after %d control periods instead of %d", cfg.strategy, k, sim.WarmupPeriods))
		}
	}
	if err := benchSleep(ctx, time.Until(loadAt)); err != nil {
		return out, err
	}

	lg := &benchLoad{timeout: cfg.timeout, names: names}
	var streams []benchStream
	idx := map[string]int{}
	for i, n := range sc.Nodes {
		idx[n.ID] = i
	}
	for _, l := range sc.Load {
		n := nodes[idx[l.Node]]
		streams = append(streams, benchStream{node: l.Node, load: l, client: n.client,
			url: fmt.Sprintf("http://127.0.0.1:%d/function/%s", n.ports.proxy, l.Function)})
	}
	d := sc.Duration.D()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	var wg sync.WaitGroup
	var decisions []report.Decision
	loadDone := make(chan struct{})
	wg.Go(func() {
		defer close(loadDone)
		lg.run(runCtx, streams, start, d, sc.Seed)
	})
	wg.Go(func() { decisions = benchPollDecisions(runCtx, nodes, names, start, loadDone) })
	wg.Go(func() { benchWatch(runCtx, cancel, nodes, loadDone) })
	wg.Go(func() { benchProgress(cfg.progress, cfg.label, lg, start, d, loadDone) })
	wg.Wait()
	if err := context.Cause(runCtx); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		return out, err
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	out.records = lg.records()
	out.decisions = decisions
	return out, nil
}

func (n *benchNode) adminURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.ports.admin) }

// benchFunctionFlags returns the dfaas faas flags that deploy a scenario
// node's functions with its capacity model. Functions without a built-in
// of their name run echo (the capacity model sets the service time).
func benchFunctionFlags(fns []sim.Function) []string {
	builtin := map[string]bool{}
	for _, h := range embedded.Handlers() {
		builtin[h] = true
	}
	var out []string
	for _, f := range fns {
		conc := max(f.Concurrency, 1)
		timeout := f.Timeout.D()
		// The simulator's queue is bounded by the time-out alone: make the
		// FaaS queue long enough never to refuse before the time-out does.
		queue := max(10*conc, int(math.Ceil(f.Capacity*timeout.Seconds()*2))+conc)
		spec := fmt.Sprintf("%s,capacity=%s,concurrency=%d,queue=%d,queue_timeout=%s", f.Name,
			strconv.FormatFloat(f.Capacity, 'g', -1, 64), conc, queue, timeout)
		if !builtin[f.Name] {
			spec += ",handler=echo"
		}
		out = append(out, "--function", spec)
	}
	return out
}

var (
	errBenchProcExited = errors.New("process exited")
	errBenchUnhealthy  = errors.New("unhealthy")
)

// benchWaitHTTP waits until url answers 200 (or, for an answer that is not
// 200, returns errBenchUnhealthy after timeout), failing early if proc
// exits.
func benchWaitHTTP(ctx context.Context, c *http.Client, url string, proc *benchProc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if proc.exited() {
			return fmt.Errorf("%w: %s: %v\n%s", errBenchProcExited, proc.name, proc.err, proc.out.lastLines(20))
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			last = fmt.Errorf("%w: %s: status %d", errBenchUnhealthy, url, resp.StatusCode)
		} else {
			last = err
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w", proc.name, timeout, last)
		}
		if err := benchSleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// benchDeleteFunctions deletes every function of the FaaS at base.
func benchDeleteFunctions(ctx context.Context, c *http.Client, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/system/functions", nil)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	var fns []struct {
		Name string `json:"name"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&fns)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	for _, f := range fns {
		body, _ := json.Marshal(map[string]string{"functionName": f.Name})
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/system/functions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("delete function %s: %w", f.Name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("delete function %s: status %d", f.Name, resp.StatusCode)
		}
	}
	return nil
}

// benchStatus is the part of an agent's /status the bench reads.
type benchStatus struct {
	Peers []struct {
		ID        string `json:"id"`
		Neighbour bool   `json:"neighbour"`
	} `json:"peers"`
	Decision strategy.Decision `json:"decision"`
	Cycles   uint64            `json:"cycles"`
}

func benchGetStatus(ctx context.Context, n *benchNode) (benchStatus, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, n.adminURL()+"/status", nil)
	resp, err := n.client.Do(req)
	if err != nil {
		return benchStatus{}, err
	}
	defer resp.Body.Close()
	var st benchStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&st); err != nil {
		return benchStatus{}, fmt.Errorf("node %s /status: %w", n.id, err)
	}
	return st, nil
}

// benchWaitFederation waits until every node has all the nodes it is
// linked to as neighbours, or until deadline.
func benchWaitFederation(ctx context.Context, nodes []*benchNode, links map[int][]int, deadline time.Time) error {
	for {
		var missing []string
		for i, n := range nodes {
			if n.agent.exited() {
				return fmt.Errorf("%w: %s: %v\n%s", errBenchProcExited, n.agent.name, n.agent.err, n.agent.out.lastLines(20))
			}
			want := len(links[i])
			st, err := benchGetStatus(ctx, n)
			if err != nil {
				missing = append(missing, fmt.Sprintf("%s: %v", n.id, err))
				continue
			}
			got := 0
			for _, p := range st.Peers {
				if p.Neighbour {
					got++
				}
			}
			if got < want {
				missing = append(missing, fmt.Sprintf("%s sees %d of %d neighbours", n.id, got, want))
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New(strings.Join(missing, "; "))
		}
		if err := benchSleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// benchPollDecisions polls every node's decision each second until done
// is closed (or ctx is), and returns each route change.
func benchPollDecisions(ctx context.Context, nodes []*benchNode, names map[string]string, start time.Time, done <-chan struct{}) []report.Decision {
	var out []report.Decision
	last := map[[2]string]strategy.Route{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	name := func(id strategy.NodeID) string {
		if n, ok := names[string(id)]; ok {
			return n
		}
		return string(id)
	}
	for {
		for _, n := range nodes {
			st, err := benchGetStatus(ctx, n)
			if err != nil {
				continue
			}
			at := max(0, time.Since(start))
			for _, r := range st.Decision.Routes {
				k := [2]string{n.id, r.Function}
				if prev, ok := last[k]; ok && prev.Equal(r) {
					continue
				}
				last[k] = r
				d := report.Decision{At: at, Node: n.id, Function: r.Function, Local: r.Local, Reject: r.Reject, LocalLimit: r.LocalLimit}
				for _, s := range r.Forward {
					d.Forward = append(d.Forward, report.Share{Node: name(s.Node), Share: s.Share})
				}
				out = append(out, d)
			}
		}
		select {
		case <-ctx.Done():
			return out
		case <-done:
			return out
		case <-tick.C:
		}
	}
}

// benchWatch cancels the run if a node's process exits during it.
func benchWatch(ctx context.Context, cancel context.CancelCauseFunc, nodes []*benchNode, done <-chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, n := range nodes {
			for _, p := range []*benchProc{n.faas, n.agent} {
				if p.exited() {
					cancel(fmt.Errorf("%w during the load: %s: %v\n%s", errBenchProcExited, p.name, p.err, p.out.lastLines(20)))
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// benchProgress draws a progress bar on w until done is closed.
func benchProgress(w io.Writer, label string, lg *benchLoad, start time.Time, d time.Duration, done <-chan struct{}) {
	if w == nil {
		return
	}
	draw := func() {
		el := min(time.Since(start), d)
		const width = 30
		filled := int(float64(width) * el.Seconds() / max(d.Seconds(), 1e-9))
		fmt.Fprintf(w, "\r%s [%s%s] %4.0fs/%.0fs  offered %d  served %d  forwarded %d  rejected %d  failed %d ",
			label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), el.Seconds(), d.Seconds(),
			lg.offered.Load(), lg.served.Load(), lg.forwarded.Load(), lg.rejected.Load(), lg.failed.Load())
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			draw()
			fmt.Fprintln(w)
			return
		case <-tick.C:
			draw()
		}
	}
}

// benchSleep waits d or until ctx is done.
func benchSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
