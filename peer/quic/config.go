package quic

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// Config configures a Transport. Key and Listen are required; every other
// field has a documented zero-value default.
type Config struct {
	// Listen is the local UDP address, HOST:PORT (port 0 picks a free
	// one). The same socket is used to dial, so peers see a stable
	// address.
	Listen string
	// Key is this node's key; the node ID is Key.ID().
	Key *Key

	// Members, if not empty, lists the node IDs admitted to the
	// federation.
	Members []peer.ID
	// Federation, if not empty, lists the IDs of federation keys: a peer
	// presenting a certificate issued by one of them (IssueCertificate),
	// valid now, is admitted.
	//
	// A peer is admitted if it is in Members or holds such a certificate.
	// With neither Members nor Federation set, any peer that proves its
	// key is admitted: a lab setting, logged as such by Listen.
	Federation []peer.ID
	// Certificate is this node's certificate issued by a federation key
	// (DER, see ParseCertificate and LoadCertificate); it must carry Key.
	// If nil, the node presents a self-signed certificate.
	Certificate []byte

	// Bootstrap lists peers to connect to at start; they are redialled
	// with backoff while unreachable and never expire. The other members
	// are learnt from the peers.
	Bootstrap []Addr
	// MaxPeers bounds the number of known peers, verified or not. If
	// zero, 1024. A peer that completes a handshake takes the slot of a
	// gossiped peer not yet verified when the table is full; verified
	// peers are never displaced.
	MaxPeers int
	// UnverifiedPerPeer bounds the gossiped peers that one member can make
	// this node hold before they prove their identity (by a handshake);
	// further entries from that member are ignored until some of these
	// are verified or dropped. If zero, 32.
	UnverifiedPerPeer int
	// UnverifiedDials is how many times a gossiped peer, or a gossiped new
	// address of a known peer, is dialled before it is dropped. It also
	// bounds the dials to any one gossiped address, whoever names it:
	// UnverifiedDials at first, then one per ExpireAfter. If zero, 3.
	UnverifiedDials int

	// MaxMessageSize is the largest message Send accepts and Recv
	// delivers. If zero, DefaultMaxMessageSize (which equals the agent's
	// dfaas.DefaultMaxMessageSize).
	MaxMessageSize int
	// Buffer is the capacity of the Recv channel; when it is full,
	// incoming messages are dropped and counted. If zero, 1024.
	Buffer int
	// RateMessages is the number of messages per second each peer may
	// send this node (bucket refill rate); RateBurst the bucket size.
	// Messages over the limit are dropped and counted. If zero, 100 and
	// 200.
	RateMessages float64
	RateBurst    int
	// RateBytes limits the message bytes per second each peer may send;
	// the burst is RateBytes or twice MaxMessageSize, whichever is larger.
	// If zero, 4 MiB/s.
	RateBytes float64

	// PingInterval is how often a ping is sent on each connection; pings
	// carry a digest of the sender's member list and keep the RTT
	// estimate fresh. If zero, 1s.
	PingInterval time.Duration
	// DownAfter is how long a peer may stay silent before it is declared
	// down and its connection closed. If zero, 5 × PingInterval.
	DownAfter time.Duration
	// ExpireAfter is how long a peer that is down and not a bootstrap
	// peer stays known (and redialled) before it is forgotten. If zero,
	// 1 minute.
	ExpireAfter time.Duration
	// HandshakeTimeout bounds a dial, from the first packet to the hello
	// exchange. If zero, 5s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds a Send whose context has no deadline, and every
	// control-frame write. If zero, 10s.
	WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before redialling a peer;
	// it doubles after each failure, with ±20% jitter. If zero, 250ms and
	// 10s. The same delays damp a peer whose connections keep ending
	// before DownAfter (a reconnect loop): after two such connections in a
	// row, both ends wait MinBackoff, doubling with each further one up to
	// MaxBackoff, before they dial it or accept it again.
	MinBackoff, MaxBackoff time.Duration
	// GossipInterval is the least time between two member lists sent to
	// the same peer when their views differ. If zero, 2s.
	GossipInterval time.Duration

	// Logger receives the transport's logs. If nil, logs are discarded.
	Logger *slog.Logger
	// LogInterval is the window of the log limiter: of each kind of
	// record that can repeat (refused handshakes, a peer going up and
	// down, dropped gossip), the first 5 in a window are logged as they
	// come and the rest summarised in one line at the end of the window,
	// with their count. If zero, 10s.
	LogInterval time.Duration
}

// DefaultMaxMessageSize is the default limit on a message.
const DefaultMaxMessageSize = 256 << 10

// ErrConfig is wrapped by every error Listen returns for a bad Config.
var ErrConfig = errors.New("peer/quic: invalid config")

