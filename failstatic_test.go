package dfaas_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// flaky wraps a FaaS backend and a metric source so that a test can make
// them fail.
type flaky struct {
	mu  sync.Mutex
	err error
	faas.Backend
	src metricsrc.Source
}

func (f *flaky) set(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }
func (f *flaky) get() error    { f.mu.Lock(); defer f.mu.Unlock(); return f.err }

func (f *flaky) Functions(ctx context.Context) ([]faas.Function, error) {
	if err := f.get(); err != nil {
		return nil, err
	}
	return f.Backend.Functions(ctx)
}

type flakySource struct{ *flaky }

func (f flakySource) Sample(ctx context.Context, now time.Time, w time.Duration) (metricsrc.Sample, error) {
	if err := f.get(); err != nil {
		return metricsrc.Sample{}, err
	}
	return f.src.Sample(ctx, now, w)
}

// liveNode is a node with the embedded FaaS and proxy over real HTTP.
type liveNode struct {
	node            *dfaas.Node
	proxy           *httptest.Server
	faasDown, mDown *flaky
	counters        *metricsrc.Counters
}

func newLiveNode(t *testing.T, net *peer.MemNetwork, id string, capacity float64, st strategy.Strategy) *liveNode {
	t.Helper()
	fs, err := embedded.New(embedded.Config{Functions: []embedded.Function{{Name: "echo", Capacity: capacity, Concurrency: 50}}})
	if err != nil {
		t.Fatal(err)
	}
	faasSrv := httptest.NewServer(fs.Handler())
	t.Cleanup(faasSrv.Close)
	p, err := goproxy.New(goproxy.Config{FaaSURL: faasSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ln := &liveNode{proxy: httptest.NewServer(p), counters: p.Counters()}
	t.Cleanup(ln.proxy.Close)
	ln.faasDown = &flaky{Backend: fs}
	ln.mDown = &flaky{src: metricsrc.NewDelta(p.Counters())}
	tr, err := net.Join(peer.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	ln.node, err = dfaas.New(dfaas.Config{
		Strategy: st, Proxy: p, FaaS: ln.faasDown, Metrics: flakySource{ln.mDown}, Peers: tr,
		ProxyURL: ln.proxy.URL, Period: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.node.Close() })
	return ln
}

// send sends n requests to the node's proxy and counts the successes and
// those a neighbour served.
func (ln *liveNode) send(t *testing.T, n int) (ok, forwarded int) {
	t.Helper()
	for range n {
		resp, err := http.Post(ln.proxy.URL+"/function/echo", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			ok++
		}
		if resp.Header.Get(proxyctl.HeaderForwardedTo) != "" {
			forwarded++
		}
	}
	return ok, forwarded
}

// TestKeepsServingWhenPartsFail: a node whose metric source, FaaS backend
// or neighbour fails keeps routing by its last decision, and requests are
// still served — forwarded ones included.
func TestKeepsServingWhenPartsFail(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{Seed: 1})
	defer net.Close()
	st := func() strategy.Strategy { return &strategy.Static{LocalShare: 0.5} }
	a := newLiveNode(t, net, "a", 1000, st())
	b := newLiveNode(t, net, "b", 1000, st())
	ctx := context.Background()
	t0 := time.Now()
	stepBoth := func(at time.Time) {
		a.node.Step(ctx, at)
		b.node.Step(ctx, at)
	}
	stepBoth(t0)
	stepBoth(t0.Add(time.Second))
	ok, fwd := a.send(t, 20)
	if ok != 20 || fwd != 10 {
		t.Fatalf("healthy: %d served, %d forwarded; want 20 and 10", ok, fwd)
	}
	boom := errors.New("boom")
	for i, fail := range []struct {
		name    string
		breakIt func()
		fix     func()
	}{
		{"metric source down", func() { a.mDown.set(boom) }, func() { a.mDown.set(nil) }},
		{"FaaS backend down", func() { a.faasDown.set(boom) }, func() { a.faasDown.set(nil) }},
		// b's announcements stop arriving (the transport still sees it
		// up): a keeps forwarding by its last decision until b expires.
		{"peer silent (within its expiry)", func() { net.SetDrop("b", "a", 1) }, func() { net.SetDrop("b", "a", 0) }},
	} {
		fail.breakIt()
		a.node.Step(ctx, t0.Add(time.Duration(2+i)*time.Second))
		ok, fwd := a.send(t, 20)
		if ok != 20 || fwd != 10 {
			t.Errorf("%s: %d served, %d forwarded; want 20 and 10", fail.name, ok, fwd)
		}
		fail.fix()
	}
}
