package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/gctune"
	"github.com/dfaas-go/dfaas/internal/stack"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy/remote"
)

// defaultStrategy is the strategy of every command when none is chosen:
// the best one the project has.
const defaultStrategy = "flow"

// agentEnv maps agent flags to the environment variables that set them when
// the flag is not given. The AGENT_* names are the original prototype's
// where they still make sense.
func agentEnv() map[string]string {
	return map[string]string{
		"strategy":                  "AGENT_STRATEGY",
		"advisor":                   "AGENT_ADVISOR_URL",
		"strategy-params":           "AGENT_STRATEGY_PARAMS",
		"period":                    "AGENT_RECALC_PERIOD",
		"node-ip":                   "AGENT_NODE_IP",
		"proxy-listen":              "AGENT_PROXY_LISTEN",
		"proxy-url":                 "AGENT_PROXY_URL",
		"node-listen":               "AGENT_NODE_LISTEN",
		"proxy-cert":                "AGENT_PROXY_CERT_FILE",
		"insecure-plain-data-plane": "AGENT_INSECURE_PLAIN_DATA_PLANE",
		"http":                      "AGENT_HTTP_LISTEN",
		"expiry":                    "AGENT_NEIGHBOUR_EXPIRY",
		"credential-rotation":       "AGENT_CREDENTIAL_ROTATION",
		"forecast":                  "AGENT_FORECAST",
		"nearest":                   "AGENT_DATA_NEAREST",
		"max-rtt":                   "AGENT_DATA_MAX_RTT",
		"queue-depth":               "AGENT_QUEUE_DEPTH",
		"seed":                      "AGENT_SEED",
		"log-level":                 "AGENT_LOG_LEVEL",
		"proxy":                     "AGENT_PROXY",
		"max-conns":                 "AGENT_MAX_CONNS",
		"max-conns-per-ip":          "AGENT_MAX_CONNS_PER_IP",
		"haproxy-bin":               "AGENT_HAPROXY_BIN",
		"haproxy-dir":               "AGENT_HAPROXY_DIR",
		"haproxy-master-socket":     "AGENT_HAPROXY_MASTER_SOCKET",
		"haproxy-runtime-socket":    "AGENT_HAPROXY_RUNTIME_SOCKET",
	}
}

