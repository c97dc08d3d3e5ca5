package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/metricsrc"
	promsrc "github.com/dfaas-go/dfaas/metricsrc/prometheus"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	proxyembedded "github.com/dfaas-go/dfaas/proxyctl/embedded"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// stackConfig describes one node made of the embedded parts: an embedded
// FaaS, the embedded proxy, a peer transport and the control loop.
type stackConfig struct {
	Transport    peer.Transport
	Strategy     strategy.Strategy
	StrategyName string
	Functions    []embedded.Function
	Proxy        proxyChoice
	ProxyListen  string // address of the public proxy
	ProxyURL     string // announced URL; derived from the listener if empty
	FaaSListen   string // address of the embedded FaaS; 127.0.0.1:0 if empty
	Period       time.Duration
	Expiry       time.Duration
	Forecast     string
	Nearest      int
	MaxRTT       time.Duration
	Seed         uint64
	Logger       *slog.Logger
	Bootstrap    []peer.ID
	Advisor      strategy.Advisor // optional external decision model

	// External FaaS: when FaaS is set, no embedded FaaS is started and
	// the proxy sends local requests to FaaSURL.
	FaaS    faas.Backend
	FaaSURL string
	// Metrics, if set, replaces the proxy's counters as the metric
	// source; it receives the proxy's counters as a fallback and the URL
	// of the FaaS the proxy sends local requests to.
	Metrics func(proxyCounters metricsrc.TotalsReader, faasURL string) (metricsrc.Source, error)
}

// proxyChoice selects the data plane: the embedded Go proxy (Kind "" or
// "embedded") or HAProxy driven by the controller ("haproxy", configured by
// HAProxy; its gateway, listen address and logger are filled in).
type proxyChoice struct {
	Kind    string
	HAProxy haproxy.Config
}

// stack is a running-ready node: its listeners are open, nothing is served
// until run.
type stack struct {
	cfg      stackConfig
	faas     *embedded.Server
	proxy    *proxyembedded.Proxy // nil with HAProxy
	haproxy  *haproxy.Controller  // nil with the embedded proxy
	node     *dfaas.Node
	reg      *prometheus.Registry
	faasLn   net.Listener
	proxyLn  net.Listener
	proxyURL string
}

func newStack(ctx context.Context, cfg stackConfig) (*stack, error) {
	s := &stack{cfg: cfg, reg: prometheus.NewRegistry()}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	var err error
	backend, faasURL := cfg.FaaS, cfg.FaaSURL
	if backend == nil {
		if s.faas, err = embedded.New(embedded.Config{Functions: cfg.Functions, Seed: cfg.Seed, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		faasAddr := cfg.FaaSListen
		if faasAddr == "" {
			faasAddr = "127.0.0.1:0"
		}
		if s.faasLn, err = net.Listen("tcp", faasAddr); err != nil {
			return nil, fmt.Errorf("embedded FaaS listen: %w", err)
		}
		backend, faasURL = s.faas, "http://"+s.faasLn.Addr().String()
	}
	var ctl proxyctl.Controller
	var counters metricsrc.TotalsReader
	switch cfg.Proxy.Kind {
	case "", "embedded":
		if s.proxyLn, err = net.Listen("tcp", cfg.ProxyListen); err != nil {
			return nil, fmt.Errorf("proxy listen %s: %w", cfg.ProxyListen, err)
		}
		if s.proxy, err = proxyembedded.New(proxyembedded.Config{FaaSURL: faasURL, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		ctl, counters = s.proxy, s.proxy.Counters()
		s.proxyURL = "http://" + reachable(s.proxyLn.Addr())
	case "haproxy":
		hc := cfg.Proxy.HAProxy
		hc.GatewayURL, hc.ListenAddr, hc.Logger = faasURL, cfg.ProxyListen, cfg.Logger
		if s.haproxy, err = haproxy.New(ctx, hc); err != nil {
			return nil, fmt.Errorf("--proxy haproxy: %w", err)
		}
		ctl, counters = s.haproxy, s.haproxy
		addr, err := net.ResolveTCPAddr("tcp", cfg.ProxyListen)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--proxy-listen %q: %v", cfg.ProxyListen, err)}
		}
		s.proxyURL = "http://" + reachable(addr)
	default:
		return nil, usageError{fmt.Sprintf("--proxy %q: want embedded or haproxy", cfg.Proxy.Kind)}
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
			return nil, usageError{"--forecast: " + err.Error()}
		}
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		promsrc.NewCollector(counters, 0))
	s.node, err = dfaas.New(dfaas.Config{
		Strategy:        cfg.Strategy,
		Proxy:           ctl,
		FaaS:            backend,
		Metrics:         source,
		Peers:           cfg.Transport,
		ProxyURL:        s.proxyURL,
		Period:          cfg.Period,
		NeighbourExpiry: cfg.Expiry,
		Forecaster:      fc,
		Nearest:         cfg.Nearest,
		MaxRTT:          cfg.MaxRTT,
		Bootstrap:       cfg.Bootstrap,
		Advisor:         cfg.Advisor,
		Seed:            cfg.Seed,
		Logger:          cfg.Logger,
		Registerer:      s.reg,
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
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

// run serves the FaaS and the proxy and runs the control loop in g until
// ctx is done.
func (s *stack) run(ctx context.Context, g *errgroup.Group) {
	log := s.cfg.Logger
	if s.faas != nil {
		serveHTTP(ctx, g, s.faasLn, s.faas.Handler(), log)
	}
	if s.proxy != nil {
		serveHTTP(ctx, g, s.proxyLn, s.proxy, log)
	}
	g.Go(func() error { return s.node.Run(ctx) })
}

// close releases what the stack opened. The listeners are closed by the
// HTTP servers when run was called; closing them again is harmless.
func (s *stack) close() {
	if s.node != nil {
		s.node.Close()
	}
	if s.proxy != nil {
		s.proxy.Close()
	}
	if s.haproxy != nil {
		s.haproxy.Close()
	}
	if s.faas != nil {
		s.faas.Close()
	}
	for _, ln := range []net.Listener{s.faasLn, s.proxyLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// adminHandler serves /healthz, /status and /metrics of a node.
func (s *stack) adminHandler() http.Handler {
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
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			dfaas.Status
			Strategy string `json:"strategy"`
			ProxyURL string `json:"proxy_url"`
		}{s.node.Status(time.Now()), s.cfg.StrategyName, s.proxyURL})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}
