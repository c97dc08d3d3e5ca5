package embedded

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// Defaults of the proxy.
const (
	// DefaultTimeout bounds a request to a function without a time-out of
	// its own.
	DefaultTimeout = 30 * time.Second
	// MaxBodySize is the largest request body the proxy accepts.
	MaxBodySize = 10 << 20
	// HealthPath is the proxy's own health endpoint, the path neighbours
	// may probe.
	HealthPath = "/dfaas/healthz"
)

// Config configures a Proxy.
type Config struct {
	// FaaSURL is the base URL of the local FaaS gateway (required).
	FaaSURL string
	// Counters receives the proxy's request counts. If nil, the proxy
	// makes its own (see Proxy.Counters).
	Counters *metricsrc.Counters
	// Transport carries requests to the FaaS and to neighbours. If nil, a
	// transport tuned for many concurrent requests to few hosts.
	Transport http.RoundTripper
	// Logger receives the proxy's logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// Proxy is the embedded data plane: an HTTP reverse proxy that implements
// the decision semantics of strategy.Decision exactly (weighted shares
// realised by a smooth weighted round robin, local and admission rate caps
// with token buckets, explicit rejection, one hop, node identity and
// credentials on forwarded requests) and counts every request in a
// metricsrc.Counters. It serves only /function/{name}[/...] and its own
// health path: the FaaS management API is never reachable through it.
//
// Before the first Apply it serves every request locally. It is safe for
// concurrent use.
type Proxy struct {
	faas     *url.URL
	counters *metricsrc.Counters
	client   *http.Client
	log      *slog.Logger

	applyMu sync.Mutex
	table   atomic.Pointer[table]
}

// New returns a Proxy; it starts nothing (serve it with an http.Server).
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.FaaSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("embedded proxy: FaaSURL %q is not an http(s) URL with a host", cfg.FaaSURL)
	}
	p := &Proxy{faas: u, counters: cfg.Counters, log: cfg.Logger}
	if p.counters == nil {
		p.counters = metricsrc.NewCounters()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	tr := cfg.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   512,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	p.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p, nil
}

// Counters returns the proxy's request counters (a metricsrc.TotalsReader:
// wrap it in metricsrc.NewDelta for a Source).
func (p *Proxy) Counters() *metricsrc.Counters { return p.counters }

// Apply implements proxyctl.Controller. It validates s and switches the
// routing atomically: requests in flight finish as routed, new requests
// follow s. Nothing is reloaded and no connection is dropped.
func (p *Proxy) Apply(ctx context.Context, s proxyctl.State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("embedded proxy: %w", err)
	}
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	t, err := compile(s, p.table.Load(), time.Now())
	if err != nil {
		return fmt.Errorf("embedded proxy: %w", err)
	}
	p.table.Store(t)
	return nil
}

// Close closes idle connections. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == HealthPath {
		io.WriteString(w, "ok\n")
		return
	}
	fn, ok := functionName(r.URL.Path)
	if !ok {
		if strings.HasPrefix(r.URL.Path, "/system/") || r.URL.Path == "/system" {
			http.Error(w, "dfaas: the FaaS management API is not exposed on the public port", http.StatusForbidden)
			return
		}
		http.Error(w, "dfaas: only /function/{name} is served here", http.StatusNotFound)
		return
	}
	if err := strategy.ValidName(fn); err != nil {
		http.Error(w, "dfaas: "+err.Error(), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		http.Error(w, fmt.Sprintf("dfaas: reading request body: %v", err), http.StatusRequestEntityTooLarge)
		return
	}
	t := p.table.Load()
	from := r.Header.Get(proxyctl.HeaderNodeID)
	fc := p.counters.Function(fn)
	if t == nil {
		// Not configured yet: serve locally.
		if from == "" {
			fc.Offered.Add(1)
		}
		p.serveLocal(w, r, body, fn, "", fc, 0)
		return
	}
	if from == "" {
		fc.Offered.Add(1)
	}
	a := t.decide(fn, from, r.Header.Get(proxyctl.HeaderNodeToken), time.Now())
	switch a.kind {
	case kindUnknownNode:
		p.refuse(w, t, http.StatusForbidden, "unknown-node", fmt.Sprintf("dfaas: node %s does not accept forwarded requests from %q", t.self, from))
	case kindAdmission:
		fc.Rejected.Add(1)
		p.refuse(w, t, http.StatusTooManyRequests, "admission", fmt.Sprintf("dfaas: node %s: %q is above its admission limit for %q", t.self, from, fn))
	case kindNoRoute:
		if from == "" {
			fc.Rejected.Add(1)
		}
		p.refuse(w, t, http.StatusNotFound, "no-route", fmt.Sprintf("dfaas: function %q is not deployed on node %s nor on any neighbour it forwards to", fn, t.self))
	case kindReject:
		fc.Rejected.Add(1)
		p.refuse(w, t, http.StatusTooManyRequests, "policy", fmt.Sprintf("dfaas: node %s is overloaded for %q; request rejected", t.self, fn))
	case kindLocal:
		if from != "" {
			fc.AddReceived(from)
		}
		p.serveLocal(w, r, body, fn, string(t.self), fc, t.local[fn].Timeout)
	case kindForward:
		p.forward(w, r, body, fn, t, a, fc)
	}
}

