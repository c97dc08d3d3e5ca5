package testbed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// ErrProcExited is wrapped by the errors about a node's process that
// ended before its time.
var ErrProcExited = errors.New("process exited")

// Key is a node's key file and the node ID it gives.
type Key struct {
	File string
	ID   string
}

// ClusterConfig is one run of a scenario with one strategy on real
// processes.
type ClusterConfig struct {
	Scenario *sim.Scenario // its nodes, functions, seed and period
	Strategy string
	// StrategyParams are the strategy's JSON parameters, the agents'
	// --strategy-params ("" for its defaults).
	StrategyParams string
	Proxy          string // embedded or haproxy
	// FaaS is the API of the nodes' dfaas faas that their agents use: ""
	// or "openfaas" (--faas openfaas), or "openwhisk" (dfaas faas --api
	// openwhisk, agents with --faas openwhisk).
	FaaS     string
	Forecast string // the agents' --forecast
	Net      Network
	// Links lists, per node, the nodes it is linked to: its bootstrap
	// peers and the neighbours it must see for the federation to have
	// formed.
	Links    map[int][]int
	Bin      string        // the dfaas executable
	Dir      string        // work directory of the run (removed by the caller)
	Keys     []Key         // one per node
	LogLevel string        // of the processes
	Timeout  time.Duration // of each request of the nodes' clients
	// PlainDataPlane runs the agents with --insecure-plain-data-plane:
	// forwarded requests as plain HTTP instead of mutual TLS.
	PlainDataPlane bool
}

// Cluster is the processes of one run: per node a dfaas faas and a dfaas
// agent.
type Cluster struct {
	cfg   ClusterConfig
	nodes []*Node
	names map[string]string // node ID → scenario node
	procs sync.WaitGroup
	t0    time.Time
}

// Node is one node's processes.
type Node struct {
	ID          string       // scenario node
	Client      *http.Client // dials inside the node's network, as its users
	ports       Ports
	faas, agent *Proc
}

// ProxyURL returns the URL at which the node's users call function fn.
func (n *Node) ProxyURL(fn string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/function/%s", n.ports.Proxy, fn)
}

func (n *Node) adminURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.ports.Admin) }

// StartCluster starts every node's FaaS, waits until they answer, then
// starts the agents at the phases the simulator gives the nodes' control
// cycles (same seed, same draw: they do not all decide at the same
// instant, and the load starts at the same point of their cycles as in
// the simulator) and waits until they answer. On error, what it started
// is stopped.
func StartCluster(ctx context.Context, cfg ClusterConfig) (_ *Cluster, err error) {
	c := &Cluster{cfg: cfg, names: map[string]string{}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	for i, n := range cfg.Scenario.Nodes {
		c.names[cfg.Keys[i].ID] = n.ID
	}
	if err := c.startFaaS(ctx); err != nil {
		return nil, err
	}
	if err := c.startAgents(ctx); err != nil {
		return nil, err
	}
	for _, n := range c.nodes {
		if err := waitHTTP(ctx, n.Client, n.adminURL()+"/healthz", n.agent, 30*time.Second); err != nil && !errors.Is(err, errUnhealthy) {
			return nil, fmt.Errorf("node %s: agent: %w", n.ID, err)
		}
	}
	return c, nil
}

// startFaaS starts every node's FaaS (first: an agent lists its
// functions at start) and waits until they answer.
func (c *Cluster) startFaaS(ctx context.Context) error {
	cfg := c.cfg
	sc := cfg.Scenario
	c.nodes = make([]*Node, len(sc.Nodes))
	if err := c.writeKeys(); err != nil {
		return err
	}
	for i, n := range sc.Nodes {
		p := cfg.Net.Ports(i)
		c.nodes[i] = &Node{ID: n.ID, ports: p, Client: loadgen.NewClient(cfg.Net.Dialer(i), cfg.Timeout, 4096)}
		argv := []string{cfg.Bin, "faas", "--listen", fmt.Sprintf("127.0.0.1:%d", p.FaaS),
			"--seed", strconv.FormatUint(sc.Seed*1000+uint64(i)+1, 10), "--log-level", cfg.LogLevel}
		argv = append(argv, FunctionFlags(n.Functions)...)
		argv = append(argv, c.faasArgs(i)...)
		proc, err := Start(&c.procs, n.ID+" faas", cfg.Net.Command(i, argv))
		if err != nil {
			return err
		}
		c.nodes[i].faas = proc
	}
	for i, n := range c.nodes {
		base := fmt.Sprintf("http://127.0.0.1:%d", n.ports.FaaS)
		if err := waitHTTP(ctx, n.Client, base+c.faasHealthPath(), n.faas, 20*time.Second); err != nil {
			return fmt.Errorf("node %s: FaaS: %w", n.ID, err)
		}
		if len(sc.Nodes[i].Functions) == 0 {
			// dfaas faas serves every built-in when given no function:
			// delete them, so that the node runs none, as the scenario says.
			if err := c.deleteFunctions(ctx, i, base); err != nil {
				return fmt.Errorf("node %s: %w", n.ID, err)
			}
		}
	}
	return nil
}

// startAgents starts the agents at their phases.
func (c *Cluster) startAgents(ctx context.Context) error {
	cfg := c.cfg
	period := cfg.Scenario.Period.D()
	rnd := rand.New(rand.NewPCG(cfg.Scenario.Seed, 0x7105e))
	phases := make([]time.Duration, len(c.nodes))
	order := make([]int, len(c.nodes))
	for i := range c.nodes {
		phases[i], order[i] = time.Duration(rnd.Int64N(int64(period))), i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(phases[a], phases[b]) })
	c.t0 = time.Now()
	for _, i := range order {
		if err := sleep(ctx, time.Until(c.t0.Add(phases[i]))); err != nil {
			return err
		}
		hdir := filepath.Join(cfg.Dir, strconv.Itoa(i))
		if err := os.MkdirAll(hdir, 0o700); err != nil {
			return err
		}
		proc, err := Start(&c.procs, c.nodes[i].ID+" agent", cfg.Net.Command(i, c.agentArgv(i, hdir)))
		if err != nil {
			return err
		}
		c.nodes[i].agent = proc
	}
	return nil
}

