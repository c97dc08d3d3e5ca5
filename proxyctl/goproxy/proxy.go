package goproxy

import (
	"bytes"
	"context"
	"crypto/tls"
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

	"github.com/dfaas-go/dfaas/internal/netlimit"
	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// Defaults of the proxy.
const (
	// DefaultTimeout bounds a request to a function without a time-out of
	// its own, from when the proxy starts sending it (its body included)
	// to the end of the answer.
	DefaultTimeout = 30 * time.Second
	// MaxBodySize is the default of Limits.MaxBodyBytes: the largest
	// request body the proxy accepts.
	MaxBodySize = netlimit.DefaultMaxBodyBytes
	// DefaultRetryBuffer is the default of Config.RetryBuffer.
	DefaultRetryBuffer = 64 << 10
	// DefaultCounterLinger is the default of Config.CounterLinger.
	DefaultCounterLinger = time.Minute
	// HealthPath is the proxy's own health endpoint, the path neighbours
	// may probe.
	HealthPath = "/dfaas/healthz"
)

// Limits bounds the proxy's listener and the requests it serves:
// connections in total and per client address, idle, header, body and
// whole-request time-outs, header and body sizes, and the request body
// bytes in flight. Every zero field takes a default fit for a small edge
// node (see the fields' documentation).
type Limits = netlimit.Config

// Config configures a Proxy.
type Config struct {
	// FaaSURL is the base URL of the local FaaS gateway (required).
	FaaSURL string
	// Counters receives the proxy's request counts, the neighbours'
	// answers included (metricsrc.Counters.MeasureAnswers). If nil, the
	// proxy makes its own (see Proxy.Counters). The proxy keeps per-function
	// counters only for the functions of its routing state (see
	// metricsrc.Counters.Retain) and counts other names in
	// Counters.Other.
	Counters *metricsrc.Counters
	// Transport carries requests to the FaaS and to neighbours. If nil,
	// two transports tuned for many concurrent requests to few hosts:
	// one to the FaaS, one to the neighbours (whose dials time out after
	// 2 s, so that an unreachable neighbour is soon given up for another).
	Transport http.RoundTripper
	// Logger receives the proxy's logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Limits bounds the listener (see Serve) and every request.
	Limits Limits
	// RetryBuffer is how many bytes of a forwarded request's body the
	// proxy keeps so that it can send the request elsewhere once when the
	// neighbour refuses it as unknown-node or cannot be reached. A larger
	// body is sent with Expect: 100-continue, so that a refusal comes
	// before the body; if the neighbour reads more than RetryBuffer bytes
	// before failing, the failure is answered instead. If zero,
	// DefaultRetryBuffer.
	RetryBuffer int
	// CounterLinger is how long the counters of a function that left the
	// routing state are still reported before they are removed (see
	// metricsrc.Counters). If zero, DefaultCounterLinger.
	CounterLinger time.Duration
	// Certificate is this node's data-plane certificate and key (see
	// peer/quic Key.DataCertificate). With it the node-to-node path is
	// mutual TLS 1.3: ServeNodes requires a current neighbour's
	// certificate (proxyctl.Neighbour.Cert) matching the request's
	// DFaaS-Node-ID, Serve (the user port) refuses forwarded requests, and
	// neighbours with https URLs are reached through transports of their
	// own that present it and accept only the neighbour's certificate.
	// Without it, forwarded requests travel as plain HTTP (a lab setting;
	// see docs/tls.md).
	Certificate *tls.Certificate
	// UserTLS, if not nil, makes Serve serve the user port over TLS with
	// this configuration (an operator's certificate).
	UserTLS *tls.Config
}

// Proxy is the embedded data plane: an HTTP reverse proxy that implements
// the decision semantics of strategy.Decision exactly (weighted shares
// realised by a smooth weighted round robin, local and admission rate caps
// with token buckets, explicit rejection, one hop, node identity and
// credentials on forwarded requests) and counts every request in a
// metricsrc.Counters. It serves only /function/{name}[/...] and its own
// health path: the FaaS management API is never reachable through it.
//
// It streams request bodies to the FaaS, keeps at most RetryBuffer bytes
// of a forwarded request's body, and enforces its Limits on every request;
// Serve also applies the connection caps and time-outs. Before the first
// Apply it serves every request locally. It is safe for concurrent use and
// is a prometheus.Collector of its refusals and retries.
type Proxy struct {
	faas      *url.URL
	counters  *metricsrc.Counters
	transport http.RoundTripper // to the FaaS
	peers     http.RoundTripper // to the neighbours
	fast      *upstream         // to the FaaS, for small requests; nil with Config.Transport
	log       *slog.Logger
	lim       *netlimit.Limiter
	retryBuf  int
	linger    time.Duration

	applyMu sync.Mutex
	state   atomic.Pointer[routeState]

	retries  [numRetryReasons]atomic.Uint64
	refusals [numRefusedReasons]atomic.Uint64
	metrics  metrics
	fixed    fixedValues

	cert     *tls.Certificate // nil: plain node-to-node path
	userTLS  *tls.Config
	secure   peerTransports // to https neighbours, guarded by applyMu
	fastPeer peerPools      // to the neighbours, guarded by applyMu
}

// routeState is the state requests are routed by: the compiled table and the
// counters of the functions in it.
type routeState struct {
	t        *table
	fcs      map[string]*metricsrc.FunctionCounters
	servedBy []string // header value naming this node
}

// New returns a Proxy; it starts nothing (serve it with Serve, or with an
// http.Server of your own, which then lacks the connection caps and
// time-outs).
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.FaaSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("embedded proxy: FaaSURL %q is not an http(s) URL with a host", cfg.FaaSURL)
	}
	switch {
	case cfg.RetryBuffer < 0:
		return nil, fmt.Errorf("embedded proxy: RetryBuffer %d is negative", cfg.RetryBuffer)
	case cfg.CounterLinger < 0:
		return nil, fmt.Errorf("embedded proxy: CounterLinger %v is negative", cfg.CounterLinger)
	}
	p := &Proxy{faas: u, counters: cfg.Counters, log: cfg.Logger, transport: cfg.Transport, peers: cfg.Transport,
		retryBuf: cfg.RetryBuffer, linger: cfg.CounterLinger}
	if p.counters == nil {
		p.counters = metricsrc.NewCounters()
	}
	p.counters.MeasureAnswers() // relayForwarded counts every neighbour's answer
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.retryBuf == 0 {
		p.retryBuf = DefaultRetryBuffer
	}
	if p.linger == 0 {
		p.linger = DefaultCounterLinger
	}
	if cfg.Certificate != nil {
		if err := nodetls.CheckOwn(cfg.Certificate, time.Now()); err != nil {
			return nil, fmt.Errorf("embedded proxy: Certificate: %w", err)
		}
		c := *cfg.Certificate
		p.cert = &c
	}
	p.userTLS = cfg.UserTLS
	if p.lim, err = netlimit.New("proxy", cfg.Limits, p.log); err != nil {
		return nil, fmt.Errorf("embedded proxy: %w", err)
	}
	if p.transport == nil {
		p.transport = newTransport(p.lim.Config(), faasDialTimeout)
		p.peers = newTransport(p.lim.Config(), peerDialTimeout)
		p.fast = newUpstream(u, fastConns(), p.lim.Config().MaxHeaderBytes)
	}
	p.metrics = newMetrics()
	p.fixed = newFixedValues()
	return p, nil
}