// functionName extracts {name} from /function/{name}[/...].
func functionName(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/function/")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return name, name != ""
}

func (p *Proxy) refuse(w http.ResponseWriter, t *table, code int, reason, msg string) {
	w.Header().Set(proxyctl.HeaderRejected, reason)
	w.Header().Set(proxyctl.HeaderServedBy, string(t.self))
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, msg, code)
}

// serveLocal sends the request to the local FaaS and relays its answer.
func (p *Proxy) serveLocal(w http.ResponseWriter, r *http.Request, body []byte, fn, self string, fc *metricsrc.FunctionCounters, timeout time.Duration) {
	fc.Local.Add(1)
	start := time.Now()
	resp, err := p.send(r, body, p.faas, timeout, nil)
	if err != nil {
		fc.Failed.Add(1)
		p.log.Debug("local FaaS unreachable", "function", fn, "err", err)
		w.Header().Set(proxyctl.HeaderServedBy, self)
		http.Error(w, fmt.Sprintf("dfaas: local FaaS unreachable for %q: %v", fn, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if failed(resp.StatusCode) {
		fc.Failed.Add(1)
	} else {
		fc.ObserveLatency(time.Since(start))
	}
	if self != "" {
		resp.Header.Set(proxyctl.HeaderServedBy, self)
	}
	relay(w, resp)
}

// forward sends a user request to a neighbour; if the neighbour cannot be
// reached at all, it retries once locally or at another neighbour.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte, fn string, t *table, a action, fc *metricsrc.FunctionCounters) {
	fc.AddForwarded(string(a.to.id))
	resp, err := p.send(r, body, a.to.base, t.local[fn].Timeout, func(h http.Header) {
		h.Set(proxyctl.HeaderNodeID, string(t.self))
		h.Set(proxyctl.HeaderNodeToken, a.to.tokenOut)
	})
	if err != nil {
		p.log.Debug("neighbour unreachable", "function", fn, "neighbour", string(a.to.id), "err", err)
		local, to, ok := a.route.fallback(a.to, time.Now())
		switch {
		case ok && local:
			p.serveLocal(w, r, body, fn, string(t.self), fc, t.local[fn].Timeout)
			return
		case ok:
			fc.AddForwarded(string(to.id))
			resp, err = p.send(r, body, to.base, 0, func(h http.Header) {
				h.Set(proxyctl.HeaderNodeID, string(t.self))
				h.Set(proxyctl.HeaderNodeToken, to.tokenOut)
			})
			a.to = to
		}
		if err != nil {
			fc.Failed.Add(1)
			http.Error(w, fmt.Sprintf("dfaas: neighbour %s unreachable for %q: %v", a.to.id, fn, err), http.StatusBadGateway)
			return
		}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get(proxyctl.HeaderRejected) != "":
		fc.Rejected.Add(1)
	case failed(resp.StatusCode):
		fc.Failed.Add(1)
	}
	resp.Header.Set(proxyctl.HeaderForwardedTo, string(a.to.id))
	relay(w, resp)
}

// failed reports whether a FaaS status means the request failed (overload,
// time-out, server error) rather than succeeded or was refused by the
// function's own logic.
func failed(code int) bool { return code == http.StatusTooManyRequests || code >= 500 }

// hopByHop are headers that apply to one connection only.
func hopByHop(h string) bool {
	switch http.CanonicalHeaderKey(h) {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// send issues r's method, path, query, headers and body against base.
// setHeaders, if not nil, sets the DFaaS headers of a forwarded request.
func (p *Proxy) send(r *http.Request, body []byte, base *url.URL, timeout time.Duration, setHeaders func(http.Header)) (*http.Response, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	for k, vs := range r.Header {
		if hopByHop(k) {
			continue
		}
		out.Header[k] = vs
	}
	out.Header.Del(proxyctl.HeaderNodeToken)
	if setHeaders != nil {
		setHeaders(out.Header)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
			host = prior + ", " + host
		}
		out.Header.Set("X-Forwarded-For", host)
	}
	resp, err := p.client.Do(out)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// relay writes resp to w.
func relay(w http.ResponseWriter, resp *http.Response) {
	for k, vs := range resp.Header {
		if !hopByHop(k) {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	// An error here means the client or the upstream went away mid-body:
	// the status is sent and there is no one left to tell.
	_, _ = io.Copy(w, resp.Body)
}

// Interface guards.
var (
	_ proxyctl.Controller = (*Proxy)(nil)
	_ http.Handler        = (*Proxy)(nil)
)
