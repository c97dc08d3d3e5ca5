package haproxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
)

// Defaults of Config fields.
const (
	DefaultBinary         = "haproxy"
	DefaultListenAddr     = ":30080"
	DefaultNodeListenAddr = ":30443"
	DefaultMetricsAddr    = ":8405"
	DefaultGatewayHealth  = "/healthz"
	DefaultSlots          = 16
	DefaultConnectTimeout = time.Second
	DefaultServerTimeout  = 30 * time.Second
	DefaultQueueTimeout   = 10 * time.Second
	DefaultClientTimeout  = 60 * time.Second
	DefaultCheckInterval  = 500 * time.Millisecond
	DefaultStartTimeout   = 10 * time.Second
	DefaultDrainTime      = 200 * time.Millisecond
	DefaultIdleTimeout    = 30 * time.Second
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultRequestTimeout = 20 * time.Second
	DefaultMaxConn        = 4096
	DefaultMaxConnPerSrc  = 256
	DefaultMaxBodySize    = 10 << 20
	DefaultThreads        = 1
	// MetricsOff as Config.MetricsAddr disables HAProxy's Prometheus
	// exporter.
	MetricsOff = "off"
	// HealthPath is the path of the proxy's own health endpoint, which
	// neighbours probe (the same as the embedded proxy's). It answers 200
	// while the local FaaS gateway passes its health checks, else 503.
	HealthPath = "/dfaas/healthz"
)

// longestSocket is the longest internal socket path under Dir.
const longestSocket = "/sock/retry-l.sock"

// maxSocketPath is the longest path a UNIX socket may have (sun_path less
// its terminating NUL).
const maxSocketPath = 107

// ErrConfig is wrapped by every error New and Config.Validate return for a
// bad Config.
var ErrConfig = errors.New("haproxy: invalid config")