func runAgent(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("agent", io)
	stratName := fs.String("strategy", defaultStrategy, "strategy: "+strings.Join(io.strategies.Names(), ", "))
	stratParams := fs.String("strategy-params", "", "strategy parameters as a JSON object")
	advisorURL := fs.String("advisor", "", "URL of an external decision model consulted before each decision (for --strategy external)")
	period := fs.Duration("period", 5*time.Second, "control period")
	nodeIP := fs.String("node-ip", "", "IP address neighbours reach this node's proxy at (sets the announced proxy URL)")
	proxyListen := fs.String("proxy-listen", ":30080", "address of the public proxy (the user port)")
	nodeListen := fs.String("node-listen", ":30443", "address of the node port, where neighbours send forwarded requests (mutual TLS with the nodes' keys)")
	proxyURL := fs.String("proxy-url", "", "URL of the node port announced to peers (default: from --node-ip or --node-listen)")
	proxyCert := fs.String("proxy-cert", "", "PEM file with a certificate chain and its key: the user port then serves TLS")
	plain := fs.Bool("insecure-plain-data-plane", false, "forwarded requests and their credentials travel as plain HTTP on the node port (lab only: readable and copyable on the path)")
	httpListen := fs.String("http", "127.0.0.1:8081", "address of the admin HTTP server (/healthz, /status, /metrics)")
	expiry := fs.Duration("expiry", 0, "how long a neighbour's announcement stays valid (default 3 periods)")
	rotation := fs.Duration("credential-rotation", 0, "how often the credential a neighbour presents when forwarding here is replaced; the previous one stays valid for the neighbour expiry (default: 6 periods, at least the expiry)")
	fc := fs.String("forecast", "auto", "load forecaster: none, or a method of dfaas forecast ("+strings.Join(forecast.Methods(), ", ")+")")
	nearest := fs.Int("nearest", 0, "forward only to the N nearest peers by RTT (0: all)")
	maxRTT := fs.Duration("max-rtt", 0, "forward only to peers with an RTT up to this (0: no bound)")
	seed := fs.Uint64("seed", 1, "seed of the strategy's randomness")
	depth := usage.NewQueueDepth(proxyctl.DefaultQueueDepth)
	fs.Var(depth, "queue-depth", "requests that may wait per concurrency slot of a function, a `float` ≥ 0; one more is refused at once (429 queue-full), which bounds the latency of what is served under overload (0: no cap)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	gc := gctune.Register(fs)
	maxConns := fs.Int("max-conns", 0, "connections the public proxy accepts at once (0: 1024, or an eighth of the file-descriptor limit if smaller; HAProxy: 4096)")
	maxPerIP := fs.Int("max-conns-per-ip", 0, "connections one client address may hold on the public proxy (0: a quarter of --max-conns; HAProxy: 256, neighbours exempt)")
	proxyKind := fs.String("proxy", "embedded", "data plane: embedded (a Go reverse proxy in the agent) or haproxy (an HAProxy the agent starts or attaches to)")
	var hc haproxy.Config // MaxConn and MaxConnPerSource from --max-conns and --max-conns-per-ip
	fs.StringVar(&hc.Binary, "haproxy-bin", haproxy.DefaultBinary, "with --proxy haproxy: the haproxy executable")
	fs.StringVar(&hc.Dir, "haproxy-dir", "", "with --proxy haproxy: work directory for its configuration, maps and sockets (default: a temporary one)")
	fs.StringVar(&hc.MasterSocket, "haproxy-master-socket", "", "with --proxy haproxy: master CLI socket (default: in --haproxy-dir)")
	fs.StringVar(&hc.RuntimeSocket, "haproxy-runtime-socket", "", "with --proxy haproxy: runtime API socket (default: in --haproxy-dir)")
	fs.BoolVar(&hc.Attach, "haproxy-attach", false, "with --proxy haproxy: use an HAProxy already running in master-worker mode on --haproxy-master-socket instead of starting one")
	fs.StringVar(&hc.MetricsAddr, "haproxy-metrics", "127.0.0.1:8405", "with --proxy haproxy: address of HAProxy's Prometheus exporter")
	fs.DurationVar(&hc.QueueTimeout, "haproxy-queue-timeout", 0, "with --proxy haproxy: how long a request may wait in HAProxy's queue for a function's concurrency slot (default 10s)")
	var fns functionsFlag
	fs.Var(&fns, "function", "a function of the embedded FaaS: NAME[,handler=H][,capacity=N][,concurrency=N][,queue=N][,queue_timeout=D]; repeatable (default: every built-in)")
	var peers peerFlags
	peers.register(fs)
	var backends backendFlags
	backends.register(fs)
	usage.NoteEnv(fs, agentEnv(), peerEnv(), backendEnv(), gctune.Env())
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := usage.ApplyEnv(fs, agentEnv(), peerEnv(), gctune.Env()); err != nil {
		return err
	}
	if err := applyBackendEnv(fs); err != nil {
		return err
	}
	log, err := newLogger(io.err, *logLevel)
	if err != nil {
		return err
	}
	if _, err := gc.Apply(log); err != nil {
		return usageError{err.Error()}
	}
	st, err := io.strategies.New(*stratName, json.RawMessage(*stratParams))
	if err != nil {
		if *stratParams != "" {
			return usageError{"--strategy-params: " + err.Error()}
		}
		return usageError{"--strategy: " + err.Error()}
	}
	if *advisorURL == "" && io.strategies.NeedsAdvisor(*stratName) {
		return usageError{fmt.Sprintf("--strategy %s needs --advisor URL (the decision model to consult); without it every request would be served locally", *stratName)}
	}
	hc.MaxConn, hc.MaxConnPerSource = *maxConns, *maxPerIP
	if *proxyURL, err = stack.AnnouncedURL(*proxyURL, *nodeIP, *nodeListen, *plain); err != nil {
		return err
	}

	tr, boot, key, err := peers.Open(log)
	if err != nil {
		return err
	}
	defer tr.Close()
	if *plain {
		key = nil
		log.Warn("--insecure-plain-data-plane: forwarded requests and their credentials travel as plain HTTP between the nodes; anyone on the path can read and replay them")
	}

	cfg := stack.Config{
		Transport: tr, Strategy: st, StrategyName: *stratName, Functions: fns,
		Proxy:       stack.Proxy{Kind: *proxyKind, HAProxy: hc},
		ProxyListen: *proxyListen, ProxyURL: *proxyURL, NodeListen: *nodeListen, Key: key, UserCertFile: *proxyCert,
		Period: *period, Expiry: *expiry, CredentialRotation: *rotation,
		Forecast: *fc, Nearest: *nearest, MaxRTT: *maxRTT, Seed: *seed, Logger: log, Bootstrap: boot,
		QueueDepth: depth.Depth(),
	}
	cfg.ProxyLimits.MaxConns, cfg.ProxyLimits.MaxConnsPerIP = *maxConns, *maxPerIP
	if *advisorURL != "" {
		if cfg.Advisor, err = remote.New(*advisorURL, remote.Options{}); err != nil {
			return usageError{"--advisor: " + err.Error()}
		}
	}
	backends.CAdvisor.NodeIP = *nodeIP
	return stack.RunAgent(ctx, cfg, backends.Backends, tr, *httpListen)
}
