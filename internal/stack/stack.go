package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/faas/openwhisk"
	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/freeport"
	"github.com/dfaas-go/dfaas/internal/netlimit"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/peer/quic"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// Config describes one node. The agent flag that sets each field is
// named in brackets.
type Config struct {
	Transport    peer.Transport
	Strategy     strategy.Strategy
	StrategyName string // [--strategy] shown on /status
	Functions    []embedded.Function
	Proxy        Proxy
	ProxyListen  string // [--proxy-listen] address of the public proxy (the user port)
	// ProxyLimits bounds the embedded proxy's listeners [--max-conns,
	// --max-conns-per-ip]; zero fields take the defaults for a node facing
	// the public. A federation on one host (the demo, a loopback bench)
	// raises MaxConnsPerIP: all its clients share 127.0.0.1.
	ProxyLimits goproxy.Limits
	ProxyURL    string // [--proxy-url] announced URL (the node port); derived from the listener if empty
	NodeListen  string // [--node-listen] address of the node port; 127.0.0.1:0 if empty
	// Key is the node key: its data-plane certificate secures the node
	// port (mutual TLS between neighbours, see docs/tls.md). Nil makes the
	// node-to-node path plain HTTP [--insecure-plain-data-plane], a lab
	// setting.
	Key          *quic.Key
	UserCertFile string // [--proxy-cert] an operator's certificate and key (PEM) for the user port
	FaaSListen   string // address of the embedded FaaS; 127.0.0.1:0 if empty
	Period       time.Duration
	Expiry       time.Duration
	// CredentialRotation [--credential-rotation]: see
	// dfaas.Config.CredentialRotation.
	CredentialRotation time.Duration
	Forecast           string // [--forecast] a method of package forecast, or "" or "none"
	Nearest            int
	MaxRTT             time.Duration
	Seed               uint64
	Logger             *slog.Logger
	Bootstrap          []peer.ID
	Advisor            strategy.Advisor // optional external decision model
	QueueDepth         float64          // [--queue-depth] dfaas.Config.QueueDepth: 0 the default, negative no cap

	// FaaSAPI is the API of the embedded FaaS (when FaaS is nil): "" or
	// "openfaas", the gateway API, which the proxy calls directly; or
	// "openwhisk", OpenWhisk's API with a generated key, which the node
	// lists the functions through and the proxy reaches through an
	// OpenWhiskFront, exactly as on a node of a real OpenWhisk.
	FaaSAPI string

	// External FaaS: when FaaS is set, no embedded FaaS is started and
	// the proxy sends local requests to FaaSURL, or, if FaaSHandler is
	// set, to FaaSHandler, which the stack serves on a loopback port of
	// its own (an OpenWhiskFront).
	FaaS        faas.Backend
	FaaSURL     string
	FaaSHandler http.Handler
	// Metrics, if set, replaces the proxy's counters as the metric
	// source; it receives the proxy's counters as a fallback and the URL
	// of the FaaS the proxy sends local requests to.
	Metrics func(proxyCounters metricsrc.TotalsReader, faasURL string) (metricsrc.Source, error)
}

// Proxy selects the data plane [--proxy]: the embedded Go proxy (Kind ""
// or "embedded") or HAProxy driven by the controller ("haproxy",
// configured by HAProxy; its gateway, listen address and logger are
// filled in).
type Proxy struct {
	Kind    string
	HAProxy haproxy.Config
}

// Stack is a node ready to run: its listeners are open, nothing is served
// until Run.
type Stack struct {
	cfg      Config
	faas     *embedded.Server
	ow       *embedded.OpenWhisk // the embedded FaaS's OpenWhisk API, if served
	owLim    *netlimit.Limiter   // its listener's limits
	front    *frontServer        // the FaaSHandler on loopback, if any
	proxy    *goproxy.Proxy      // nil with HAProxy
	haproxy  *haproxy.Controller // nil with the embedded proxy
	node     *dfaas.Node
	reg      *prometheus.Registry
	faasLn   net.Listener
	proxyLn  net.Listener
	nodeLn   net.Listener // the embedded proxy's node port
	proxyURL string       // announced: the node port
	userURL  string       // the user port
	tls      dataTLS
	closers  []io.Closer
}