// Dial time-outs: a neighbour that does not answer is soon given up for
// another; the FaaS (usually on the same machine) is given longer, as a
// busy node may take a while to get to it.
const (
	peerDialTimeout = 2 * time.Second
	faasDialTimeout = 10 * time.Second
)

// newTransport returns a transport tuned for a proxy: many concurrent
// requests to few hosts, connections reused (closed when idle before the
// peers' own idle time-out, to avoid racing them), bodies passed through
// as they are (no transparent compression). It opens at most as many
// connections to one host (the FaaS, a neighbour) as a listener with
// default Limits accepts from one address, so that the FaaS and the
// neighbours never refuse its connections; more concurrent requests wait
// for a connection within their time-out.
func newTransport(l Limits, dialTimeout time.Duration) *http.Transport {
	perHost := Limits{}.WithDefaults(netlimit.FDLimit()).MaxConnsPerIP
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           l.MaxConns,
		MaxIdleConnsPerHost:    perHost,
		MaxConnsPerHost:        perHost,
		IdleConnTimeout:        netlimit.DefaultIdleTimeout * 2 / 3,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: int64(l.MaxHeaderBytes),
		DisableCompression:     true,
	}
}

// Counters returns the proxy's request counters (a metricsrc.TotalsReader:
// wrap it in metricsrc.NewDelta for a Source).
func (p *Proxy) Counters() *metricsrc.Counters { return p.counters }

