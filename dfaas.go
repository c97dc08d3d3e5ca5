package dfaas

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// Config assembles a node from its parts. The five interface fields are
// required: New never substitutes an in-memory implementation for a
// missing one. Every other field has a documented zero-value default.
type Config struct {
	// Strategy decides the routing every period.
	Strategy strategy.Strategy
	// Proxy applies the decisions.
	Proxy proxyctl.Controller
	// FaaS lists the local functions.
	FaaS faas.Backend
	// Metrics observes rates and resource usage.
	Metrics metricsrc.Source
	// Peers carries messages to and from the other nodes. The node's ID
	// is Peers.LocalID().
	Peers peer.Transport

	// ProxyURL is the base URL at which neighbours reach this node's
	// proxy (http or https), announced to the peers: its node port.
	ProxyURL string
	// DataCert is this node's data-plane certificate (DER, see peer/quic
	// Key.DataCertificate), announced to the peers with ProxyURL, which
	// must then be https: their proxies accept this node's forwarded
	// requests only over mutual TLS with it. Nil (with an http ProxyURL)
	// makes the node-to-node path plain HTTP, a lab setting. See
	// docs/tls.md.
	DataCert []byte
	// CheckDataCert checks that a certificate a peer announced is that
	// peer's (for peer/quic: quic.CheckDataCertificate); a message with a
	// certificate it refuses is dropped. Required with DataCert.
	CheckDataCert func(from peer.ID, cert []byte) error

	// Period is the control period. If zero, 5s.
	Period time.Duration
	// NeighbourExpiry is how long a neighbour's announcement stays valid.
	// If zero, 3 periods.
	NeighbourExpiry time.Duration
	// Advisor, if not nil, is consulted before each decision; its answer
	// reaches the strategy as Snapshot.Advice (see strategy.Advisor).
	Advisor strategy.Advisor
	// AdviceTimeout bounds each call to Advisor. If zero, half the period.
	AdviceTimeout time.Duration
	// ApplyTimeout bounds each Proxy.Apply. If zero, the period or
	// DefaultApplyTimeout, whichever is longer: a proxy whose shape
	// changes (HAProxy checks its configuration and reloads) may need
	// more than a short period, above all on a busy node, and an Apply cut
	// short every cycle would never take effect.
	ApplyTimeout time.Duration
	// Forecaster makes one forecaster per function for its offered rate.
	// If nil, the snapshot's Forecast equals the observed rate.
	Forecaster forecast.Factory
	// Nearest, if positive, limits the data network to the Nearest peers
	// by RTT: only they may receive forwarded requests. The control
	// network (announcements) stays all-to-all.
	Nearest int
	// MaxRTT, if positive, excludes from the data network the peers whose
	// measured RTT exceeds it.
	MaxRTT time.Duration
	// Bootstrap lists peers to announce to besides those the transport's
	// peer.Directory reports and those heard from.
	Bootstrap []peer.ID
	// MaxMessageSize limits an incoming peer message. If zero,
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// Seed seeds the strategy's randomness (a new seed per cycle is
	// derived from it).
	Seed uint64
	// Incarnation identifies this run of the node to its peers; a node
	// that restarts with the same identity must use a larger one, so that
	// its peers take it as restarted instead of dropping its messages as
	// stale. If zero, the time New is called, in nanoseconds since the
	// Unix epoch.
	Incarnation uint64
	// CredentialRotation is how often the credential each neighbour
	// presents when forwarding here is replaced (the previous one stays
	// valid for the neighbour expiry). If zero, 6 periods; at least the
	// neighbour expiry.
	CredentialRotation time.Duration
	// IdlePeriods is how many measured periods without offered load make
	// a function's forecast exactly 0. If zero,
	// control.DefaultIdlePeriods.
	IdlePeriods int
	// Trust bounds the share of this node's traffic any one neighbour
	// receives by what its answers support (see control.Trust; the zero
	// value gives its defaults).
	Trust control.Trust
	// QueueDepth bounds the queue of each local function: the proxy lets
	// at most ⌈QueueDepth × concurrency⌉ requests wait for its
	// concurrency slots and refuses one more at once (429, DFaaS-Rejected:
	// queue-full; proxyctl.Function.MaxQueue), so that the latency of what
	// is served stays bounded under overload. If zero,
	// proxyctl.DefaultQueueDepth; negative means no cap (requests wait for
	// the proxy's queue time-out). A function whose concurrency the FaaS
	// platform does not report has no cap.
	QueueDepth float64
	// Logger receives the node's logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Registerer, if not nil, receives the node's Prometheus metrics.
	Registerer prometheus.Registerer
}

