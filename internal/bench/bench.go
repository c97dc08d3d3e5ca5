package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/internal/testbed"
	"github.com/dfaas-go/dfaas/peer/quic"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// MaxNodes bounds the size of a federation run as processes on one
// machine.
const MaxNodes = 64

// MaxRepeat bounds --repeat: the runs are kept in memory for the report.
const MaxRepeat = 100

// Options configure a bench. The dfaas bench flag of each is in
// brackets.
type Options struct {
	Scenario *sim.Scenario // as run (trace applied, the window shifted to 0)
	// From is where the window starts in the scenario's time, Full the
	// scenario's own duration, Unloaded the nodes the window sends no
	// load to (Prepared's), for the report.
	From, Full time.Duration
	Unloaded   []string
	Strategies []string // [--strategy]
	// Params are the strategy's JSON parameters [--params], given to the
	// agents (--strategy-params) and the simulator; "" for its defaults.
	Params string
	// Repeat is the number of runs of each strategy [--repeat] (0: 1),
	// run r with the scenario's seed + r − 1, strategies interleaved.
	Repeat     int
	Registry   *strategy.Registry
	Proxy      string           // [--proxy] embedded or haproxy
	FaaS       string           // [--faas] the nodes' FaaS API: openfaas ("") or openwhisk
	Plain      bool             // [--insecure-plain-data-plane] forwarded requests as plain HTTP (lab)
	Forecast   string           // [--forecast] of the agents
	Forecaster forecast.Factory // the same for the simulator (nil: none)
	Netns      string           // [--netns] auto, on or off
	Prefix     string           // [--netns-prefix] "" for testbed.DefaultPrefix
	Sim        bool             // [--sim] also simulate each strategy
	Timeout    time.Duration    // [--timeout] of each user request
	Form       time.Duration    // [--form-timeout] how long the federation may take to form
	LogLevel   string           // [--log-level] of the processes
	Bin        string           // [--bin] the dfaas executable the nodes run
	Log        *slog.Logger
	Progress   io.Writer // progress lines; nil for none
	// Emit is called with each strategy's bench result over its runs,
	// once every run is done.
	Emit func(report.Result)
}