// Limits returns the limits in force, defaults filled in.
func (p *Proxy) Limits() Limits { return p.lim.Config() }

// Serve serves the user port on ln with the proxy's Limits (connection
// caps, time-outs) until ctx is done, then lets requests in flight finish
// for up to 5 s. It closes ln. With a Certificate, forwarded requests
// (those with DFaaS-Node-ID or DFaaS-Node-Token) are refused there (403
// unknown-node): they go to ServeNodes. With UserTLS, it serves TLS.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	var err error
	if p.userTLS != nil {
		err = p.lim.ServeTLS(ctx, ln, http.HandlerFunc(p.serveUser), p.userTLS)
	} else {
		err = p.lim.Serve(ctx, ln, http.HandlerFunc(p.serveUser))
	}
	if err != nil {
		return fmt.Errorf("embedded proxy: %w", err)
	}
	return nil
}

// Apply implements proxyctl.Controller. It validates s and switches the
// routing atomically: requests in flight finish as routed, new requests
// follow s. Nothing is reloaded and no connection is dropped (the idle
// connections to neighbours no longer in s are closed). The functions of
// s (deployed here, run by a neighbour, or routed by the decision) get
// counters of their own; the counters of functions no longer in s are
// retired (see Config.CounterLinger).
func (p *Proxy) Apply(ctx context.Context, s proxyctl.State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("embedded proxy: %w", err)
	}
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	now := time.Now()
	var prev *table
	if st := p.state.Load(); st != nil {
		prev = st.t
	}
	t, err := compile(s, prev, now)
	if err != nil {
		return fmt.Errorf("embedded proxy: %w", err)
	}
	if err := p.secure.attach(t, p.cert, p.lim.Config()); err != nil {
		return fmt.Errorf("embedded proxy: %w", err)
	}
	if p.fast != nil {
		p.fastPeer.attach(t, p.cert, p.lim.Config())
	}
	names := routedNames(s)
	p.counters.Retain(names, now, p.linger)
	st := &routeState{t: t, fcs: make(map[string]*metricsrc.FunctionCounters, len(names)), servedBy: []string{string(s.Self)}}
	for _, n := range names {
		st.fcs[n] = p.counters.Function(n)
	}
	p.state.Store(st)
	return nil
}

// routedNames returns the functions of s: deployed here, run by a
// neighbour, or routed by the decision.
func routedNames(s proxyctl.State) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, f := range s.Functions {
		add(f.Name)
	}
	for _, n := range s.Neighbours {
		for _, f := range n.Functions {
			add(f)
		}
	}
	for _, r := range s.Decision.Routes {
		add(r.Function)
	}
	return out
}