// Config configures a Controller. Every field but GatewayURL has a useful
// zero value.
type Config struct {
	// Binary is the haproxy executable, used to start HAProxy (unless
	// Attach) and to check every configuration before it is used. If
	// empty, DefaultBinary looked up in PATH.
	Binary string
	// Dir is the work directory: the configuration file, the maps, the
	// internal sockets and HAProxy's log live there. It is created with
	// mode 0700 (the maps hold the neighbours' credentials). If empty, a
	// new temporary directory, removed by Close.
	Dir string
	// ConfigPath is the configuration file the controller writes and
	// HAProxy loads. If empty, Dir/haproxy.cfg.
	ConfigPath string
	// RuntimeSocket is the path of HAProxy's runtime API (stats) socket.
	// If empty, Dir/runtime.sock.
	RuntimeSocket string
	// MasterSocket is the path of the master CLI socket, used for
	// hitless reloads. If empty, Dir/master.sock.
	MasterSocket string
	// Attach makes New use an HAProxy already running in master-worker
	// mode with its master CLI on MasterSocket, loading ConfigPath
	// (started, for example, by systemd with "haproxy -W -S <MasterSocket>
	// -f <ConfigPath>"), instead of starting one. The controller rewrites
	// ConfigPath and reloads it through the master CLI on its first Apply.
	// Close then leaves the process running.
	Attach bool

	// ListenAddr is the public frontend's address, host:port (an empty
	// host means every address). If empty, DefaultListenAddr.
	ListenAddr string
	// Certificate is this node's data-plane certificate and key (see
	// peer/quic Key.DataCertificate). With it, neighbours send forwarded
	// requests to NodeListenAddr over mutual TLS 1.3: HAProxy accepts
	// exactly the certificates of the current neighbours
	// (proxyctl.Neighbour.Cert, a CA file replaced through the runtime
	// API as they join and leave), requires the certificate's name to be
	// the request's DFaaS-Node-ID, and refuses forwarded requests on
	// ListenAddr; this node forwards to https neighbour URLs only,
	// presenting it and accepting only the neighbour's certificate. Without
	// it forwarded requests travel as plain HTTP (a lab setting; see
	// docs/tls.md).
	Certificate *tls.Certificate
	// NodeListenAddr is the address of the node port, where neighbours'
	// forwarded requests arrive. If empty, DefaultNodeListenAddr with a
	// Certificate; without one, forwarded requests are taken on
	// ListenAddr.
	NodeListenAddr string
	// UserCertFile, if set, is a PEM file holding an operator's
	// certificate chain and private key: the user port (ListenAddr) then
	// serves TLS with it.
	UserCertFile string
	// MetricsAddr is the address of HAProxy's Prometheus exporter
	// (/metrics). If empty, DefaultMetricsAddr; MetricsOff disables it.
	MetricsAddr string
	// GatewayURL is the base URL of the local FaaS gateway, such as
	// http://127.0.0.1:8080 (required; http with an IP address or a host
	// name and a port, no path).
	GatewayURL string
	// GatewayHealthPath is the gateway's health endpoint. If empty,
	// DefaultGatewayHealth.
	GatewayHealthPath string

	// Slots is how many neighbours the configuration has room for; more
	// neighbours make the controller reload HAProxy with twice as many.
	// If zero, DefaultSlots.
	Slots int
	// ConnectTimeout bounds connecting to the gateway or a neighbour. If
	// zero, DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// ServerTimeout bounds waiting for a response from a function that
	// has no time-out of its own. If zero, DefaultServerTimeout.
	ServerTimeout time.Duration
	// QueueTimeout bounds how long a request waits in HAProxy's queue for
	// a function's concurrency slot (bursts and cold starts wait there
	// instead of failing). If zero, DefaultQueueTimeout.
	QueueTimeout time.Duration
	// ClientTimeout bounds client inactivity while a request or its
	// response is under way (HAProxy's timeout client). If zero,
	// DefaultClientTimeout.
	ClientTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection may stay idle
	// between requests (timeout http-keep-alive). If zero,
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HeaderTimeout bounds receiving a request's headers, the first
	// request of a connection included (timeout http-request); beyond it
	// the client gets 408. If zero, DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// RequestTimeout bounds receiving a request's body once its headers
	// are in (http-request wait-for-body): a request must arrive whole
	// within HeaderTimeout + RequestTimeout, else 408. HAProxy 2.6 applies
	// it to what fits its buffer (16 KiB); beyond that the body streams to
	// its target, bounded by ClientTimeout between bytes and by
	// MaxBodySize. If zero, DefaultRequestTimeout.
	RequestTimeout time.Duration
	// CheckInterval is the interval of health checks of the gateway and
	// of neighbours; a server is taken out of rotation after two failed
	// checks (or at once when a connection to it fails). If zero,
	// DefaultCheckInterval.
	CheckInterval time.Duration
	// StartTimeout bounds waiting for HAProxy to start or to reload. If
	// zero, DefaultStartTimeout.
	StartTimeout time.Duration
	// DrainTime is how long, before a reload, responses ask clients to
	// close their connections (so that no keep-alive connection is idle,
	// and closed under a client about to reuse it, when the old worker
	// stops). If zero, DefaultDrainTime; negative disables it.
	DrainTime time.Duration
	// MaxConn is HAProxy's global limit of concurrent connections; the
	// public frontend takes nine tenths of it (the rest is kept for the
	// internal retry listener and the metrics exporter). Connections
	// beyond it wait in the kernel's accept queue. If zero,
	// DefaultMaxConn.
	MaxConn int
	// MaxConnPerSource caps the concurrent connections to the public
	// frontend from one client address (an IPv6 client: its /64, the
	// prefix of one host), so that one address cannot starve the others:
	// beyond it a new connection is closed at once.
	// Neighbours' addresses are exempt. If zero, DefaultMaxConnPerSrc;
	// negative disables the cap.
	MaxConnPerSource int
	// MaxBodySize is the largest request body accepted, in bytes: a
	// larger Content-Length gets 413, and a body of unknown length
	// (chunked) 411, since HAProxy 2.6 cannot count a streamed body. If
	// zero, DefaultMaxBodySize; negative disables both checks.
	MaxBodySize int64
	// Threads is HAProxy's number of threads (nbthread). If zero,
	// DefaultThreads: one thread serves tens of thousands of requests per
	// second, and leaves the other cores of a small node to the functions.
	Threads int
	// ReloadEveryApply makes every Apply rewrite the configuration and
	// reload HAProxy, as the original prototype did, instead of using the
	// runtime API. It exists only to measure what that costs (dfaas
	// churn); never set it otherwise.
	ReloadEveryApply bool
	// Logger receives the controller's logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// Validate checks c and returns an error naming the first bad field.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// settings are a validated Config with its defaults filled in.
type settings struct {
	binary, dir, configPath, runtimeSocket, masterSocket string
	tempDir                                              bool
	attach                                               bool
	listen, metrics                                      string // HAProxy bind addresses; metrics "" when off
	nodeListen                                           string // "" when forwarded requests arrive on listen
	cert                                                 *tls.Certificate
	userCert                                             string
	gateway                                              string // HAProxy server address host:port
	gatewayHealth                                        string
	slots                                                int
	connect, server, queue, client, check, start, drain  time.Duration
	idle, header, request                                time.Duration
	maxConn, maxConnPerSrc, threads                      int
	maxBody                                              int64
	reloadEveryApply                                     bool
	log                                                  *slog.Logger
}

// resolve validates c and fills in the defaults. A temporary Dir is not
// created here: dir is "" and tempDir true.
func (c Config) resolve() (settings, error) {
	s := settings{
		binary:           or(c.Binary, DefaultBinary),
		attach:           c.Attach,
		gatewayHealth:    or(c.GatewayHealthPath, DefaultGatewayHealth),
		slots:            c.Slots,
		connect:          orDur(c.ConnectTimeout, DefaultConnectTimeout),
		server:           orDur(c.ServerTimeout, DefaultServerTimeout),
		queue:            orDur(c.QueueTimeout, DefaultQueueTimeout),
		client:           orDur(c.ClientTimeout, DefaultClientTimeout),
		check:            orDur(c.CheckInterval, DefaultCheckInterval),
		start:            orDur(c.StartTimeout, DefaultStartTimeout),
		drain:            orDur(c.DrainTime, DefaultDrainTime),
		idle:             orDur(c.IdleTimeout, DefaultIdleTimeout),
		header:           orDur(c.HeaderTimeout, DefaultHeaderTimeout),
		request:          orDur(c.RequestTimeout, DefaultRequestTimeout),
		maxConn:          orInt(c.MaxConn, DefaultMaxConn),
		maxConnPerSrc:    orInt(c.MaxConnPerSource, DefaultMaxConnPerSrc),
		threads:          orInt(c.Threads, DefaultThreads),
		maxBody:          c.MaxBodySize,
		reloadEveryApply: c.ReloadEveryApply,
		log:              c.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if c.Dir == "" {
		s.tempDir = true
	} else {
		d, err := filepath.Abs(c.Dir)
		if err != nil {
			return settings{}, bad("Dir", "%q: %v", c.Dir, err)
		}
		s.dir = d
		if len(d)+len(longestSocket) > maxSocketPath {
			return settings{}, bad("Dir", "%q is too long for UNIX socket paths (at most %d bytes)", c.Dir, maxSocketPath-len(longestSocket))
		}
	}
	for _, p := range []struct {
		field string
		v     string
		dst   *string
		def   string
	}{
		{"ConfigPath", c.ConfigPath, &s.configPath, "haproxy.cfg"},
		{"RuntimeSocket", c.RuntimeSocket, &s.runtimeSocket, "runtime.sock"},
		{"MasterSocket", c.MasterSocket, &s.masterSocket, "master.sock"},
	} {
		if p.v == "" {
			if s.dir != "" {
				*p.dst = filepath.Join(s.dir, p.def)
			}
			continue
		}
		abs, err := filepath.Abs(p.v)
		if err != nil {
			return settings{}, bad(p.field, "%q: %v", p.v, err)
		}
		*p.dst = abs
	}
	for _, p := range []struct{ field, v string }{{"Dir", s.dir}, {"ConfigPath", s.configPath}, {"RuntimeSocket", s.runtimeSocket}, {"MasterSocket", s.masterSocket}} {
		if p.field != "Dir" && p.field != "ConfigPath" && len(p.v) > maxSocketPath {
			return settings{}, bad(p.field, "%q is longer than %d bytes", p.v, maxSocketPath)
		}
		if !safePath(p.v) {
			return settings{}, bad(p.field, "%q has a space, a control character or one of \"'\\#$%%", p.v)
		}
	}
	if c.Attach && c.Dir == "" {
		return settings{}, bad("Dir", "required with Attach (the running HAProxy loads files from it)")
	}
	var err error
	if s.listen, err = bindAddr(or(c.ListenAddr, DefaultListenAddr)); err != nil {
		return settings{}, bad("ListenAddr", "%v", err)
	}
	if err := c.resolveTLS(&s); err != nil {
		return settings{}, err
	}
	if c.MetricsAddr != MetricsOff {
		if s.metrics, err = bindAddr(or(c.MetricsAddr, DefaultMetricsAddr)); err != nil {
			return settings{}, bad("MetricsAddr", "%v", err)
		}
	}
	if c.GatewayURL == "" {
		return settings{}, bad("GatewayURL", "required")
	}
	if s.gateway, err = serverAddr(c.GatewayURL); err != nil {
		return settings{}, bad("GatewayURL", "%v", err)
	}
	if p := s.gatewayHealth; p[0] != '/' || !safePath(p) {
		return settings{}, bad("GatewayHealthPath", "%q is not an absolute path of visible ASCII characters", p)
	}
	switch {
	case s.slots < 0 || s.slots > maxSlots:
		return settings{}, bad("Slots", "%d is not between 0 and %d", s.slots, maxSlots)
	case s.slots == 0:
		s.slots = DefaultSlots
	}
	if err := c.checkDurations(); err != nil {
		return settings{}, err
	}
	if err := s.checkLimits(); err != nil {
		return settings{}, err
	}
	return s, nil
}

// resolveTLS checks the node port's and the user port's TLS settings.
func (c Config) resolveTLS(s *settings) error {
	var err error
	if c.Certificate != nil {
		if err := nodetls.CheckOwn(c.Certificate, time.Now()); err != nil {
			return bad("Certificate", "%v", err)
		}
		cert := *c.Certificate
		s.cert = &cert
	}
	node := c.NodeListenAddr
	if node == "" && s.cert != nil {
		node = DefaultNodeListenAddr
	}
	if node != "" {
		if s.nodeListen, err = bindAddr(node); err != nil {
			return bad("NodeListenAddr", "%v", err)
		}
		if s.nodeListen == s.listen {
			return bad("NodeListenAddr", "%q is also ListenAddr", node)
		}
	}
	if c.UserCertFile != "" {
		abs, err := filepath.Abs(c.UserCertFile)
		if err != nil || !safePath(abs) {
			return bad("UserCertFile", "%q is not a usable path", c.UserCertFile)
		}
		s.userCert = abs
	}
	return nil
}

// checkDurations checks that the time-outs are not negative, and at least
// a millisecond when set.
func (c Config) checkDurations() error {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"ConnectTimeout", c.ConnectTimeout}, {"ServerTimeout", c.ServerTimeout}, {"QueueTimeout", c.QueueTimeout},
		{"ClientTimeout", c.ClientTimeout}, {"CheckInterval", c.CheckInterval}, {"StartTimeout", c.StartTimeout},
		{"IdleTimeout", c.IdleTimeout}, {"HeaderTimeout", c.HeaderTimeout}, {"RequestTimeout", c.RequestTimeout},
	} {
		if d.v < 0 {
			return bad(d.field, "negative (%v)", d.v)
		}
		if d.v > 0 && d.v < time.Millisecond {
			return bad(d.field, "%v is shorter than 1ms", d.v)
		}
	}
	return nil
}

