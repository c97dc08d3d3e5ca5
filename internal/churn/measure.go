package churn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/internal/loadgen"
	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// measure does one run: o.Rate req/s through a local proxy of kind while
// updates random weight changes, two neighbour leaves and joins and one
// function addition are applied.
func measure(ctx context.Context, o Options, kind string, reloadEach bool, updates int) (Run, error) {
	r, err := newRig(ctx, o, kind, reloadEach)
	if err != nil {
		return Run{}, err
	}
	defer r.close()
	u := &updater{rig: r, rnd: rand.New(rand.NewPCG(o.Seed, 0x636875726e)),
		present: map[strategy.NodeID]bool{"n1": true, "n2": true, "n3": true}, fns: []string{fnA}}
	u.route = u.randomRoute()
	if _, err := u.apply(ctx); err != nil {
		return Run{}, err
	}
	// Let health checks settle before the load starts.
	if err := sleep(ctx, 200*time.Millisecond); err != nil {
		return Run{}, err
	}
	reloads0 := r.proxy.reloads()
	l := startLoad(r.proxy.url(), o.Rate, o.Verbose)
	run := Run{Updates: updates, EventMS: map[string]float64{}}
	began := time.Now()
	lat, applyErr := u.loop(ctx, updates, o.Interval, l, run.EventMS)
	// Some traffic after the last update too.
	sleep(ctx, 200*time.Millisecond)
	l.stop()
	run.Seconds = time.Since(began).Seconds()
	if applyErr != nil {
		return Run{}, applyErr
	}
	run.Requests, run.Failed, run.Rejected, run.Failures = l.result()
	run.UpdateMS = percentilesOf(lat)
	run.Reloads = r.proxy.reloads() - reloads0
	return run, nil
}

// updater applies the run's decisions to the proxy under test.
type updater struct {
	rig     *rig
	rnd     *rand.Rand
	present map[strategy.NodeID]bool // neighbours present
	fns     []string                 // functions deployed
	route   strategy.Route
}

// loop applies updates random routes, one every interval, and the events
// at their updates; it returns the update latencies in ms and records the
// events' in eventMS.
func (u *updater) loop(ctx context.Context, updates int, interval time.Duration, l *load, eventMS map[string]float64) ([]float64, error) {
	lat := make([]float64, 0, updates)
	events := map[int]string{updates / 4: "n3-leaves", updates / 2: "function-added", updates/2 + 1: "n4-joins", 3 * updates / 4: "n3-joins"}
	began := time.Now()
	for i := range updates {
		if err := sleep(ctx, time.Until(began.Add(time.Duration(i)*interval))); err != nil {
			return lat, err
		}
		if ev, ok := events[i]; ok {
			u.event(ev, l)
			l.logf("event %s", ev)
			d, err := u.apply(ctx)
			l.logf("event %s applied in %v", ev, d)
			if err != nil {
				return lat, fmt.Errorf("%s: %w", ev, err)
			}
			eventMS[ev] = ms(d)
		}
		u.route = u.randomRoute()
		d, err := u.apply(ctx)
		if err != nil {
			return lat, fmt.Errorf("update %d: %w", i, err)
		}
		lat = append(lat, ms(d))
	}
	return lat, nil
}

// event changes the federation as event ev says.
func (u *updater) event(ev string, l *load) {
	switch ev {
	case "n3-leaves":
		delete(u.present, "n3")
	case "n3-joins":
		u.present["n3"] = true
	case "n4-joins":
		u.present["n4"] = true
	case "function-added":
		u.fns = append(u.fns, fnB)
		l.addTarget(fnB)
	}
	u.route = keepNeighbours(u.route, u.present)
}

// state is the proxy's state for the current route.
func (u *updater) state() proxyctl.State {
	s := proxyctl.State{Self: "self"}
	for _, f := range u.fns {
		s.Functions = append(s.Functions, proxyctl.Function{Name: f, Capacity: 100000, Concurrency: 1000})
	}
	for _, n := range u.rig.neighbours {
		if u.present[n.id] {
			s.Neighbours = append(s.Neighbours, proxyctl.Neighbour{
				ID: n.id, URL: "http://" + n.ln.Addr().String(), Functions: slices.Clone(u.fns),
				TokenOut: "token-to-" + string(n.id), TokenIn: "token-from-" + string(n.id), Forward: true,
			})
		}
	}
	s.Decision.Routes = []strategy.Route{u.route}
	return s
}

// randomRoute draws random shares among the present neighbours, with a
// rejection share one time in four.
func (u *updater) randomRoute() strategy.Route {
	fwd := map[strategy.NodeID]float64{}
	for id := range u.present {
		fwd[id] = u.rnd.Float64()
	}
	reject := 0.0
	if u.rnd.IntN(4) == 0 {
		reject = u.rnd.Float64() * 0.1
	}
	return strategy.NewRoute(fnA, u.rnd.Float64()+0.1, reject, fwd)
}

// apply applies the current state and returns how long it took.
func (u *updater) apply(ctx context.Context) (time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	err := u.rig.proxy.Apply(actx, u.state())
	return time.Since(start), err
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

// load sends POST requests at a constant rate over keep-alive connections
// (like a client behind a load balancer), round robin over its target
// functions, and counts outcomes. Requests are never retried and never
// canceled: a request that fails counts as failed.
type load struct {
	gen     loadgen.Generator
	base    string
	verbose io.Writer
	began   time.Time
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	targets []string
	next    int
	fails   map[string]int
}

// startLoad starts sending rate req/s to the proxy at base.
func startLoad(base string, rate float64, verbose io.Writer) *load {
	l := &load{base: base, verbose: verbose, began: time.Now(), targets: []string{fnA}, fails: map[string]int{}, done: make(chan struct{})}
	l.gen.Detach, l.gen.NoRecords, l.gen.OnDone = true, true, l.onDone
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	client := loadgen.NewClient(nil, 30*time.Second, 1024)
	go func() {
		defer close(l.done)
		defer client.CloseIdleConnections()
		l.gen.Run(ctx, l.began, []loadgen.Stream{{Target: l.target, Body: "churn", Client: client, Arrivals: loadgen.Uniform(rate, 0)}})
	}()
	return l
}

// target picks the next request's function, round robin.
func (l *load) target() (string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn := l.targets[l.next%len(l.targets)]
	l.next++
	return fn, l.base + "/function/" + fn
}

func (l *load) addTarget(fn string) {
	l.mu.Lock()
	l.targets = append(l.targets, fn)
	l.mu.Unlock()
}

// onDone counts a failed request by reason.
func (l *load) onDone(rec report.Record, err error) {
	if rec.Outcome != report.Failed {
		return
	}
	reason := "status " + strconv.Itoa(rec.Status)
	if err != nil {
		reason = errorClass(err)
	}
	l.logf("failed: %s (%v)", reason, err)
	l.mu.Lock()
	l.fails[reason]++
	l.mu.Unlock()
}

// logf logs a line with the time since the load began, in verbose mode.
func (l *load) logf(format string, a ...any) {
	if l.verbose == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.verbose, "%9.3fs %s\n", time.Since(l.began).Seconds(), fmt.Sprintf(format, a...))
}

// stop stops sending and waits for the requests in flight.
func (l *load) stop() {
	l.cancel()
	<-l.done
}

func (l *load) result() (sent, failed, rejected int64, fails map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen.Offered.Load(), l.gen.Failed.Load(), l.gen.Rejected.Load(), l.fails
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

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