// New opens the node's listeners and builds its parts. On error, what it
// opened is closed.
func New(ctx context.Context, cfg Config) (*Stack, error) {
	s := &Stack{cfg: cfg, reg: prometheus.NewRegistry()}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	backend, faasURL, err := s.openFaaS()
	if err != nil {
		return nil, err
	}
	if s.tls, err = openDataTLS(cfg); err != nil {
		return nil, err
	}
	ctl, counters, err := s.openProxy(ctx, faasURL)
	if err != nil {
		return nil, err
	}
	if cfg.ProxyURL != "" {
		s.proxyURL = cfg.ProxyURL
	}
	var source metricsrc.Source = metricsrc.NewDelta(counters)
	if cfg.Metrics != nil {
		if source, err = cfg.Metrics(counters, faasURL); err != nil {
			return nil, err
		}
	}
	var fc forecast.Factory
	if cfg.Forecast != "" && cfg.Forecast != "none" {
		if fc, err = forecast.ByName(cfg.Forecast); err != nil {
			return nil, usage.Errorf("--forecast: %v", err)
		}
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		promsrc.NewCollector(counters, 0))
	switch {
	case s.ow != nil:
		s.reg.MustRegister(s.owLim)
	case s.faas != nil:
		s.reg.MustRegister(s.faas.ListenerCollector())
	}
	if s.front != nil {
		s.reg.MustRegister(s.front.lim)
	}
	if s.proxy != nil {
		s.reg.MustRegister(s.proxy)
	}
	if s.haproxy != nil {
		s.reg.MustRegister(s.haproxy)
	}
	nc := dfaas.Config{
		Strategy: cfg.Strategy, Proxy: ctl, FaaS: backend, Metrics: source, Peers: cfg.Transport,
		ProxyURL: s.proxyURL, Period: cfg.Period, NeighbourExpiry: cfg.Expiry, CredentialRotation: cfg.CredentialRotation, Forecaster: fc,
		Nearest: cfg.Nearest, MaxRTT: cfg.MaxRTT, Bootstrap: cfg.Bootstrap, Advisor: cfg.Advisor,
		Seed: cfg.Seed, Logger: cfg.Logger, Registerer: s.reg, QueueDepth: cfg.QueueDepth,
	}
	s.tls.nodeConfig(&nc)
	s.node, err = dfaas.New(nc)
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// openFaaS starts the embedded FaaS unless the configuration names
// another, and returns the FaaS and the URL the proxy sends local requests
// to.
func (s *Stack) openFaaS() (faas.Backend, string, error) {
	cfg := s.cfg
	if cfg.FaaS != nil {
		if cfg.FaaSHandler != nil {
			return s.openFront(cfg.FaaS, cfg.FaaSHandler)
		}
		return cfg.FaaS, cfg.FaaSURL, nil
	}
	switch cfg.FaaSAPI {
	case "", "openfaas", "openwhisk":
	default:
		return nil, "", usage.Errorf("--faas %q: want openfaas or openwhisk", cfg.FaaSAPI)
	}
	var err error
	// The management API (/system/) gets generated credentials: no other
	// local process may scale or remove the functions. The node lists
	// them in-process.
	s.faas, err = embedded.New(embedded.Config{Functions: cfg.Functions, Seed: cfg.Seed, Logger: cfg.Logger, GenerateCredentials: true})
	if err != nil {
		return nil, "", err
	}
	addr := cfg.FaaSListen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if s.faasLn, err = net.Listen("tcp", addr); err != nil {
		return nil, "", fmt.Errorf("embedded FaaS: %w", err)
	}
	url := "http://" + s.faasLn.Addr().String()
	if cfg.FaaSAPI != "openwhisk" {
		return s.faas, url, nil
	}
	return s.openEmbeddedOpenWhisk(url)
}

// openEmbeddedOpenWhisk serves the embedded FaaS's OpenWhisk API at url
// (its listener) with a generated key, and returns a Client of it and the
// URL of its OpenWhiskFront.
func (s *Stack) openEmbeddedOpenWhisk(url string) (faas.Backend, string, error) {
	key, err := openwhisk.GenerateKey()
	if err != nil {
		return nil, "", err
	}
	if s.ow, err = embedded.NewOpenWhisk(s.faas, embedded.OpenWhiskConfig{Key: key.Auth()}); err != nil {
		return nil, "", err
	}
	if s.owLim, err = netlimit.New("faas", loopbackLimits(), s.cfg.Logger); err != nil {
		return nil, "", err
	}
	c, err := openwhisk.New(openwhisk.Config{URL: url, Key: key, Logger: s.cfg.Logger})
	if err != nil {
		return nil, "", err
	}
	s.closers = append(s.closers, c)
	front, err := OpenWhiskFront(c, s.cfg.Logger)
	if err != nil {
		return nil, "", err
	}
	return s.openFront(c, front)
}

// openFront opens the loopback listener of h, the FaaS front of backend,
// and returns backend and the front's URL.
func (s *Stack) openFront(backend faas.Backend, h http.Handler) (faas.Backend, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("FaaS front: %w", err)
	}
	lim, err := netlimit.New("invoker", loopbackLimits(), s.cfg.Logger)
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	s.front = &frontServer{ln: ln, h: h, lim: lim}
	return backend, "http://" + ln.Addr().String(), nil
}

