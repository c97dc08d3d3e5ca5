package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cnruntime "github.com/haproxytech/client-native/v6/runtime"
	cnopt "github.com/haproxytech/client-native/v6/runtime/options"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// ErrClosed is returned by Apply and Totals after Close.
var ErrClosed = errors.New("haproxy: controller closed")

// Controller drives one HAProxy process. It implements proxyctl.Controller
// and metricsrc.TotalsReader, and is safe for concurrent use (calls are
// serialized).
//
// A Controller that started HAProxy owns it: a goroutine restarts it if it
// exits, and Close stops it.
type Controller struct {
	o   settings
	res resolver

	mu      sync.Mutex
	closed  bool
	rt      runtimeAPI
	sup     *supervisor // nil when attached
	lock    *os.File    // held while the controller runs
	lay     layout
	slots   []slotState // current slot assignment
	lastUse []uint64    // when each slot was last freed (for LRU reuse)
	tick    uint64
	applied *desired // run-time state HAProxy has; nil when unknown
	pid     int      // worker that has it
	stats   Stats
	acc     accumulator
	// cappedDesc describes the forwarding caps' metric (metrics.go).
	cappedDesc *prometheus.Desc
	// warnedCA: the warning that CA files exceed the runtime API's
	// payload was logged.
	warnedCA bool
	// unusable: the neighbours whose address could not be used at the
	// last Apply (unusable.go).
	unusable map[strategy.NodeID]unusableAddr
}

// Stats counts what a Controller did.
type Stats struct {
	// Applies counts successful calls to Apply; Reloads the reloads they
	// needed; Commands the runtime API commands sent; FullApplies the
	// times the full state was re-applied (after a restart of HAProxy).
	Applies, Reloads, Commands, FullApplies int
}

// New starts HAProxy (or attaches to a running one, see Config.Attach)
// with a configuration that serves every function request locally until
// the first Apply, and returns its Controller. ctx bounds the start.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	o, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if o.binary, err = exec.LookPath(o.binary); err != nil {
		return nil, fmt.Errorf("%w: Binary: %v", ErrConfig, err)
	}
	if o.tempDir {
		if o.dir, err = os.MkdirTemp("", "dfaas-haproxy-"); err != nil {
			return nil, fmt.Errorf("haproxy: work directory: %w", err)
		}
		o.configPath = o.dir + "/haproxy.cfg"
		o.runtimeSocket = o.dir + "/runtime.sock"
		o.masterSocket = o.dir + "/master.sock"
		if len(o.dir)+len(longestSocket) > maxSocketPath || !safePath(o.dir) {
			os.RemoveAll(o.dir)
			return nil, fmt.Errorf("%w: Dir: the temporary directory %q is too long or has special characters for UNIX sockets; set Dir", ErrConfig, o.dir)
		}
	}
	c := &Controller{o: o, res: net.DefaultResolver, lay: layout{slots: o.slots}, cappedDesc: newCappedDesc()}
	c.acc.init()
	if err := c.start(ctx); err != nil {
		if o.tempDir {
			os.RemoveAll(o.dir)
		}
		return nil, err
	}
	return c, nil
}

// start writes the initial configuration and starts or reloads HAProxy.
func (c *Controller) start(ctx context.Context) error {
	o := &c.o
	lock, err := lockDir(o)
	if err != nil {
		return err
	}
	c.lock = lock
	d := build(proxyctl.State{}, c.lay, nil, o.ownCert())
	if err := writeFiles(o, render(o, c.lay, d)); err != nil {
		c.unlock()
		return err
	}
	if err := checkConfig(ctx, o); err != nil {
		c.unlock()
		return err
	}
	if o.attach {
		err = c.reload(ctx)
	} else {
		err = c.launch(ctx)
	}
	if err != nil {
		c.unlock()
		return err
	}
	rt, err := cnruntime.New(ctx, cnopt.Socket(o.runtimeSocket))
	if err != nil {
		c.stopProcess()
		c.unlock()
		return fmt.Errorf("haproxy: runtime API on %s: %w", o.runtimeSocket, err)
	}
	c.rt = rt
	pid, err := workerPID(rt)
	if err != nil {
		c.stopProcess()
		c.unlock()
		return err
	}
	c.pid, c.applied = pid, &d
	return nil
}