// checkLimits checks the limits and gives the zero values of MaxBodySize
// and MaxConnPerSource their meaning.
func (s *settings) checkLimits() error {
	if s.maxConn < 0 || s.maxConn > maxMaxConn {
		return bad("MaxConn", "%d is not between 0 and %d", s.maxConn, maxMaxConn)
	}
	if s.threads < 0 || s.threads > 64 {
		return bad("Threads", "%d is not between 0 and 64 (HAProxy's limit)", s.threads)
	}
	switch {
	case s.maxBody == 0:
		s.maxBody = DefaultMaxBodySize
	case s.maxBody < 0:
		s.maxBody = 0 // no limit
	}
	if s.maxConnPerSrc < 0 {
		s.maxConnPerSrc = 0 // no cap
	}
	return nil
}

func bad(field, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...))
}

// maxSlots bounds the neighbour slots of a configuration.
const maxSlots = 4096

// maxMaxConn bounds Config.MaxConn.
const maxMaxConn = 1 << 20

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// bindAddr turns host:port into an HAProxy bind address.
func bindAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port: %v", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, port)
	}
	if host == "" {
		return ":" + port, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%q: host %q is not an IP address", addr, host)
	}
	if ip.Is6() && !ip.Is4In6() {
		return "ipv6@" + ip.String() + ":" + port, nil
	}
	return ip.Unmap().String() + ":" + port, nil
}

// serverAddr turns the base URL of an HTTP server into an HAProxy server
// address host:port. Host names are resolved by HAProxy when it loads the
// configuration.
func serverAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("%q: scheme %q is not supported (only http)", raw, u.Scheme)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: a base URL has no path, query, fragment or user", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", raw, port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is6() && !ip.Is4In6() {
			return "ipv6@" + ip.String() + ":" + port, nil
		}
		return ip.Unmap().String() + ":" + port, nil
	}
	if !validHostName(host) {
		return "", fmt.Errorf("%q: %q is neither an IP address nor a host name", raw, host)
	}
	return host + ":" + port, nil
}

// validHostName reports whether h is a DNS host name (letters, digits,
// hyphens and dots).
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// safePath reports whether p can be written unquoted in the configuration.
func safePath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' || c == '#' || c == '$' || c == '%' {
			return false
		}
	}
	return true
}
