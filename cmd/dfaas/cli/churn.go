package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/proxyctl"
	proxyembedded "github.com/dfaas-go/dfaas/proxyctl/embedded"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// churnOptions configure dfaas churn.
type churnOptions struct {
	proxy           string
	updates         int
	rate            float64
	interval        time.Duration
	baseline        bool
	baselineUpdates int
	binary          string
	seed            uint64
	verbose         io.Writer // nil, or where to log events and failures
}

// percentiles are the median and 99th percentile of update latencies, in
// milliseconds.
type percentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// churnRun is what one run measured.
type churnRun struct {
	Updates  int                `json:"updates"`
	Requests int64              `json:"requests"`
	Failed   int64              `json:"failed"`
	Rejected int64              `json:"rejected"`
	Failures map[string]int     `json:"failures,omitempty"`
	UpdateMS percentiles        `json:"update_ms"`
	EventMS  map[string]float64 `json:"event_ms,omitempty"`
	Reloads  int                `json:"reloads"`
	Seconds  float64            `json:"seconds"`
}

// churnResult is the JSON output of dfaas churn.
type churnResult struct {
	Proxy    string      `json:"proxy"`
	Rate     float64     `json:"rate"`
	Requests int64       `json:"requests"`
	Failed   int64       `json:"failed"`
	UpdateMS percentiles `json:"update_ms"`
	Run      churnRun    `json:"run"`

	ReloadRequests *int64       `json:"reload_requests,omitempty"`
	ReloadFailed   *int64       `json:"reload_failed,omitempty"`
	ReloadUpdateMS *percentiles `json:"reload_update_ms,omitempty"`
	Reload         *churnRun    `json:"reload,omitempty"`
	ReloadSkipped  string       `json:"reload_skipped,omitempty"`
}

func runChurn(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("churn", io)
	var o churnOptions
	fs.StringVar(&o.proxy, "proxy", "haproxy", "proxy under test: haproxy or embedded")
	fs.IntVar(&o.updates, "updates", 1000, "random weight changes to apply")
	fs.Float64Var(&o.rate, "rate", 500, "user requests per second during the run")
	fs.DurationVar(&o.interval, "interval", 10*time.Millisecond, "time between two updates")
	fs.BoolVar(&o.baseline, "baseline", true, "also do the run the original way: HAProxy rewritten and reloaded at every update")
	fs.IntVar(&o.baselineUpdates, "baseline-updates", 0, "updates of the baseline run (0: as many as --updates)")
	fs.StringVar(&o.binary, "haproxy", "haproxy", "haproxy binary")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the random weights")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	verbose := fs.Bool("v", false, "log each event and failed request to standard error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case o.proxy != "haproxy" && o.proxy != "embedded":
		return usageError{fmt.Sprintf("--proxy %q: want haproxy or embedded", o.proxy)}
	case o.updates < 4:
		return usageError{fmt.Sprintf("--updates %d: want at least 4", o.updates)}
	case !(o.rate > 0) || math.IsInf(o.rate, 0) || o.rate > 100000:
		return usageError{fmt.Sprintf("--rate %v: want a rate above 0 and up to 100000 req/s", o.rate)}
	case o.interval <= 0:
		return usageError{fmt.Sprintf("--interval %v: want a positive duration", o.interval)}
	case o.baselineUpdates < 0:
		return usageError{fmt.Sprintf("--baseline-updates %d: want 0 or more", o.baselineUpdates)}
	}
	if o.baselineUpdates == 0 {
		o.baselineUpdates = o.updates
	}
	if *verbose {
		o.verbose = io.err
	}
	res := churnResult{Proxy: o.proxy, Rate: o.rate}
	run, err := churn(ctx, o, o.proxy, false, o.updates, io)
	if err != nil {
		return err
	}
	res.Run, res.Requests, res.Failed, res.UpdateMS = run, run.Requests, run.Failed, run.UpdateMS
	if o.baseline {
		if _, lerr := exec.LookPath(o.binary); lerr != nil {
			res.ReloadSkipped = "haproxy not found: " + lerr.Error()
		} else {
			if o.baselineUpdates < 4 {
				o.baselineUpdates = 4
			}
			base, err := churn(ctx, o, "haproxy", true, o.baselineUpdates, io)
			if err != nil {
				return fmt.Errorf("baseline: %w", err)
			}
			res.Reload = &base
			res.ReloadRequests, res.ReloadFailed, res.ReloadUpdateMS = &base.Requests, &base.Failed, &base.UpdateMS
		}
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printChurn(io.out, res)
	return nil
}