// launch starts HAProxy under a supervisor. An HAProxy still running on
// the master socket was left by a controller that is gone (this one holds
// the work directory's lock): the new process takes its listening sockets
// over (haproxy -x, so no connection is refused) and stops it (-sf), so
// that nothing of the old state (the neighbours' credentials above all)
// stays in force once New returns.
func (c *Controller) launch(ctx context.Context) error {
	o := &c.o
	var extra []string
	ready := c.ready
	if out, err := masterCommand(ctx, o.masterSocket, "show proc", time.Second); err == nil {
		if ps, err := parseShowProc(out); err == nil {
			o.log.Warn("taking over an HAProxy left running by a previous controller", "master", ps.masterPID, "workers", ps.workers)
			extra = []string{"-x", o.runtimeSocket, "-sf", strconv.Itoa(ps.masterPID)}
			ready = func(ctx context.Context) error {
				pid, err := socketPID(ctx, o.runtimeSocket)
				if err == nil && slices.Contains(ps.workers, pid) {
					err = fmt.Errorf("haproxy: the old worker %d still answers", pid)
				}
				if err != nil {
					return err
				}
				return c.ready(ctx)
			}
		}
	}
	sup, err := startSupervisor(ctx, o, c.ready, ready, extra)
	if err != nil {
		return err
	}
	c.sup = sup
	return nil
}

// lockDir takes the work directory's lock file, so that two controllers
// never drive one HAProxy. The kernel releases it when the process ends.
func lockDir(o *settings) (*os.File, error) {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return nil, fmt.Errorf("haproxy: work directory: %w", err)
	}
	path := filepath.Join(o.dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("haproxy: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("haproxy: another controller already runs on %s (it holds %s): %w", o.dir, path, err)
	}
	return f, nil
}

func (c *Controller) unlock() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// ready reports whether HAProxy answers on the runtime socket and on the
// master CLI.
func (c *Controller) ready(ctx context.Context) error {
	if _, err := socketPID(ctx, c.o.runtimeSocket); err != nil {
		return err
	}
	_, err := masterCommand(ctx, c.o.masterSocket, "show proc", time.Second)
	return err
}

// MasterPID returns the process ID of the HAProxy master the controller
// started (its workers are its children), or 0 when attached.
func (c *Controller) MasterPID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sup == nil {
		return 0
	}
	return c.sup.masterPID()
}

// Dir returns the work directory.
func (c *Controller) Dir() string { return c.o.dir }