// Run runs every strategy of o on the scenario, o.Repeat times each, and
// returns the report. Run r of every strategy comes before run r+1, so
// that a slow phase of the machine does not favour one strategy. Whatever
// it creates (processes, namespaces, files) is removed before it returns.
func Run(ctx context.Context, o Options) (*report.Report, error) {
	sc := o.Scenario
	if len(sc.Nodes) > MaxNodes {
		return nil, fmt.Errorf("bench: %d nodes: at most %d run as processes on one machine (use dfaas sim)", len(sc.Nodes), MaxNodes)
	}
	repeat := max(1, o.Repeat)
	rep := &report.Report{
		Scenario: sc.Name, Description: sc.Description, From: o.From, Duration: sc.Duration.D(), ScenarioDuration: max(o.Full, o.From+sc.Duration.D()),
		Period: sc.Period.D(), Proxy: o.Proxy, Forecast: o.Forecast, Seed: sc.Seed, Repeats: repeat, Unloaded: o.Unloaded,
	}
	for _, nd := range sc.Nodes {
		rep.Nodes = append(rep.Nodes, nd.ID)
	}
	rep.Notes = append(rep.Notes, setupNotes(o)...)
	if len(o.Unloaded) > 0 {
		o.Log.Warn("the scenario sends no load to some nodes in this window: their success rates are n/a", "nodes", o.Unloaded,
			"window", fmt.Sprintf("[%v, %v)", o.From, o.From+sc.Duration.D()))
	}
	nw, linked, err := openNetwork(o, rep)
	if err != nil {
		return nil, err
	}
	defer nw.Close()
	rep.Network = nw.Describe()
	work, err := os.MkdirTemp("", "dfaas-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(work)
	// HAProxy's sockets live in <work>/<run>/<node>/h, and a UNIX socket
	// path is short (the controller allows 90 bytes for the directory).
	if o.Proxy == "haproxy" && len(work)+len("/000/00/h") > 90 {
		return nil, fmt.Errorf("bench: temporary directory %s is too long for HAProxy's UNIX sockets: set TMPDIR to a shorter one", work)
	}
	keys, err := writeKeys(work, len(sc.Nodes))
	if err != nil {
		return nil, err
	}
	oracle := sim.OracleSuccessRate(sc)
	total := repeat * len(o.Strategies)
	for r := range repeat {
		runSc := *sc
		runSc.Seed = sc.Seed + uint64(r)
		for k, name := range o.Strategies {
			i := r*len(o.Strategies) + k
			label := fmt.Sprintf("%s (%d/%d)", name, i+1, total)
			if repeat > 1 {
				label = fmt.Sprintf("%s run %d/%d, seed %d (%d/%d)", name, r+1, repeat, runSc.Seed, i+1, total)
			}
			run, notes, err := runStrategy(ctx, o, strategyRun{
				name: name, label: label, repeat: r + 1, scenario: &runSc,
				dir: filepath.Join(work, strconv.Itoa(i)), net: nw, links: linked, keys: keys, nodes: rep.Nodes,
			})
			if err != nil {
				return nil, err
			}
			rep.Notes = append(rep.Notes, notes...)
			run.Bench.OracleSuccessRate = oracle
			rep.Runs = append(rep.Runs, run)
		}
	}
	if err := nw.Close(); err != nil {
		return nil, fmt.Errorf("bench: tear down: %w", err)
	}
	if o.Emit != nil {
		for _, s := range rep.Strategies() {
			b, _ := rep.Results(s)
			o.Emit(b)
		}
	}
	return rep, nil
}

// openNetwork opens the network of o's --netns mode and returns it with
// the links of each node (every other node on loopback). What happened
// goes into rep's notes.
func openNetwork(o Options, rep *report.Report) (testbed.Network, map[int][]int, error) {
	sc := o.Scenario
	n := len(sc.Nodes)
	idx := map[string]int{}
	for i, nd := range sc.Nodes {
		idx[nd.ID] = i
	}
	var dlinks []testbed.Link
	linked := map[int][]int{}
	for _, l := range sc.Links {
		a, b := idx[l.A], idx[l.B]
		half := l.RTT.D() / 2
		dlinks = append(dlinks, testbed.Link{A: a, B: b, Delay: half}, testbed.Link{A: b, B: a, Delay: half})
		linked[a] = append(linked[a], b)
		linked[b] = append(linked[b], a)
	}
	reason := "--netns off"
	if o.Netns != "off" {
		err := testbed.NetnsAvailable()
		switch {
		case err == nil:
			prefix := o.Prefix
			if prefix == "" {
				testbed.SweepStale()
				prefix = testbed.DefaultPrefix()
			}
			nw, err := testbed.OpenNetns(prefix, n, dlinks)
			return nw, linked, err
		case o.Netns == "on":
			return nil, nil, err
		}
		reason = err.Error()
	}
	nw, err := testbed.NewLoopback(n, reason)
	if err != nil {
		return nil, nil, err
	}
	o.Log.Warn("bench on loopback: links and RTTs are not emulated", "reason", reason)
	linked = map[int][]int{} // every node reaches every other
	for i := range n {
		for j := range n {
			if i != j {
				linked[i] = append(linked[i], j)
			}
		}
	}
	rep.Notes = append(rep.Notes, "not run in network namespaces ("+reason+"): the scenario's links and RTTs were not emulated")
	return nw, linked, nil
}

// writeKeys writes a node key per node into dir.
func writeKeys(dir string, n int) ([]testbed.Key, error) {
	keys := make([]testbed.Key, n)
	for i := range n {
		k, err := quic.GenerateKey()
		if err != nil {
			return nil, err
		}
		keys[i] = testbed.Key{File: filepath.Join(dir, "key"+strconv.Itoa(i)+".pem"), ID: string(k.ID())}
		if err := quic.WriteKeyFile(keys[i].File, k); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// setupNotes returns the report's notes on how the nodes were set up
// beyond the defaults.
func setupNotes(o Options) []string {
	var notes []string
	if o.FaaS == "openwhisk" {
		notes = append(notes, "the nodes' FaaS served OpenWhisk's API (dfaas faas --api openwhisk); the agents ran with --faas openwhisk")
	}
	if o.Params != "" {
		notes = append(notes, "strategy parameters (--params, the agents' --strategy-params and the simulator's): "+o.Params)
	}
	return notes
}