// settings is a validated Config with defaults applied.
type settings struct {
	Config
	members    map[peer.ID]bool
	federation []ed25519.PublicKey
	cert       *x509.Certificate // Certificate, parsed
}

func (c Config) settings() (settings, error) {
	bad := func(field, format string, a ...any) (settings, error) {
		return settings{}, fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...))
	}
	s := settings{Config: c}
	if c.Key == nil {
		return bad("Key", "required")
	}
	if c.Listen == "" {
		return bad("Listen", "required (HOST:PORT)")
	}
	for i, id := range c.Members {
		if _, err := PublicKeyFromID(id); err != nil {
			return bad("Members", "entry %d: %v", i, err)
		}
		if s.members == nil {
			s.members = map[peer.ID]bool{}
		}
		s.members[id] = true
	}
	for i, id := range c.Federation {
		pub, err := PublicKeyFromID(id)
		if err != nil {
			return bad("Federation", "entry %d: %v", i, err)
		}
		s.federation = append(s.federation, pub)
	}
	if c.Certificate != nil {
		cert, err := x509.ParseCertificate(c.Certificate)
		if err != nil {
			return bad("Certificate", "%v", err)
		}
		pub, ok := cert.PublicKey.(ed25519.PublicKey)
		if !ok || !pub.Equal(c.Key.Public()) {
			return bad("Certificate", "does not carry the key of %s", c.Key.ID())
		}
		s.cert = cert
	}
	for i, a := range c.Bootstrap {
		if _, err := PublicKeyFromID(a.ID); err != nil {
			return bad("Bootstrap", "entry %d: %v", i, err)
		}
		if _, err := checkHostPort(a.HostPort); err != nil {
			return bad("Bootstrap", "entry %d: %v", i, err)
		}
	}
	if err := s.defaults(); err != nil {
		return settings{}, err
	}
	return s, nil
}

// open reports whether no membership is configured (the lab setting).
func (s *settings) open() bool { return len(s.members) == 0 && len(s.federation) == 0 }

// defaults validates the timers and limits and applies their defaults.
func (s *settings) defaults() error {
	type dur struct {
		name string
		p    *time.Duration
		def  time.Duration
	}
	if s.PingInterval == 0 {
		s.PingInterval = time.Second
	}
	for _, d := range []dur{
		{"PingInterval", &s.PingInterval, time.Second},
		{"DownAfter", &s.DownAfter, 5 * s.PingInterval},
		{"ExpireAfter", &s.ExpireAfter, time.Minute},
		{"HandshakeTimeout", &s.HandshakeTimeout, 5 * time.Second},
		{"WriteTimeout", &s.WriteTimeout, 10 * time.Second},
		{"MinBackoff", &s.MinBackoff, 250 * time.Millisecond},
		{"MaxBackoff", &s.MaxBackoff, 10 * time.Second},
		{"GossipInterval", &s.GossipInterval, 2 * time.Second},
		{"LogInterval", &s.LogInterval, 10 * time.Second},
	} {
		if *d.p < 0 {
			return configError(d.name, "negative (%v)", *d.p)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	switch {
	case s.PingInterval < 10*time.Millisecond:
		return configError("PingInterval", "%v is shorter than 10ms", s.PingInterval)
	case s.DownAfter < 2*s.PingInterval:
		return configError("DownAfter", "%v is shorter than two ping intervals (%v)", s.DownAfter, 2*s.PingInterval)
	case s.MaxBackoff < s.MinBackoff:
		return configError("MaxBackoff", "%v is shorter than MinBackoff %v", s.MaxBackoff, s.MinBackoff)
	}
	ints := []struct {
		name string
		p    *int
		def  int
	}{
		{"MaxPeers", &s.MaxPeers, 1024},
		{"UnverifiedPerPeer", &s.UnverifiedPerPeer, 32},
		{"UnverifiedDials", &s.UnverifiedDials, 3},
		{"MaxMessageSize", &s.MaxMessageSize, DefaultMaxMessageSize},
		{"Buffer", &s.Buffer, 1024},
		{"RateBurst", &s.RateBurst, 200},
	}
	for _, i := range ints {
		if *i.p < 0 {
			return configError(i.name, "negative (%d)", *i.p)
		}
		if *i.p == 0 {
			*i.p = i.def
		}
	}
	if s.MaxMessageSize > 64<<20 {
		return configError("MaxMessageSize", "%d is over the 64 MiB limit", s.MaxMessageSize)
	}
	if s.RateMessages < 0 || s.RateBytes < 0 {
		return configError("RateMessages", "negative rate")
	}
	if s.RateMessages == 0 {
		s.RateMessages = 100
	}
	if s.RateBytes == 0 {
		s.RateBytes = 4 << 20
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// configError returns an error wrapping ErrConfig that names the field.
func configError(field, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...))
}