func printChurn(w io.Writer, r churnResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tupdates\treloads\trequests\tfailed\trejected\tupdate p50 ms\tupdate p99 ms\t")
	line := func(name string, c churnRun) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t\n", name, c.Updates, c.Reloads, c.Requests, c.Failed, c.Rejected, c.UpdateMS.P50, c.UpdateMS.P99)
	}
	name := "haproxy (runtime API)"
	if r.Proxy == "embedded" {
		name = "embedded (in memory)"
	}
	line(name, r.Run)
	if r.Reload != nil {
		line("haproxy (reload per update)", *r.Reload)
	}
	tw.Flush()
	if r.ReloadSkipped != "" {
		fmt.Fprintln(w, "baseline skipped:", r.ReloadSkipped)
	}
	for _, c := range []*churnRun{&r.Run, r.Reload} {
		if c != nil && len(c.Failures) > 0 {
			fmt.Fprintf(w, "failures: %v\n", c.Failures)
		}
	}
}

// churnProxy is the proxy under test.
type churnProxy interface {
	proxyctl.Controller
	url() string
	reloads() int
	close()
}

type haproxyUnderTest struct {
	c    *haproxy.Controller
	addr string
}

func (h *haproxyUnderTest) Apply(ctx context.Context, s proxyctl.State) error {
	return h.c.Apply(ctx, s)
}
func (h *haproxyUnderTest) url() string  { return "http://" + h.addr }
func (h *haproxyUnderTest) reloads() int { return h.c.Stats().Reloads }
func (h *haproxyUnderTest) close()       { h.c.Close() }

type embeddedUnderTest struct {
	*proxyembedded.Proxy
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

func (e *embeddedUnderTest) url() string  { return "http://" + e.ln.Addr().String() }
func (e *embeddedUnderTest) reloads() int { return 0 }
func (e *embeddedUnderTest) close() {
	e.srv.Close()
	e.wg.Wait()
	e.Proxy.Close()
}

// fakeNeighbour stands in for a neighbour's proxy: it serves every
// forwarded request and its health path.
type fakeNeighbour struct {
	id  strategy.NodeID
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

func startNeighbour(id strategy.NodeID) (*fakeNeighbour, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &fakeNeighbour{id: id, ln: ln}
	n.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set(proxyctl.HeaderServedBy, string(id))
		io.WriteString(w, "ok\n")
	})}
	n.wg.Go(func() { n.srv.Serve(ln) })
	return n, nil
}

func (n *fakeNeighbour) close() {
	n.srv.Close()
	n.wg.Wait()
}

// The functions of a churn run: the first is deployed from the start, the
// second is added halfway.
const (
	churnFnA = "churn-a"
	churnFnB = "churn-b"
)