// Stats returns what the controller did so far.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Apply implements proxyctl.Controller: it makes HAProxy route as s says,
// through the runtime API, reloading only when s needs a backend the
// configuration lacks or more neighbour slots. After an error, the next
// Apply re-applies the full state.
func (c *Controller) Apply(ctx context.Context, s proxyctl.State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkState(s); err != nil {
		return fmt.Errorf("haproxy: %w", err)
	}
	if err := checkSchemes(&c.o, s); err != nil {
		return fmt.Errorf("haproxy: %w", err)
	}
	s, addrs, err := c.usable(ctx, s)
	if err != nil {
		return err
	}
	users := slotUsers(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	ids := make([]strategy.NodeID, len(s.Neighbours))
	for i, n := range s.Neighbours {
		ids[i] = n.ID
	}
	c.acc.learn(ids)
	slots, nslots := c.assign(users, addrs)
	lay := c.lay
	needed := neededFunctions(s)
	if !lay.configured || lay.self != s.Self || !lay.covers(needed) || nslots > lay.slots {
		lay = layout{configured: true, self: s.Self, functions: needed, slots: max(lay.slots, c.o.slots)}
		for lay.slots < nslots {
			lay.slots *= 2
		}
	}
	slots = resize(slots, lay.slots)
	d := build(s, lay, slots, c.o.ownCert())
	if c.o.reloadEveryApply || !lay.equal(c.lay) || c.caTooLarge(d) {
		if err := c.reshape(ctx, lay, d); err != nil {
			return err
		}
	} else if err := c.update(ctx, lay, d); err != nil {
		return err
	}
	c.slots = slots
	c.stats.Applies++
	return nil
}

// caTooLarge reports whether a CA file of d changes and is larger than
// the runtime API of HAProxy 2.6 takes in one payload (maxCAPayload: some
// 25 neighbours' certificates). HAProxy then reads it from its file at a
// reload: a federation that large still works, with a hitless reload when
// the members change instead of a runtime update.
func (c *Controller) caTooLarge(d desired) bool {
	for name, content := range d.cas {
		if len(content) <= maxCAPayload || (c.applied != nil && c.applied.cas[name] == content) {
			continue
		}
		if !c.warnedCA {
			c.warnedCA = true
			c.o.log.Warn("the node port's trusted certificates exceed what HAProxy 2.6's runtime API takes at once: membership changes reload HAProxy (hitless)",
				"file", name, "bytes", len(content), "limit", maxCAPayload)
		}
		return true
	}
	return false
}

// assign gives every neighbour in users a slot: the one it has, else the
// free slot freed longest ago (a slot just freed may still have
// connections to its previous neighbour). It returns the new assignment
// (not yet committed to c.slots) and how many slots it needs.
func (c *Controller) assign(users []proxyctl.Neighbour, addrs map[strategy.NodeID]netip.AddrPort) ([]slotState, int) {
	slots := resize(slices.Clone(c.slots), max(len(c.slots), c.lay.slots))
	want := map[strategy.NodeID]bool{}
	for _, n := range users {
		want[n.ID] = true
	}
	for i, sl := range slots {
		if sl.node != "" && !want[sl.node] {
			c.tick++
			if i < len(c.lastUse) {
				c.lastUse[i] = c.tick
			}
			slots[i] = slotState{}
		}
	}
	has := map[strategy.NodeID]int{}
	for i, sl := range slots {
		if sl.node != "" {
			has[sl.node] = i
		}
	}
	for _, n := range users {
		if i, ok := has[n.ID]; ok {
			slots[i].addr = addrs[n.ID]
			continue
		}
		best := -1
		for i, sl := range slots {
			if sl.node == "" && (best < 0 || c.lastUseOf(i) < c.lastUseOf(best)) {
				best = i
			}
		}
		if best < 0 {
			slots = append(slots, slotState{})
			best = len(slots) - 1
		}
		slots[best] = slotState{node: n.ID, addr: addrs[n.ID]}
	}
	for len(c.lastUse) < len(slots) {
		c.lastUse = append(c.lastUse, 0)
	}
	n := 0
	for i, sl := range slots {
		if sl.node != "" {
			n = i + 1
		}
	}
	return slots, n
}

func (c *Controller) lastUseOf(i int) uint64 {
	if i < len(c.lastUse) {
		return c.lastUse[i]
	}
	return 0
}

// resize returns slots with exactly n entries (the extra ones free).
func resize(slots []slotState, n int) []slotState {
	if len(slots) >= n {
		return slots[:n]
	}
	return append(slots, make([]slotState, n-len(slots))...)
}

// update applies d through the runtime API (the layout is unchanged), then
// rewrites the files so that a restarted HAProxy starts with d.
func (c *Controller) update(ctx context.Context, lay layout, d desired) error {
	pid, err := workerPID(c.rt)
	if err != nil {
		c.applied = nil
		return err
	}
	prev := c.applied
	if pid != c.pid {
		if c.pid != 0 {
			c.o.log.Warn("HAProxy worker changed (restart or external reload); re-applying the full state", "old", c.pid, "new", pid)
		}
		prev = nil
	}
	if prev == nil {
		c.stats.FullApplies++
	}
	// Counts of a slot that changes neighbour belong to the old one.
	if prev != nil && !slices.Equal(prev.slots, d.slots) {
		c.collect()
	}
	ops := plan(prev, d, lay)
	if err := execute(ctx, c.rt, &c.o, ops); err != nil {
		c.applied = nil
		return err
	}
	c.stats.Commands += len(ops)
	c.applied, c.pid = &d, pid
	return writeFiles(&c.o, render(&c.o, lay, d))
}

// reshape writes the configuration of a new layout and reloads HAProxy
// hitlessly; the new worker starts with d.
func (c *Controller) reshape(ctx context.Context, lay layout, d desired) error {
	if err := writeFiles(&c.o, render(&c.o, lay, d)); err != nil {
		return err
	}
	if err := checkConfig(ctx, &c.o); err != nil {
		c.applied = nil
		return err
	}
	if !c.o.reloadEveryApply {
		c.drain(ctx)
		c.collect() // the old worker's counts end here
	}
	if err := c.reload(ctx); err != nil {
		c.applied = nil
		return err
	}
	pid, err := workerPID(c.rt)
	if err != nil {
		c.applied = nil
		return err
	}
	c.lay, c.applied, c.pid = lay, &d, pid
	c.stats.Reloads++
	return nil
}

// drain makes every response of the running worker ask its client to
// close the connection, for the drain time, so that when the worker stops
// at the reload that follows no client connection is idle: HAProxy 2.6
// closes idle connections at once when it stops, and a client reusing one
// at that moment would lose its request. A failure only logs: the reload
// goes on.
func (c *Controller) drain(ctx context.Context) {
	if c.o.drain <= 0 || !c.lay.configured {
		return
	}
	out, err := c.rt.ExecuteRaw("add map " + c.o.mapPath(mapFlags) + " drain 1")
	if err == nil {
		if msg := answerError(out); msg != "" {
			err = errors.New(msg)
		}
	}
	if err != nil {
		c.o.log.Warn("cannot drain client connections before a reload", "err", err)
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(c.o.drain):
	}
}

// reload asks the master to reload the configuration file and waits until
// a new worker answers on the runtime socket.
func (c *Controller) reload(ctx context.Context) error {
	o := &c.o
	before, err := masterCommand(ctx, o.masterSocket, "show proc", o.start)
	if err != nil {
		return err
	}
	ps, err := parseShowProc(before)
	if err != nil {
		return fmt.Errorf("haproxy: master CLI: %w", err)
	}
	oldWorkers := ps.workers
	if _, err := masterCommand(ctx, o.masterSocket, "reload", o.start); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, o.start)
	defer cancel()
	for {
		out, err := masterCommand(wctx, o.masterSocket, "show proc", time.Second)
		if err == nil {
			now, perr := parseShowProc(out)
			switch {
			case perr != nil:
				err = perr
			case now.failed > ps.failed:
				return fmt.Errorf("haproxy: reload failed%s", logTail(o))
			case now.reloads > ps.reloads && len(now.workers) > 0 && !slices.Contains(oldWorkers, now.workers[0]):
				// The new worker is up; wait until it answers the
				// runtime socket (the old one hands it over).
				pid, perr := socketPID(wctx, o.runtimeSocket)
				if perr == nil && pid == now.workers[0] {
					return c.waitStopping(wctx, oldWorkers)
				}
				err = perr
			}
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("haproxy: reload not done within %v (last: %v)%s", o.start, err, logTail(o))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitStopping waits until each of the old workers has exited or is
// soft-stopping (it no longer accepts connections, so that every new
// request reaches, and is counted by, the new worker).
func (c *Controller) waitStopping(ctx context.Context, old []int) error {
	for _, pid := range old {
		for {
			out, err := masterCommand(ctx, c.o.masterSocket, "@!"+strconv.Itoa(pid)+" show info", time.Second)
			if err == nil && (strings.Contains(out, "Can't find") || strings.Contains(out, "\nStopping: 1")) {
				break
			}
			select {
			case <-ctx.Done():
				c.o.log.Warn("old HAProxy worker still accepting after a reload", "pid", pid)
				return nil
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return nil
}

// Totals implements metricsrc.TotalsReader: HAProxy's cumulative request
// counts per function, accumulated across reloads and restarts.
func (c *Controller) Totals(ctx context.Context) (metricsrc.Totals, error) {
	if err := ctx.Err(); err != nil {
		return metricsrc.Totals{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return metricsrc.Totals{}, ErrClosed
	}
	if err := c.collect(); err != nil {
		return metricsrc.Totals{}, err
	}
	return c.acc.totals(), nil
}

// collect reads HAProxy's counters into the accumulator. c.mu is held.
func (c *Controller) collect() error {
	owners := make([]strategy.NodeID, len(c.slots))
	for i, sl := range c.slots {
		owners[i] = sl.node
	}
	return c.acc.read(c.rt, owners)
}

// Close stops HAProxy if the controller started it (it is left running
// when attached) and removes a temporary work directory. It is safe to
// call more than once.
func (c *Controller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.stopProcess()
	c.unlock()
	if c.o.tempDir {
		os.RemoveAll(c.o.dir)
	}
	return nil
}

func (c *Controller) stopProcess() {
	if c.sup != nil {
		c.sup.stop()
		c.sup = nil
	}
}

// Interface guards.
var (
	_ proxyctl.Controller    = (*Controller)(nil)
	_ metricsrc.TotalsReader = (*Controller)(nil)
	_ runtimeAPI             = cnruntime.Runtime(nil)
)
