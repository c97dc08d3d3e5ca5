package churn

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/freeport"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// The functions of a run: the first is deployed from the start, the
// second is added halfway.
const (
	fnA = "churn-a"
	fnB = "churn-b"
)

// rig is what a run measures on: a local FaaS, four neighbours that serve
// whatever is forwarded to them, and the proxy under test in front.
type rig struct {
	faas       *embedded.Server
	faasSrv    *http.Server
	faasURL    string
	neighbours []*neighbour
	proxy      underTest
	wg         sync.WaitGroup
}

// underTest is the proxy under test.
type underTest interface {
	proxyctl.Controller
	url() string
	reloads() int
	close()
}

// newRig starts the FaaS, the neighbours and the proxy of kind (haproxy,
// rewritten and reloaded at every update with reloadEach, or embedded).
// On error, what it started is stopped.
func newRig(ctx context.Context, o Options, kind string, reloadEach bool) (_ *rig, err error) {
	r := &rig{}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.faas, err = embedded.New(embedded.Config{Functions: []embedded.Function{
		{Name: fnA, Handler: embedded.HandlerEcho, Capacity: 100000, Concurrency: 1000, Deterministic: true},
		{Name: fnB, Handler: embedded.HandlerEcho, Capacity: 100000, Concurrency: 1000, Deterministic: true},
	}}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.faasSrv = &http.Server{Handler: r.faas.Handler()}
	r.wg.Go(func() { r.faasSrv.Serve(ln) })
	r.faasURL = "http://" + ln.Addr().String()
	for i := 1; i <= 4; i++ { // n4 joins later
		n, err := startNeighbour(strategy.NodeID("n" + strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		r.neighbours = append(r.neighbours, n)
	}
	if kind == "haproxy" {
		r.proxy, err = startHAProxy(ctx, o.Binary, r.faasURL, reloadEach)
	} else {
		r.proxy, err = startEmbedded(r.faasURL)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rig) close() {
	if r.proxy != nil {
		r.proxy.close()
	}
	for _, n := range r.neighbours {
		n.close()
	}
	if r.faasSrv != nil {
		r.faasSrv.Close()
	}
	r.wg.Wait()
	if r.faas != nil {
		r.faas.Close()
	}
}

type haproxyUnderTest struct {
	c    *haproxy.Controller
	addr string
}

func startHAProxy(ctx context.Context, binary, faasURL string, reloadEach bool) (*haproxyUnderTest, error) {
	addr, err := freeport.TCP("127.0.0.1", nil)
	if err != nil {
		return nil, err
	}
	c, err := haproxy.New(ctx, haproxy.Config{
		Binary: binary, ListenAddr: addr, MetricsAddr: haproxy.MetricsOff, GatewayURL: faasURL, ReloadEveryApply: reloadEach,
	})
	if err != nil {
		return nil, err
	}
	return &haproxyUnderTest{c: c, addr: addr}, nil
}

func (h *haproxyUnderTest) Apply(ctx context.Context, s proxyctl.State) error {
	return h.c.Apply(ctx, s)
}
func (h *haproxyUnderTest) url() string  { return "http://" + h.addr }
func (h *haproxyUnderTest) reloads() int { return h.c.Stats().Reloads }
func (h *haproxyUnderTest) close()       { h.c.Close() }

type embeddedUnderTest struct {
	*goproxy.Proxy
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

func startEmbedded(faasURL string) (*embeddedUnderTest, error) {
	px, err := goproxy.New(goproxy.Config{FaaSURL: faasURL})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		px.Close()
		return nil, err
	}
	e := &embeddedUnderTest{Proxy: px, srv: &http.Server{Handler: px}, ln: ln}
	e.wg.Go(func() { e.srv.Serve(ln) })
	return e, nil
}

func (e *embeddedUnderTest) url() string  { return "http://" + e.ln.Addr().String() }
func (e *embeddedUnderTest) reloads() int { return 0 }
func (e *embeddedUnderTest) close() {
	e.srv.Close()
	e.wg.Wait()
	e.Proxy.Close()
}

// neighbour stands in for a neighbour's proxy: it serves every forwarded
// request and its health path.
type neighbour struct {
	id  strategy.NodeID
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

func startNeighbour(id strategy.NodeID) (*neighbour, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &neighbour{id: id, ln: ln}
	n.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set(proxyctl.HeaderServedBy, string(id))
		io.WriteString(w, "ok\n")
	})}
	n.wg.Go(func() { n.srv.Serve(ln) })
	return n, nil
}

func (n *neighbour) close() {
	n.srv.Close()
	n.wg.Wait()
}