// churn does one run: R req/s through a local proxy while N random weight
// changes, two neighbour leaves and joins and one function addition are
// applied.
func churn(ctx context.Context, o churnOptions, kind string, reloadEach bool, updates int, io stdio) (churnRun, error) {
	// The local FaaS.
	fsrv, err := embedded.New(embedded.Config{Functions: []embedded.Function{
		{Name: churnFnA, Handler: embedded.HandlerEcho, Capacity: 100000, Concurrency: 1000, Deterministic: true},
		{Name: churnFnB, Handler: embedded.HandlerEcho, Capacity: 100000, Concurrency: 1000, Deterministic: true},
	}})
	if err != nil {
		return churnRun{}, err
	}
	defer fsrv.Close()
	fln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return churnRun{}, err
	}
	fhttp := &http.Server{Handler: fsrv.Handler()}
	var wg sync.WaitGroup
	defer func() { fhttp.Close(); wg.Wait() }()
	wg.Go(func() { fhttp.Serve(fln) })
	faasURL := "http://" + fln.Addr().String()

	// Four neighbours; n4 joins later.
	var nbs []*fakeNeighbour
	defer func() {
		for _, n := range nbs {
			n.close()
		}
	}()
	for i := 1; i <= 4; i++ {
		n, err := startNeighbour(strategy.NodeID("n" + strconv.Itoa(i)))
		if err != nil {
			return churnRun{}, err
		}
		nbs = append(nbs, n)
	}

	// The proxy under test.
	var p churnProxy
	switch kind {
	case "haproxy":
		addr, err := freeLoopback()
		if err != nil {
			return churnRun{}, err
		}
		c, err := haproxy.New(ctx, haproxy.Config{
			Binary:           o.binary,
			ListenAddr:       addr,
			MetricsAddr:      haproxy.MetricsOff,
			GatewayURL:       faasURL,
			ReloadEveryApply: reloadEach,
		})
		if err != nil {
			return churnRun{}, err
		}
		p = &haproxyUnderTest{c: c, addr: addr}
	case "embedded":
		px, err := proxyembedded.New(proxyembedded.Config{FaaSURL: faasURL})
		if err != nil {
			return churnRun{}, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return churnRun{}, err
		}
		e := &embeddedUnderTest{Proxy: px, srv: &http.Server{Handler: px}, ln: ln}
		e.wg.Go(func() { e.srv.Serve(ln) })
		p = e
	}
	defer p.close()

	rnd := rand.New(rand.NewPCG(o.seed, 0x636875726e))
	present := map[strategy.NodeID]bool{"n1": true, "n2": true, "n3": true}
	fns := []string{churnFnA}
	var route strategy.Route
	state := func() proxyctl.State {
		s := proxyctl.State{Self: "self"}
		for _, f := range fns {
			s.Functions = append(s.Functions, proxyctl.Function{Name: f, Capacity: 100000, Concurrency: 1000})
		}
		for _, n := range nbs {
			if present[n.id] {
				s.Neighbours = append(s.Neighbours, proxyctl.Neighbour{
					ID: n.id, URL: "http://" + n.ln.Addr().String(), Functions: slices.Clone(fns),
					TokenOut: "token-to-" + string(n.id), TokenIn: "token-from-" + string(n.id), Forward: true,
				})
			}
		}
		s.Decision.Routes = []strategy.Route{route}
		return s
	}
	randomRoute := func() strategy.Route {
		fwd := map[strategy.NodeID]float64{}
		for id := range present {
			fwd[id] = rnd.Float64()
		}
		reject := 0.0
		if rnd.IntN(4) == 0 {
			reject = rnd.Float64() * 0.1
		}
		return strategy.NewRoute(churnFnA, rnd.Float64()+0.1, reject, fwd)
	}
	applyTimed := func() (time.Duration, error) {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		start := time.Now()
		err := p.Apply(actx, state())
		return time.Since(start), err
	}
	route = randomRoute()
	if _, err := applyTimed(); err != nil {
		return churnRun{}, err
	}
	// Let health checks settle before the load starts.
	time.Sleep(200 * time.Millisecond)
	reloads0 := p.reloads()

	load := newChurnLoad(p.url(), o.rate, o.verbose)
	load.start()
	run := churnRun{Updates: updates, EventMS: map[string]float64{}}
	lat := make([]float64, 0, updates)
	events := map[int]string{updates / 4: "n3-leaves", updates / 2: "function-added", updates/2 + 1: "n4-joins", 3 * updates / 4: "n3-joins"}
	began := time.Now()
	var applyErr error
	for i := 0; i < updates && applyErr == nil; i++ {
		if d := time.Until(began.Add(time.Duration(i) * o.interval)); d > 0 {
			select {
			case <-ctx.Done():
				applyErr = ctx.Err()
			case <-time.After(d):
			}
			if applyErr != nil {
				break
			}
		}
		if ev, ok := events[i]; ok {
			switch ev {
			case "n3-leaves":
				delete(present, "n3")
			case "n3-joins":
				present["n3"] = true
			case "n4-joins":
				present["n4"] = true
			case "function-added":
				fns = append(fns, churnFnB)
				load.addTarget(churnFnB)
			}
			route = keepNeighbours(route, present)
			load.logf("event %s", ev)
			d, err := applyTimed()
			load.logf("event %s applied in %v", ev, d)
			if err != nil {
				applyErr = fmt.Errorf("%s: %w", ev, err)
				break
			}
			run.EventMS[ev] = ms(d)
		}
		route = randomRoute()
		d, err := applyTimed()
		if err != nil {
			applyErr = fmt.Errorf("update %d: %w", i, err)
			break
		}
		lat = append(lat, ms(d))
	}
	// Some traffic after the last update too.
	time.Sleep(200 * time.Millisecond)
	load.stop()
	run.Seconds = time.Since(began).Seconds()
	if applyErr != nil {
		return churnRun{}, applyErr
	}
	run.Requests, run.Failed, run.Rejected, run.Failures = load.result()
	run.UpdateMS = percentilesOf(lat)
	run.Reloads = p.reloads() - reloads0
	return run, nil
}