// frontServer is a FaaS front the stack serves on loopback.
type frontServer struct {
	ln  net.Listener
	h   http.Handler
	lim *netlimit.Limiter
}

// loopbackLimits bound a listener only the node's proxy connects to: all
// its connections come from 127.0.0.1, and a response may take as long as
// an OpenWhisk invocation (openwhisk.DefaultInvokeTimeout).
func loopbackLimits() netlimit.Config {
	return netlimit.Config{MaxConnsPerIP: math.MaxInt, RequestTimeout: openwhisk.DefaultInvokeTimeout + 5*time.Second}
}

// openProxy starts the data plane in front of the FaaS at faasURL and
// returns its controller and counters.
func (s *Stack) openProxy(ctx context.Context, faasURL string) (proxyctl.Controller, metricsrc.TotalsReader, error) {
	cfg := s.cfg
	switch cfg.Proxy.Kind {
	case "", "embedded":
		var err error
		if s.proxyLn, err = net.Listen("tcp", cfg.ProxyListen); err != nil {
			return nil, nil, fmt.Errorf("--proxy-listen %q: %w", cfg.ProxyListen, err)
		}
		if s.nodeLn, err = listenNode(cfg); err != nil {
			return nil, nil, err
		}
		pc := goproxy.Config{FaaSURL: faasURL, Logger: cfg.Logger, Limits: cfg.ProxyLimits, Certificate: s.tls.cert, UserTLS: s.tls.userTLS}
		if s.proxy, err = goproxy.New(pc); err != nil {
			return nil, nil, err
		}
		s.userURL = scheme(s.tls.userTLS != nil) + reachable(s.proxyLn.Addr())
		s.proxyURL = scheme(s.tls.cert != nil) + reachable(s.nodeLn.Addr())
		return s.proxy, s.proxy.Counters(), nil
	case "haproxy":
		addr, err := net.ResolveTCPAddr("tcp", cfg.ProxyListen)
		if err != nil {
			return nil, nil, usage.Errorf("--proxy-listen %q: %v", cfg.ProxyListen, err)
		}
		node, err := net.ResolveTCPAddr("tcp", nodeListen(cfg))
		if err != nil {
			return nil, nil, usage.Errorf("--node-listen %q: %v", nodeListen(cfg), err)
		}
		if node.Port == 0 { // HAProxy needs a port: pick a free one
			if node, err = freeTCP(node); err != nil {
				return nil, nil, err
			}
		}
		hc := cfg.Proxy.HAProxy
		hc.GatewayURL, hc.ListenAddr, hc.Logger = faasURL, cfg.ProxyListen, cfg.Logger
		hc.NodeListenAddr, hc.Certificate, hc.UserCertFile = node.String(), s.tls.cert, s.tls.userFile
		if s.haproxy, err = haproxy.New(ctx, hc); err != nil {
			return nil, nil, fmt.Errorf("--proxy haproxy: %w", err)
		}
		s.userURL = scheme(s.tls.userTLS != nil) + reachable(addr)
		s.proxyURL = scheme(s.tls.cert != nil) + reachable(node)
		return s.haproxy, s.haproxy, nil
	}
	return nil, nil, usage.Errorf("--proxy %q: want embedded or haproxy", cfg.Proxy.Kind)
}

