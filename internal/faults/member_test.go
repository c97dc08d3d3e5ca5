package faults_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// spec describes a member of a test federation.
type spec struct {
	id        string
	functions []embedded.Function
	strategy  func() strategy.Strategy
	period    time.Duration
	config    func(*dfaas.Config) // changes the node's config, if not nil
}

// member is one node: the embedded FaaS, a data plane serving on a fixed
// address (kept across restarts), and the agent, running.
type member struct {
	t    *testing.T
	spec spec
	tr   *peer.MemTransport
	addr string // of the data plane
	inc  uint64 // the agent's incarnation

	faasSrv *httptest.Server
	plane   dataPlane
	rec     *recorder
	node    *dfaas.Node
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
}

// dataPlane is a running data plane: its controller, what it counts, and
// how to stop it.
type dataPlane interface {
	proxyctl.Controller
	counters() metricsrc.TotalsReader
	collector() prometheus.Collector
	stop()
}

// newPlane starts a data plane on addr sending local requests to faasURL.
type newPlane func(t *testing.T, addr, faasURL string) dataPlane

// embeddedPlane is the embedded proxy on an http.Server.
type embeddedPlane struct {
	*goproxy.Proxy
	srv *http.Server
	wg  sync.WaitGroup
}

func startEmbedded(t *testing.T, addr, faasURL string) dataPlane {
	t.Helper()
	p, err := goproxy.New(goproxy.Config{FaaSURL: faasURL})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t, addr)
	e := &embeddedPlane{Proxy: p, srv: &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}}
	e.wg.Go(func() { e.srv.Serve(ln) })
	return e
}

func (e *embeddedPlane) counters() metricsrc.TotalsReader { return e.Counters() }
func (e *embeddedPlane) collector() prometheus.Collector {
	return promsrc.NewCollector(e.Counters(), 0)
}
func (e *embeddedPlane) stop() {
	e.srv.Close() // connections in flight are cut, as when the process stops
	e.wg.Wait()
}

// listen listens on addr, retrying while the port is still held by the
// previous incarnation's listener (bounded).
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string { return promtest.FreePort(t) }

// recorder records the last state applied to a controller.
type recorder struct {
	proxyctl.Controller
	mu   sync.Mutex
	last proxyctl.State
}

func (r *recorder) Apply(ctx context.Context, s proxyctl.State) error {
	err := r.Controller.Apply(ctx, s)
	if err == nil {
		r.mu.Lock()
		r.last = s.Clone()
		r.mu.Unlock()
	}
	return err
}

// neighbour returns the last applied state's neighbour id.
func (r *recorder) neighbour(id string) (proxyctl.Neighbour, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last.Neighbour(strategy.NodeID(id))
}

// join makes a member on net; start runs it.
func join(t *testing.T, net *peer.MemNetwork, s spec) *member {
	t.Helper()
	tr, err := net.Join(peer.ID(s.id))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := embedded.New(embedded.Config{Functions: s.functions})
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, spec: s, tr: tr, addr: freeAddr(t), faasSrv: httptest.NewServer(fs.Handler())}
	t.Cleanup(m.faasSrv.Close)
	t.Cleanup(m.stop)
	return m
}

// start starts the member's data plane and agent in a new incarnation.
func (m *member) start(plane newPlane) {
	t := m.t
	t.Helper()
	m.inc++
	m.plane = plane(t, m.addr, m.faasSrv.URL)
	// Cleanups run last registered first: this incarnation stops before
	// the directories its data plane made (t.TempDir) are removed.
	t.Cleanup(m.stop)
	m.rec = &recorder{Controller: m.plane}
	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(m.plane.collector())
	fs, err := embedded.New(embedded.Config{Functions: m.spec.functions})
	if err != nil {
		t.Fatal(err)
	}
	cfg := dfaas.Config{
		Strategy: m.spec.strategy(), Proxy: m.rec, FaaS: fs, Metrics: metricsrc.NewDelta(m.plane.counters()), Peers: m.tr,
		ProxyURL: "http://" + m.addr, Period: m.spec.period, Incarnation: m.inc, Registerer: m.reg,
	}
	if m.spec.config != nil {
		m.spec.config(&cfg)
	}
	if m.node, err = dfaas.New(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	go func() { m.done <- m.node.Run(ctx) }()
}

// stop stops the agent and the data plane, as when the process dies.
func (m *member) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	if err := <-m.done; err != nil && !errors.Is(err, dfaas.ErrClosed) {
		m.t.Errorf("%s: Run: %v", m.spec.id, err)
	}
	m.node.Close()
	m.plane.stop()
	m.cancel = nil
}

// url returns the URL of function fn on the member's data plane.
func (m *member) url(fn string) string { return "http://" + m.addr + "/function/" + fn }

// result is the outcome of one user request.
type result struct {
	start, end time.Time
	status     int // 0: transport error
	forwarded  string
	rejected   string
	body       string // of an answer other than 200, or the transport error
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// call sends one user request for fn to m with the given extra headers.
func call(url string, header http.Header) result {
	r := result{start: time.Now()}
	req, _ := http.NewRequest("POST", url, strings.NewReader("x"))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.status = resp.StatusCode
		if r.status != http.StatusOK {
			r.body = string(b)
		}
		r.forwarded = resp.Header.Get(proxyctl.HeaderForwardedTo)
		r.rejected = resp.Header.Get(proxyctl.HeaderRejected)
	}
	if err != nil {
		r.body = err.Error()
	}
	r.end = time.Now()
	return r
}

// load sends rate req/s of fn to url from now until stop is closed, and
// returns every result once stop is closed and the requests are done.
func load(url string, rate float64, stop <-chan struct{}) <-chan []result {
	var sent atomic.Int64
	return loadCounted(url, rate, stop, &sent)
}

// loadCounted is load, counting the requests sent in sent.
func loadCounted(url string, rate float64, stop <-chan struct{}, sent *atomic.Int64) <-chan []result {
	out := make(chan []result, 1)
	go func() {
		var mu sync.Mutex
		var wg sync.WaitGroup
		var results []result
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				wg.Wait()
				out <- results
				return
			case <-tick.C:
				sent.Add(1)
				wg.Go(func() {
					r := call(url, nil)
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				})
			}
		}
	}()
	return out
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gatewayChecker is a data plane that health-checks the local FaaS and
// takes it out of rotation when its checks fail (HAProxy); the embedded
// proxy has no such checks.
type gatewayChecker interface {
	// gatewayUp reports whether the local FaaS is in rotation.
	gatewayUp() (bool, error)
}

// span is an interval of time.
type span struct{ from, to time.Time }

func (s span) overlaps(from, to time.Time) bool { return from.Before(s.to) && to.After(s.from) }

// watchGateway polls g every 10 ms until stop is closed, then returns
// when g had the local FaaS out of rotation: each span from the last poll
// that found it in rotation to the end of the first that found it back
// (or until stop), so that a span holds every instant it was out.
func watchGateway(g gatewayChecker, stop <-chan struct{}) <-chan []span {
	out := make(chan []span, 1)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var spans []span
		var down bool
		var lastUp, since time.Time
		for {
			select {
			case <-stop:
				if down {
					spans = append(spans, span{since, time.Now()})
				}
				out <- spans
				return
			case <-tick.C:
			}
			begun := time.Now()
			up, err := g.gatewayUp()
			switch {
			case err != nil: // not known: HAProxy reloading, say
			case up && down:
				spans, down = append(spans, span{since, time.Now()}), false
			case !up && !down:
				down, since = true, lastUp
			}
			if err == nil && up {
				lastUp = begun
			}
		}
	}()
	return out
}