// Errors returned by the node.
var (
	// ErrClosed is returned by Step and Run after Close.
	ErrClosed = errors.New("dfaas: node closed")
	// ErrConfig is wrapped by every error New returns for a bad Config.
	ErrConfig = errors.New("dfaas: invalid config")
)

// Default values of Config fields.
const (
	DefaultPeriod       = 5 * time.Second
	DefaultApplyTimeout = 10 * time.Second
)

// Validate checks c and returns an error naming the first bad field.
func (c Config) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...))
	}
	switch {
	case c.Strategy == nil:
		return bad("Strategy", "required")
	case c.Proxy == nil:
		return bad("Proxy", "required")
	case c.FaaS == nil:
		return bad("FaaS", "required")
	case c.Metrics == nil:
		return bad("Metrics", "required")
	case c.Peers == nil:
		return bad("Peers", "required")
	}
	if c.Peers.LocalID() == "" {
		return bad("Peers", "transport has an empty local ID")
	}
	u, err := url.Parse(c.ProxyURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("ProxyURL", "%q is not an http(s) URL with a host", c.ProxyURL)
	}
	if err := c.validateDataTLS(u.Scheme); err != nil {
		return err
	}
	if c.Period < 0 {
		return bad("Period", "negative (%v)", c.Period)
	}
	if c.Period > 0 && c.Period < 10*time.Millisecond {
		return bad("Period", "%v is shorter than 10ms", c.Period)
	}
	if c.NeighbourExpiry < 0 {
		return bad("NeighbourExpiry", "negative (%v)", c.NeighbourExpiry)
	}
	if c.NeighbourExpiry > 0 && c.NeighbourExpiry < c.period() {
		return bad("NeighbourExpiry", "%v is shorter than the period %v", c.NeighbourExpiry, c.period())
	}
	if c.AdviceTimeout < 0 {
		return bad("AdviceTimeout", "negative (%v)", c.AdviceTimeout)
	}
	if c.ApplyTimeout < 0 {
		return bad("ApplyTimeout", "negative (%v)", c.ApplyTimeout)
	}
	if c.Nearest < 0 {
		return bad("Nearest", "negative (%d)", c.Nearest)
	}
	if c.MaxRTT < 0 {
		return bad("MaxRTT", "negative (%v)", c.MaxRTT)
	}
	if c.MaxMessageSize < 0 {
		return bad("MaxMessageSize", "negative (%d)", c.MaxMessageSize)
	}
	if c.CredentialRotation < 0 {
		return bad("CredentialRotation", "negative (%v)", c.CredentialRotation)
	}
	if c.CredentialRotation > 0 && c.CredentialRotation < c.expiry() {
		return bad("CredentialRotation", "%v is shorter than the neighbour expiry %v", c.CredentialRotation, c.expiry())
	}
	if c.IdlePeriods < 0 {
		return bad("IdlePeriods", "negative (%d)", c.IdlePeriods)
	}
	if math.IsNaN(c.QueueDepth) || math.IsInf(c.QueueDepth, 0) {
		return bad("QueueDepth", "%v is not a number", c.QueueDepth)
	}
	for i, id := range c.Bootstrap {
		if id == "" {
			return bad("Bootstrap", "entry %d is empty", i)
		}
	}
	if v, ok := c.Strategy.(strategy.Validator); ok {
		if err := v.Validate(); err != nil {
			return bad("Strategy", "%v", err)
		}
	}
	return nil
}

func (c Config) period() time.Duration {
	if c.Period == 0 {
		return DefaultPeriod
	}
	return c.Period
}

// applyTimeout bounds each Proxy.Apply: ApplyTimeout, or the period or
// DefaultApplyTimeout, whichever is longer.
func (c Config) applyTimeout() time.Duration {
	return cmp.Or(c.ApplyTimeout, max(c.period(), DefaultApplyTimeout))
}

func (c Config) credentialRotation() time.Duration {
	if c.CredentialRotation == 0 {
		return max(6*c.period(), c.expiry())
	}
	return c.CredentialRotation
}

func (c Config) maxMessageSize() int {
	if c.MaxMessageSize == 0 {
		return DefaultMaxMessageSize
	}
	return c.MaxMessageSize
}

func (c Config) expiry() time.Duration {
	if c.NeighbourExpiry == 0 {
		return 3 * c.period()
	}
	return c.NeighbourExpiry
}