// keepNeighbours drops the forward shares of neighbours not present.
func keepNeighbours(r strategy.Route, present map[strategy.NodeID]bool) strategy.Route {
	fwd := map[strategy.NodeID]float64{}
	for _, s := range r.Forward {
		if present[s.Node] {
			fwd[s.Node] = s.Share
		}
	}
	return strategy.NewRoute(r.Function, r.Local, r.Reject, fwd)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentilesOf returns the p50 and p99 of v (nearest rank).
func percentilesOf(v []float64) percentiles {
	if len(v) == 0 {
		return percentiles{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return percentiles{P50: rank(0.50), P99: rank(0.99)}
}

// freeLoopback returns a loopback address whose port is free now.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// churnLoad sends POST requests at a constant rate over keep-alive
// connections (like a client behind a load balancer) and counts outcomes.
// Requests are never retried and never canceled: a request that fails
// counts as failed.
type churnLoad struct {
	base    string
	period  time.Duration
	client  *http.Client
	verbose io.Writer
	began   time.Time

	mu      sync.Mutex
	targets []string
	fails   map[string]int

	stopc               chan struct{}
	wg                  sync.WaitGroup
	sent, failed, rejec atomic.Int64
}

func newChurnLoad(base string, rate float64, verbose io.Writer) *churnLoad {
	return &churnLoad{
		verbose: verbose,
		began:   time.Now(),
		base:    base,
		period:  time.Duration(float64(time.Second) / rate),
		targets: []string{churnFnA},
		fails:   map[string]int{},
		stopc:   make(chan struct{}),
		client: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        1024,
				MaxIdleConnsPerHost: 1024,
				IdleConnTimeout:     30 * time.Second,
			},
		},
	}
}

// logf logs a line with the time since the load began, in verbose mode.
func (l *churnLoad) logf(format string, a ...any) {
	if l.verbose == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.verbose, "%9.3fs %s\n", time.Since(l.began).Seconds(), fmt.Sprintf(format, a...))
}

func (l *churnLoad) addTarget(fn string) {
	l.mu.Lock()
	l.targets = append(l.targets, fn)
	l.mu.Unlock()
}

func (l *churnLoad) start() {
	l.wg.Go(func() {
		next := time.Now()
		for i := 0; ; i++ {
			next = next.Add(l.period)
			select {
			case <-l.stopc:
				return
			case <-time.After(time.Until(next)):
			}
			l.mu.Lock()
			fn := l.targets[i%len(l.targets)]
			l.mu.Unlock()
			l.wg.Go(func() { l.one(fn) })
		}
	})
}

func (l *churnLoad) one(fn string) {
	l.sent.Add(1)
	reason := ""
	resp, err := l.client.Post(l.base+"/function/"+fn, "text/plain", strings.NewReader("churn"))
	if err != nil {
		reason = errorClass(err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
		case resp.Header.Get(proxyctl.HeaderRejected) != "":
			l.rejec.Add(1)
		default:
			reason = "status " + strconv.Itoa(resp.StatusCode)
		}
	}
	if reason != "" {
		if l.verbose != nil {
			l.logf("failed: %s (%v)", reason, err)
		}
		l.failed.Add(1)
		l.mu.Lock()
		l.fails[reason]++
		l.mu.Unlock()
	}
}

// errorClass names a client error briefly.
func errorClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection reset"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "server closed idle connection"):
		return "server closed idle connection"
	}
	return "error"
}

// stop stops sending and waits for the requests in flight.
func (l *churnLoad) stop() {
	close(l.stopc)
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

func (l *churnLoad) result() (sent, failed, rejected int64, fails map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent.Load(), l.failed.Load(), l.rejec.Load(), l.fails
}