// Close closes idle connections. It is safe to call more than once.
func (p *Proxy) Close() error {
	if p.fast != nil {
		p.fast.closeIdle()
	}
	p.applyMu.Lock()
	p.secure.closeIdle()
	p.fastPeer.closeIdle()
	p.applyMu.Unlock()
	for _, rt := range []http.RoundTripper{p.transport, p.peers} {
		if t, ok := rt.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
	return nil
}

// Canonical forms of the DFaaS headers, to index http.Header without
// canonicalising (and allocating) on every request.
const (
	keyNodeID     = "Dfaas-Node-Id"
	keyNodeToken  = "Dfaas-Node-Token"
	keyServedBy   = "Dfaas-Served-By"
	keyForwarded  = "Dfaas-Forwarded-To"
	keyRejected   = "Dfaas-Rejected"
	keyXFF        = "X-Forwarded-For"
	keyExpect     = "Expect"
	keyConnection = "Connection"
)

// routed is where the routing path sends one request.
type routed struct {
	fn   string
	fc   *metricsrc.FunctionCounters
	st   *routeState // nil before the first Apply
	a    action
	from string
	code int    // an HTTP status when the path itself is refused, else 0
	xff  string // X-Forwarded-For to send (see prepareHeaders)
}

// route is the routing path of a request: it parses the function name,
// finds its counters (the aggregate for a name outside the routing state)
// and decides where the request goes. It allocates nothing.
func (p *Proxy) route(path string, h http.Header, now time.Time) routed {
	fn, ok := functionName(path)
	switch {
	case !ok && (strings.HasPrefix(path, "/system/") || path == "/system"):
		return routed{code: http.StatusForbidden}
	case !ok:
		return routed{code: http.StatusNotFound}
	case !validName(fn), dotSegment(path):
		return routed{fn: fn, code: http.StatusBadRequest}
	}
	rq := routed{fn: fn, fc: p.counters.Other(), st: p.state.Load(), from: first(h[keyNodeID])}
	if rq.st == nil {
		rq.a = action{kind: kindLocal}
		return rq
	}
	if fc := rq.st.fcs[fn]; fc != nil {
		rq.fc = fc
	}
	rq.a = rq.st.t.decide(fn, rq.from, first(h[keyNodeToken]), now)
	return rq
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// dotSegment reports whether path has a "." or ".." segment or a
// backslash: the FaaS could resolve it to another path than the
// function's (its management API), so the proxy refuses it, as HAProxy's
// frontend does.
func dotSegment(path string) bool {
	for len(path) > 0 {
		seg, rest, _ := strings.Cut(path, "/")
		if seg == "." || seg == ".." || strings.IndexByte(seg, '\\') >= 0 {
			return true
		}
		path = rest
	}
	return false
}

// validName is strategy.ValidName without the error (and its allocation).
func validName(name string) bool {
	if name == "" || len(name) > strategy.MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == HealthPath {
		io.WriteString(w, "ok\n")
		return
	}
	rq := p.route(r.URL.Path, r.Header, time.Now())
	switch rq.code {
	case 0:
	case http.StatusForbidden:
		p.refusals[refusedManagementAPI].Add(1)
		http.Error(w, "dfaas: the FaaS management API is not exposed on the public port", http.StatusForbidden)
		return
	case http.StatusBadRequest:
		p.refusals[refusedBadPath].Add(1)
		msg := "dfaas: a path with a dot segment or a backslash is not served"
		if err := strategy.ValidName(rq.fn); err != nil {
			msg = "dfaas: " + err.Error()
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	default:
		p.refusals[refusedNotFunction].Add(1)
		http.Error(w, "dfaas: only /function/{name} is served here", http.StatusNotFound)
		return
	}
	if rq.from == "" {
		rq.fc.Offered.Add(1)
	}
	if p.refused(w, rq) || !p.enqueue(w, rq) {
		return
	}
	defer rq.dequeue()
	body, ok := p.lim.AdmitBody(w, r)
	if !ok {
		if rq.from == "" {
			rq.fc.Rejected.Add(1)
		}
		return
	}
	defer body.Release()
	var buf *[]byte
	if r.ContentLength > 0 && r.ContentLength <= smallBody && p.fastPath(rq, r.ContentLength) {
		// The fast paths write the body before they return: the
		// buffer can be reused.
		buf = p.fast.getBuf()
		defer p.fast.putBuf(buf)
	}
	small, err := readSmall(r, buf)
	if err != nil {
		rq.fc.Failed.Add(1)
		p.fail(w, r, err, "reading the request body")
		return
	}
	rq.xff = prepareHeaders(r)
	switch rq.a.kind {
	case kindLocal:
		if rq.from != "" {
			rq.fc.AddReceived(rq.from)
		}
		p.serveLocal(w, r, rq, small, r.Body)
	case kindForward:
		p.forward(w, r, rq, small)
	}
}

// fastPath reports whether rq, with a body of n bytes (at most
// smallBody), goes through a fast client (see upstream): to the local FaaS,
// or to a neighbour when the body fits in the retry buffer (a larger one
// is sent with Expect: 100-continue, see Config.RetryBuffer).
func (p *Proxy) fastPath(rq routed, n int64) bool {
	switch rq.a.kind {
	case kindLocal:
		return p.fast != nil
	case kindForward:
		return rq.a.to.fast != nil && n <= int64(p.retryBuf)
	}
	return false
}

// smallBody is the largest declared body the proxy reads before sending
// the request on: it then goes out with the headers in one write (a
// streamed body makes http.Transport flush the headers first), and a retry
// needs no replay. Larger bodies are streamed.
const smallBody = 16 << 10

// readSmall reads a body declared no larger than smallBody, into buf if
// not nil; it returns nil for other bodies.
func readSmall(r *http.Request, buf *[]byte) ([]byte, error) {
	n := r.ContentLength
	if n <= 0 || n > smallBody {
		return nil, nil
	}
	var b []byte
	if buf != nil {
		b = (*buf)[:n]
	} else {
		b = make([]byte, n)
	}
	if _, err := io.ReadFull(r.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

// refused answers the requests the decision refuses and reports whether
// it did.
func (p *Proxy) refused(w http.ResponseWriter, rq routed) bool {
	st, fn, from := rq.st, rq.fn, rq.from
	switch rq.a.kind {
	case kindUnknownNode:
		p.refusals[refusedUnknownNode].Add(1)
		p.refuse(w, st, http.StatusForbidden, &p.fixed.unknownNode, fmt.Sprintf("dfaas: node %s does not accept forwarded requests from %q", st.t.self, from))
	case kindAdmission:
		rq.fc.Rejected.Add(1)
		p.refuse(w, st, http.StatusTooManyRequests, &p.fixed.admission, fmt.Sprintf("dfaas: node %s: %q is above its admission limit for %q", st.t.self, from, fn))
	case kindNoRoute:
		if from == "" {
			rq.fc.Rejected.Add(1)
		}
		p.refuseParts(w, st, http.StatusNotFound, &p.fixed.noRoute,
			"dfaas: function \"", fn, "\" is not deployed on node ", string(st.t.self), " nor on any neighbour it forwards to")
	case kindReject:
		rq.fc.Rejected.Add(1)
		// The common refusal under overload: its message is written in
		// parts (fmt would allocate); fn is a valid name, which %q would
		// not escape.
		p.refuseParts(w, st, http.StatusTooManyRequests, &p.fixed.policy,
			"dfaas: node ", string(st.t.self), " is overloaded for \"", fn, "\"; request rejected")
	default:
		return false
	}
	return true
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

// refuse answers code with msg, naming reason (DFaaS-Rejected) and this
// node (DFaaS-Served-By); a 429 tells the client to retry after 1 s.
func (p *Proxy) refuse(w http.ResponseWriter, st *routeState, code int, reason *[]string, msg string) {
	p.refuseParts(w, st, code, reason, msg)
}

// refuseParts is refuse with the message in parts, concatenated.
func (p *Proxy) refuseParts(w http.ResponseWriter, st *routeState, code int, reason *[]string, msg ...string) {
	h := w.Header()
	h[keyRejected] = *reason
	h[keyServedBy] = st.servedBy
	if code == http.StatusTooManyRequests {
		h["Retry-After"] = p.fixed.retryAfter
	}
	p.plainError(w, code, msg...)
}

// fixedValues are the header values of the answers the proxy gives
// itself, shared by all of them so that setting them allocates nothing.
// (The server copies a handler's headers when it writes them; a value is
// never changed in place.)
type fixedValues struct {
	textPlain, nosniff, retryAfter                     []string
	policy, admission, noRoute, unknownNode, queueFull []string
}

func newFixedValues() fixedValues {
	return fixedValues{
		textPlain: []string{"text/plain; charset=utf-8"}, nosniff: []string{"nosniff"}, retryAfter: []string{"1"},
		policy: []string{"policy"}, admission: []string{"admission"}, noRoute: []string{"no-route"}, unknownNode: []string{"unknown-node"},
		queueFull: []string{proxyctl.RejectedQueueFull},
	}
}

// plainError answers as http.Error(w, concatenated msg, code) does (the
// same headers and body) without allocating.
func (p *Proxy) plainError(w http.ResponseWriter, code int, msg ...string) {
	h := w.Header()
	delete(h, "Content-Length")
	h["Content-Type"] = p.fixed.textPlain
	h["X-Content-Type-Options"] = p.fixed.nosniff
	w.WriteHeader(code)
	for _, m := range msg {
		io.WriteString(w, m)
	}
	io.WriteString(w, "\n")
}

// prepareHeaders makes r's headers those to send on: hop-by-hop headers
// and a client's credential header removed. r is the proxy's own (the
// server made it for this handler), so it is changed in place. It returns
// the X-Forwarded-For value to send (the client's address appended to
// those of the request, which it removes), or "" when the client's
// address is unknown (the request's own then goes on as it is): the fast
// path writes it without a header slice, the others set it (setXFF).
func prepareHeaders(r *http.Request) (xff string) {
	h := r.Header
	for _, v := range h[keyConnection] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textTrim(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
	for k := range h {
		if hopByHop(k) {
			delete(h, k)
		}
	}
	delete(h, keyNodeToken)
	// The server answers a client's Expect: 100-continue itself; the
	// request goes on with its body (forward sets it again when useful).
	delete(h, keyExpect)
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	if prior := h[keyXFF]; len(prior) > 0 {
		host = strings.Join(prior, ", ") + ", " + host
	}
	delete(h, keyXFF)
	return host
}

// setXFF sets the X-Forwarded-For header of rq's request in h (see
// prepareHeaders).
func setXFF(h http.Header, rq routed) {
	if rq.xff != "" {
		h[keyXFF] = []string{rq.xff}
	}
}

func textTrim(s string) string { return strings.Trim(s, " \t") }

// hopByHop reports whether canonical header h applies to one connection
// only.
func hopByHop(h string) bool {
	switch h {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// timeout returns the time-out of requests to fn.
func (rq routed) timeout() time.Duration {
	if rq.st != nil {
		if d := rq.st.t.local[rq.fn].Timeout; d > 0 {
			return d
		}
	}
	return DefaultTimeout
}

// serveLocal sends the request to the local FaaS and relays its answer.
// Its body is small (already read) or stream. A request without a body or
// with a small one takes the fast path (see upstream); others are
// streamed through http.Transport.
func (p *Proxy) serveLocal(w http.ResponseWriter, r *http.Request, rq routed, small []byte, stream io.ReadCloser) {
	rq.fc.Local.Add(1)
	start := time.Now()
	if rq.st != nil {
		w.Header()[keyServedBy] = rq.st.servedBy
	}
	if p.fast != nil && (small != nil || r.ContentLength == 0) {
		p.serveFast(w, r, rq, small, start)
		return
	}
	body := stream
	if small != nil {
		body = io.NopCloser(bytes.NewReader(small))
	}
	setXFF(r.Header, rq)
	resp, cancel, err := p.send(w, r, p.transport, p.faas, rq.timeout(), body, nil)
	if err != nil {
		p.localFailed(w, r, rq, err)
		return
	}
	defer cancel()
	defer resp.Body.Close()
	p.countLocal(rq, resp.StatusCode, start)
	if rq.st != nil {
		resp.Header[keyServedBy] = rq.st.servedBy
	}
	relay(w, resp)
}

// serveFast serves a local request through the fast client.
func (p *Proxy) serveFast(w http.ResponseWriter, r *http.Request, rq routed, body []byte, start time.Time) {
	timeout := rq.timeout()
	if extend := timeout + time.Second; extend > p.lim.Config().RequestTimeout {
		netlimit.SetWriteDeadline(w, start.Add(extend))
	}
	c, err := p.fast.roundTrip(r.Context(), r, extraHeaders{xff: rq.xff}, body, timeout)
	if err != nil {
		p.localFailed(w, r, rq, err)
		return
	}
	// The common answer is parsed in place, straight into w's headers;
	// any other by http.ReadResponse.
	var h head
	if buf, _ := c.br.Peek(c.br.Buffered()); parseHead(buf, r.Method, &h) {
		p.countLocal(rq, h.status, start)
		h.commit(buf, w.Header())
		c.br.Discard(h.size)
		w.WriteHeader(h.status)
		p.fast.finish(c, c.relayBody(w, h.length) == nil && !h.close)
		return
	}
	resp, err := p.fast.readResponse(c, r)
	if err != nil {
		p.fast.discard(c)
		p.localFailed(w, r, rq, err)
		return
	}
	p.countLocal(rq, resp.StatusCode, start)
	if rq.st != nil {
		resp.Header[keyServedBy] = rq.st.servedBy
	}
	complete := relay(w, resp) == nil
	resp.Body.Close()
	p.fast.finish(c, complete && !resp.Close)
}

func (p *Proxy) countLocal(rq routed, code int, start time.Time) {
	if failed(code) {
		rq.fc.Failed.Add(1)
	} else {
		rq.fc.ObserveLatency(time.Since(start))
	}
}

func (p *Proxy) localFailed(w http.ResponseWriter, r *http.Request, rq routed, err error) {
	rq.fc.Failed.Add(1)
	p.log.Debug("local FaaS request failed", "function", rq.fn, "err", err)
	p.fail(w, r, err, fmt.Sprintf("local FaaS unreachable for %q", rq.fn))
}

// fail answers a request that could not be sent: the status of a body
// limit that cut it (then the connection is closed), else 502.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error, msg string) {
	code := http.StatusBadGateway
	if b, ok := r.Body.(*netlimit.Body); ok && b.Err() != nil {
		// The body was cut: whatever the transport reported (the
		// request's context is cancelled too), that is the cause.
		err, code = b.Err(), netlimit.BodyFailure(w, b.Err())
	} else if s := netlimit.Status(err); s != http.StatusBadRequest {
		code = netlimit.BodyFailure(w, err)
	}
	http.Error(w, fmt.Sprintf("dfaas: %s: %v", msg, err), code)
}

// failed reports whether a FaaS status means the request failed (overload,
// time-out, server error) rather than succeeded or was refused by the
// function's own logic.
func failed(code int) bool { return code == http.StatusTooManyRequests || code >= 500 }

// send issues r's method, path, query and headers with body against base.
// On success the caller closes the response body, then calls cancel.
func (p *Proxy) send(w http.ResponseWriter, r *http.Request, rt http.RoundTripper, base *url.URL, timeout time.Duration, body io.ReadCloser, getBody func() (io.ReadCloser, error)) (*http.Response, context.CancelFunc, error) {
	if extend := timeout + time.Second; extend > p.lim.Config().RequestTimeout {
		netlimit.SetWriteDeadline(w, time.Now().Add(extend))
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	out := r.WithContext(ctx)
	out.URL = &url.URL{Scheme: base.Scheme, Host: base.Host, Path: joinPath(base.Path, r.URL.Path), RawQuery: r.URL.RawQuery}
	out.Host = ""
	out.RequestURI = ""
	out.Close = false
	out.Body, out.GetBody = body, getBody
	if body == nil || body == http.NoBody {
		out.Body, out.ContentLength = http.NoBody, 0
	}
	resp, err := rt.RoundTrip(out)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

func joinPath(base, path string) string {
	if base == "" || base == "/" {
		return path
	}
	return strings.TrimSuffix(base, "/") + path
}

// relay writes resp to w. An error means the client or the upstream went
// away mid-body: the status is sent and there is no one left to tell.
func relay(w http.ResponseWriter, resp *http.Response) error {
	h := w.Header()
	for k, vs := range resp.Header {
		if !hopByHop(k) {
			h[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, err := io.Copy(w, resp.Body)
	return err
}

// Interface guards.
var (
	_ proxyctl.Controller = (*Proxy)(nil)
	_ http.Handler        = (*Proxy)(nil)
)