// agentArgv returns the command line of node i's agent, with hdir for
// HAProxy's files.
func (c *Cluster) agentArgv(i int, hdir string) []string {
	cfg := c.cfg
	sc := cfg.Scenario
	p := cfg.Net.Ports(i)
	var members, boot []string
	for _, k := range cfg.Keys {
		members = append(members, k.ID)
	}
	for _, j := range cfg.Links[i] {
		boot = append(boot, fmt.Sprintf("quic://%s:%d/%s", cfg.Net.Addr(j), cfg.Net.Ports(j).Peer, cfg.Keys[j].ID))
	}
	listenHost := "" // every address of the node's namespace
	if _, lo := cfg.Net.(*Loopback); lo {
		listenHost = "127.0.0.1"
	}
	argv := []string{cfg.Bin, "agent",
		"--strategy", cfg.Strategy, "--period", sc.Period.D().String(), "--forecast", cfg.Forecast,
		"--seed", strconv.FormatUint(sc.Seed+uint64(i), 10), "--log-level", cfg.LogLevel,
		"--key", cfg.Keys[i].File, "--members", strings.Join(members, ","),
		"--peer-listen", fmt.Sprintf("%s:%d", listenHost, p.Peer),
		"--node-ip", cfg.Net.Addr(i), "--proxy-listen", fmt.Sprintf("%s:%d", listenHost, p.Proxy),
		"--node-listen", fmt.Sprintf("%s:%d", listenHost, p.Node),
		"--http", fmt.Sprintf("127.0.0.1:%d", p.Admin),
		// The nodes share this machine, whose CPU and memory are no one
		// node's: the agents get no node usage (nor do the simulated
		// nodes the report sets beside them, sim.Config.NoResources),
		// and resource-based strategies use their capacity model.
		"--node-exporter-url", "none",
		"--proxy", cfg.Proxy,
		"--queue-depth", queueDepthFlag(sc.QueueDepth),
		// One load generator sends every user request: no per-address
		// share of the proxy's connection cap.
		"--max-conns-per-ip", "1000000",
	}
	argv = append(argv, c.agentFaaSArgs(i)...)
	if cfg.StrategyParams != "" {
		argv = append(argv, "--strategy-params", cfg.StrategyParams)
	}
	if len(boot) > 0 {
		argv = append(argv, "--bootstrap", strings.Join(boot, ","))
	}
	if cfg.PlainDataPlane {
		argv = append(argv, "--insecure-plain-data-plane")
	}
	if cfg.Proxy == "haproxy" {
		argv = append(argv, "--haproxy-dir", filepath.Join(hdir, "h"), "--haproxy-metrics", fmt.Sprintf("127.0.0.1:%d", p.Metrics))
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
	return argv
}

// Nodes returns the nodes, in the scenario's order.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Name maps a node ID (as in response headers) to its scenario node.
func (c *Cluster) Name(id string) string {
	if n, ok := c.names[id]; ok {
		return n
	}
	return id
}

// Started returns when the agents' start began: their control cycles are
// counted from it.
func (c *Cluster) Started() time.Time { return c.t0 }

// Close stops every process, agents first (each stops its HAProxy), then
// the FaaS, kills what is left in the network and in the work directory,
// and closes the clients' connections.
func (c *Cluster) Close() {
	var stops sync.WaitGroup
	for _, n := range c.nodes {
		if n != nil && n.agent != nil {
			stops.Go(func() { n.agent.Stop(10 * time.Second) })
		}
	}
	stops.Wait()
	for _, n := range c.nodes {
		if n != nil && n.faas != nil {
			stops.Go(func() { n.faas.Stop(5 * time.Second) })
		}
	}
	stops.Wait()
	c.procs.Wait()
	c.cfg.Net.Sweep()
	SweepDir(c.cfg.Dir, 5*time.Second)
	for _, n := range c.nodes {
		if n != nil && n.Client != nil {
			n.Client.CloseIdleConnections()
		}
	}
}

// FunctionFlags returns the dfaas faas flags that deploy a scenario node's
// functions with its capacity model. Functions without a built-in of their
// name run echo (the capacity model sets the service time).
func FunctionFlags(fns []sim.Function) []string {
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

// queueDepthFlag is the agents' --queue-depth for a scenario's queue_depth
// (0 there meaning the default, negative no cap; 0 on the flag, no cap).
func queueDepthFlag(d float64) string {
	return strconv.FormatFloat(proxyctl.EffectiveDepth(d), 'g', -1, 64)
}