// freeTCP returns a's host with a port free now, below the ephemeral
// range, so that no connection takes it before HAProxy binds it (package
// freeport).
func freeTCP(a *net.TCPAddr) (*net.TCPAddr, error) {
	host := ""
	if a.IP != nil {
		host = a.IP.String()
	}
	addr, err := freeport.TCP(host, nil)
	if err != nil {
		return nil, fmt.Errorf("--node-listen %q: %w", a.String(), err)
	}
	return net.ResolveTCPAddr("tcp", addr)
}

// OneHostLimits returns the proxy limits of a federation on one host (the
// demo, a loopback bench), where users and neighbours all connect from
// 127.0.0.1: the defaults, with no per-address share of the connection
// cap.
func OneHostLimits() goproxy.Limits {
	return goproxy.Limits{MaxConnsPerIP: math.MaxInt}
}

// reachable turns a listener address into one a peer on this machine can
// dial (an unspecified host becomes 127.0.0.1).
func reachable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Node returns the node's control loop.
func (s *Stack) Node() *dfaas.Node { return s.node }

// ProxyURL returns the URL of the node's proxy for its users (the user
// port).
func (s *Stack) ProxyURL() string { return s.userURL }

// NodeURL returns the URL of the node's proxy announced to the peers: its
// node port (https unless the node-to-node path is plain).
func (s *Stack) NodeURL() string { return s.proxyURL }

// Registry returns the registry of the node's /metrics.
func (s *Stack) Registry() *prometheus.Registry { return s.reg }

// Run serves the FaaS and the proxy, each under its listener limits, and
// runs the control loop in g until ctx is done.
func (s *Stack) Run(ctx context.Context, g *errgroup.Group) {
	switch {
	case s.ow != nil:
		g.Go(func() error { return s.owLim.Serve(ctx, s.faasLn, s.owLim.Handler(s.ow.Handler())) })
	case s.faas != nil:
		g.Go(func() error { return s.faas.Serve(ctx, s.faasLn) })
	}
	if s.front != nil {
		g.Go(func() error { return s.front.lim.Serve(ctx, s.front.ln, s.front.lim.Handler(s.front.h)) })
	}
	if s.proxy != nil {
		g.Go(func() error { return s.proxy.Serve(ctx, s.proxyLn) })
		g.Go(func() error { return s.proxy.ServeNodes(ctx, s.nodeLn) })
	}
	g.Go(func() error { return s.node.Run(ctx) })
}

// Close releases what the stack opened. The listeners are closed by the
// HTTP servers when Run was called; closing them again is harmless.
func (s *Stack) Close() {
	if s.node != nil {
		s.node.Close()
	}
	if s.proxy != nil {
		s.proxy.Close()
	}
	if s.haproxy != nil {
		s.haproxy.Close()
	}
	if s.ow != nil {
		s.ow.Close()
	}
	if s.faas != nil {
		s.faas.Close()
	}
	for _, c := range s.closers {
		c.Close()
	}
	lns := []net.Listener{s.faasLn, s.proxyLn, s.nodeLn}
	if s.front != nil {
		lns = append(lns, s.front.ln)
	}
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

// AdminHandler serves /healthz, /status (dfaas.Status as JSON) and
// /metrics of the node.
func (s *Stack) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, failing := s.node.Healthy()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"status": "unhealthy", "failing": failing})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := s.node.Status(time.Now())
		st.Strategy, st.ProxyURL = s.cfg.StrategyName, s.proxyURL
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

// ServeHTTP serves h on ln in g until ctx is done, under the default
// listener limits of a node facing the public (connections in total and
// per address, time-outs, header and body caps: see proxyctl/goproxy's
// Limits), then lets requests in flight finish for up to 5 s. The
// limiter's metrics (label listener=name) are registered on reg, if not
// nil.
func ServeHTTP(ctx context.Context, g *errgroup.Group, name string, ln net.Listener, h http.Handler, reg prometheus.Registerer, log *slog.Logger) error {
	lim, err := netlimit.New(name, netlimit.Config{}, log)
	if err != nil {
		return err
	}
	if reg != nil {
		if err := reg.Register(lim); err != nil {
			return fmt.Errorf("%s listener metrics: %w", name, err)
		}
	}
	g.Go(func() error { return lim.Serve(ctx, ln, lim.Handler(h)) })
	return nil
}
