package quic

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/dfaas-go/dfaas/internal/lograte"
	"github.com/dfaas-go/dfaas/peer"
)

// Reasons an incoming message or frame is dropped, as counted in
// Stats.Dropped.
const (
	DropOversize  = "oversize"  // a frame over its size limit
	DropMalformed = "malformed" // a frame that does not decode
	DropVersion   = "version"   // an unknown protocol version or frame type
	DropRate      = "rate"      // over the peer's rate limit
	DropFull      = "full"      // the Recv channel was full
	DropExpired   = "expired"   // from a peer whose federation certificate expired
)

// Reasons a connection is refused, as counted in Stats.Rejected.
const (
	RejectBadCertificate = "bad_certificate" // no certificate, or not an Ed25519 one
	RejectNotMember      = "not_member"      // a valid key outside the membership
	RejectSelf           = "self"            // a peer with this node's own key
	RejectIDMismatch     = "id_mismatch"     // a dialled peer proved another ID than expected
	RejectTooMany        = "too_many_peers"  // MaxPeers reached
	RejectHandshake      = "handshake"       // the hello exchange failed or timed out
	// RejectExpired counts handshakes refused, and live connections
	// closed, because the peer's federation certificate is not valid now
	// (expired, or not yet valid).
	RejectExpired = "expired"
	// RejectReconnect counts attempts refused from a peer reconnecting in
	// a loop, while it must wait (see Config.MinBackoff): by its address,
	// once per QUIC Initial packet (a ClientHello may span two), or by its
	// ID at the handshake.
	RejectReconnect = "reconnect_rate"
)

// dropReasons returns the Drop* reasons, in the order of the counters.
func dropReasons() []string {
	return []string{DropOversize, DropMalformed, DropVersion, DropRate, DropFull, DropExpired}
}

// rejectReasons returns the Reject* reasons, in the order of the counters.
func rejectReasons() []string {
	return []string{RejectBadCertificate, RejectNotMember, RejectSelf, RejectIDMismatch, RejectTooMany, RejectHandshake, RejectExpired, RejectReconnect}
}

// QUIC application error codes used when closing connections and streams.
const (
	codeClosing   quicgo.ApplicationErrorCode = 0
	codeDuplicate quicgo.ApplicationErrorCode = 1
	codeSilent    quicgo.ApplicationErrorCode = 2
	codeProtocol  quicgo.ApplicationErrorCode = 3
	codeRefused   quicgo.ApplicationErrorCode = 4
	codeExpired   quicgo.ApplicationErrorCode = 5

	streamCodeCancelled quicgo.StreamErrorCode = 1
	streamCodeRejected  quicgo.StreamErrorCode = 2
)

// errDuplicate is the outcome of a dial that the peer refused because it
// kept the connection it dialled at the same time.
var errDuplicate = errors.New("peer kept another connection")

// maxDialsInFlight bounds the connection attempts a transport makes at
// once.
const maxDialsInFlight = 8

// maxIncomingUniStreams bounds the messages a peer may have in flight to
// this node at once.
const maxIncomingUniStreams = 32

// Transport is a peer.Transport and peer.Directory over QUIC with mutual
// TLS from Ed25519 node keys. It keeps one connection per peer, learns the
// federation's members from its peers, redials lost peers with backoff,
// declares silent peers down, and measures the RTT to each peer.
//
// Listen starts its goroutines; Close stops them and waits for them.
type Transport struct {
	s     settings
	id    peer.ID
	log   *slog.Logger
	lim   *lograte.Limiter // for every record an outsider or a peer can repeat
	udp   *net.UDPConn
	qt    *quicgo.Transport
	ln    *quicgo.Listener
	qconf *quicgo.Config
	cert  tls.Certificate
	recv  chan peer.Message

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu          sync.Mutex
	closed      bool
	members     map[peer.ID]*member
	byKey       map[[ed25519.PublicKeySize]byte]*member
	upSeq       uint64 // counts peers coming up; see member.upSeq
	digest      uint64
	digestDirty bool
	unverified  int                // members holding a claim (see member.claimBy)
	addrDials   map[string]*bucket // dials left to each gossiped address
	quietAddrs  map[string]time.Time
	lastFlush   time.Time // of the log limiter, by maintain
	ownUntil    time.Time // this node's federation certificate's NotAfter
	ownExpired  bool      // its expiry was logged

	sent, received     atomic.Uint64
	dials, dialsFailed atomic.Uint64
	dropped            [6]atomic.Uint64
	rejected           [8]atomic.Uint64
	gossipIgnored      atomic.Uint64
	connects           atomic.Uint64
	gossipDropped      atomic.Uint64
	closedBytesSent    atomic.Uint64
	closedBytesRecv    atomic.Uint64
}

// member is a known peer. Its fields are guarded by Transport.mu.
type member struct {
	id        peer.ID
	key       [ed25519.PublicKeySize]byte
	upSeq     uint64 // Transport.upSeq when it last came up
	hostPort  string
	bootstrap bool
	conn      *conn
	dialing   bool
	failures  int
	nextDial  time.Time
	since     time.Time // learnt, or last went down: the basis for expiry
	lastSeen  time.Time // of the last closed connection
	rtt       time.Duration
	msgs      bucket
	bytes     bucket

	// Trust (see gossip.go). A member is verified once a connection
	// with it was established; hostPort is then verifiedAddr unless
	// another member claims it moved.
	verified     bool
	verifiedAddr string  // the address of its last connection, or its bootstrap address
	claimBy      peer.ID // the member that named hostPort, while hostPort is unverified
	claimDials   int     // dials made to hostPort while unverified
	introduced   int     // claims this member made that are held now
	introBudget  bucket  // dials this member can make this node make to unverified addresses

	// Reconnect damping (see reconnect.go).
	flaps      int       // connections in a row that ended before DownAfter
	flapAt     time.Time // when the last of them ended
	quietUntil time.Time // its handshakes are refused until then
	quietAddr  string    // the address of its last connection, in Transport.quietAddrs
}

// addMember adds a peer with a valid ID to the known ones. t.mu must be
// held.
func (t *Transport) addMember(id peer.ID, hostPort string, now time.Time) *member {
	m := &member{id: id, hostPort: hostPort, since: now, nextDial: now}
	pub, _ := PublicKeyFromID(id)
	copy(m.key[:], pub)
	m.msgs.init(t.s.RateMessages, float64(t.s.RateBurst))
	m.bytes.init(t.s.RateBytes, max(t.s.RateBytes, 2*float64(t.s.MaxMessageSize)))
	m.introBudget.init(introDialRate, float64(t.s.UnverifiedPerPeer))
	t.members[id] = m
	t.byKey[m.key] = m
	return m
}

// listed reports whether Peers lists m: a peer is listed once verified
// (or configured as a bootstrap peer), never on another member's word
// alone.
func (m *member) listed() bool { return m.verified || m.bootstrap }

// Listen opens the UDP socket, starts accepting peers and dialling the
// bootstrap peers, and returns at once: an unreachable bootstrap peer
// never delays it.
func Listen(cfg Config) (*Transport, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	uaddr, err := net.ResolveUDPAddr("udp", s.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: Listen: %v", ErrConfig, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return nil, fmt.Errorf("peer/quic: listen: %w", err)
	}
	der := s.Certificate
	if der == nil {
		if der, err = selfSigned(s.Key); err != nil {
			udp.Close()
			return nil, fmt.Errorf("peer/quic: certificate: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		s:          s,
		id:         s.Key.ID(),
		udp:        udp,
		cert:       tls.Certificate{Certificate: [][]byte{der}, PrivateKey: s.Key.priv},
		recv:       make(chan peer.Message, s.Buffer),
		ctx:        ctx,
		cancel:     cancel,
		members:    map[peer.ID]*member{},
		byKey:      map[[ed25519.PublicKeySize]byte]*member{},
		addrDials:  map[string]*bucket{},
		quietAddrs: map[string]time.Time{},
	}
	t.log = s.Logger.With("node", string(t.id))
	t.lim = lograte.New(t.log, lograte.Options{Interval: s.LogInterval, MaxKinds: 4*s.MaxPeers + 64})
	// A stateless reset key derived from the node key lets a restarted
	// node reset its peers' stale connections at once.
	seed := sha256.Sum256(append([]byte("dfaas-peer stateless reset\x00"), s.Key.priv.Seed()...))
	srk := quicgo.StatelessResetKey(seed)
	t.qt = &quicgo.Transport{Conn: udp, StatelessResetKey: &srk}
	t.qconf = &quicgo.Config{
		HandshakeIdleTimeout:  s.HandshakeTimeout,
		MaxIdleTimeout:        s.DownAfter + s.PingInterval,
		MaxIncomingStreams:    1,
		MaxIncomingUniStreams: maxIncomingUniStreams,
	}
	t.ln, err = t.qt.Listen(t.serverTLS(), t.serverConfig())
	if err != nil {
		t.qt.Close()
		udp.Close()
		cancel()
		return nil, fmt.Errorf("peer/quic: listen: %w", err)
	}
	t.start(time.Now())
	return t, nil
}

// start adds the bootstrap peers, logs the settings an operator should
// know of and starts the goroutines.
func (t *Transport) start(now time.Time) {
	// The listener is open: handshakes may already consult the members.
	t.mu.Lock()
	for _, a := range t.s.Bootstrap {
		if a.ID == t.id {
			t.log.Debug("bootstrap entry is this node; skipped", "addr", a.String())
			continue
		}
		m := t.addMember(a.ID, a.HostPort, now)
		m.bootstrap, m.verifiedAddr = true, a.HostPort
	}
	t.digestDirty = true
	if t.s.cert != nil && len(t.s.federation) > 0 {
		t.ownUntil = t.s.cert.NotAfter
	}
	t.mu.Unlock()
	if t.s.open() {
		t.log.Warn("peer/quic: no membership configured: any peer that proves its key is accepted (lab setting)")
	}
	if t.s.cert != nil && len(t.s.federation) > 0 {
		if now.Before(t.s.cert.NotBefore) {
			t.log.Warn("this node's federation certificate is not valid yet: federation peers refuse it until then",
				"not_before", t.s.cert.NotBefore)
		}
		t.checkOwnCertificate(now)
	}
	t.log.Info("peer transport listening", "addr", t.Self().String(), "bootstrap", len(t.s.Bootstrap))
	t.wg.Go(t.acceptLoop)
	t.wg.Go(t.maintain)
}

// LocalID implements peer.Transport.
func (t *Transport) LocalID() peer.ID { return t.id }

// Addr returns the local UDP address.
func (t *Transport) Addr() net.Addr { return t.udp.LocalAddr() }

// Self returns this node's address, quic://HOST:PORT/ID, with the local
// socket's address (which is not dialable if it is a wildcard).
func (t *Transport) Self() Addr { return Addr{HostPort: t.udp.LocalAddr().String(), ID: t.id} }

// Recv implements peer.Transport.
func (t *Transport) Recv() <-chan peer.Message { return t.recv }

// Send implements peer.Transport. Each message travels on a stream of its
// own; Send returns once the message is handed to QUIC, or with an error
// when ctx ends (or, without a deadline, after WriteTimeout) while the
// peer's flow control holds it back. A peer with no connection now (or
// whose federation certificate has expired) gives an error wrapping
// peer.ErrUnknownPeer at once.
func (t *Transport) Send(ctx context.Context, to peer.ID, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	closed := t.closed
	var c *conn
	if m := t.members[to]; m != nil {
		c = m.up(time.Now())
	}
	t.mu.Unlock()
	switch {
	case closed:
		return peer.ErrClosed
	case len(data) > t.s.MaxMessageSize:
		return fmt.Errorf("%w: %d bytes, limit %d", peer.ErrTooLarge, len(data), t.s.MaxMessageSize)
	case to == t.id:
		return fmt.Errorf("%w %q: this node", peer.ErrUnknownPeer, to)
	case c == nil:
		return fmt.Errorf("%w %q: not connected", peer.ErrUnknownPeer, to)
	case len(data) > c.peerMax:
		return fmt.Errorf("%w: %d bytes, the peer's limit is %d", peer.ErrTooLarge, len(data), c.peerMax)
	}
	dl := time.Now().Add(t.s.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	octx, cancel := context.WithDeadline(ctx, dl)
	defer cancel()
	str, err := c.qc.OpenUniStreamSync(octx)
	if err != nil {
		return fmt.Errorf("peer/quic: send to %s: %w", to, err)
	}
	str.SetWriteDeadline(dl)
	stop := context.AfterFunc(octx, func() { str.SetWriteDeadline(time.Unix(1, 0)) })
	buf := appendFrame(make([]byte, 0, frameHeaderLen+len(data)), frameData, data)
	_, err = str.Write(buf)
	stop()
	if err != nil {
		str.CancelWrite(streamCodeCancelled)
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("peer/quic: send to %s: %w", to, err)
	}
	str.Close()
	t.sent.Add(1)
	return nil
}

// Peers implements peer.Directory: every known peer, up or not, sorted by
// ID. A peer is known once it has proved its identity in a handshake (or
// is a bootstrap peer): peers that members gossiped but that were not
// reached yet are not listed. A peer whose federation certificate expired
// is down from that instant. RTT is QUIC's smoothed RTT estimate (RFC
// 9002) of the current connection, or of the last one while the peer is
// down.
func (t *Transport) Peers() []peer.Info {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]peer.Info, 0, len(t.members))
	for _, m := range t.members {
		if !m.listed() {
			continue
		}
		in := peer.Info{ID: m.id, Addr: "quic://" + m.hostPort, RTT: m.rtt, LastSeen: m.lastSeen}
		if c := m.up(now); c != nil {
			in.Up = true
			in.RTT = c.qc.ConnectionStats().SmoothedRTT
			in.LastSeen = c.seen()
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b peer.Info) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Stats are a transport's counters.
type Stats struct {
	// Known and Up count the peers Peers lists and those up now.
	Known, Up int
	// Unverified counts the peers (or new addresses of known peers) that
	// members gossiped and that were not reached yet; GossipIgnored the
	// gossiped entries ignored because their member had UnverifiedPerPeer
	// entries held or the table was full; GossipDropped the entries
	// dropped after UnverifiedDials failed dials, or not reached within
	// ExpireAfter, or when a verified peer needed the slot, or when the
	// member that named them was forgotten.
	Unverified                   int
	GossipIgnored, GossipDropped uint64
	// Sent counts the messages Send handed to QUIC; Received those
	// delivered on Recv.
	Sent, Received uint64
	// Dropped counts dropped incoming messages and frames by reason
	// (Drop* constants); every reason is present.
	Dropped map[string]uint64
	// Rejected counts refused connections by reason (Reject*
	// constants); every reason is present.
	Rejected map[string]uint64
	// Dials counts connection attempts; DialsFailed those that failed.
	Dials, DialsFailed uint64
	// Connects counts the connections established (either way).
	Connects uint64
	// BytesSent and BytesReceived count QUIC bytes (payload, headers,
	// acknowledgements, handshakes; not UDP/IP headers) over all
	// connections, past and present.
	BytesSent, BytesReceived uint64
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	st := Stats{
		Sent: t.sent.Load(), Received: t.received.Load(),
		Dials: t.dials.Load(), DialsFailed: t.dialsFailed.Load(),
		Dropped: map[string]uint64{}, Rejected: map[string]uint64{},
	}
	for i, r := range dropReasons() {
		st.Dropped[r] = t.dropped[i].Load()
	}
	for i, r := range rejectReasons() {
		st.Rejected[r] = t.rejected[i].Load()
	}
	st.GossipIgnored, st.GossipDropped = t.gossipIgnored.Load(), t.gossipDropped.Load()
	st.Connects = t.connects.Load()
	now := time.Now()
	t.mu.Lock()
	st.BytesSent, st.BytesReceived = t.closedBytesSent.Load(), t.closedBytesRecv.Load()
	st.Unverified = t.unverified
	for _, m := range t.members {
		if m.listed() {
			st.Known++
		}
		if m.up(now) != nil {
			st.Up++
		}
		if m.conn != nil {
			cs := m.conn.qc.ConnectionStats()
			st.BytesSent += cs.BytesSent
			st.BytesReceived += cs.BytesReceived
		}
	}
	t.mu.Unlock()
	return st
}

// up returns m's connection if it has one that its membership still
// admits.
func (m *member) up(now time.Time) *conn {
	if c := m.conn; c != nil && !c.expired(now) {
		return c
	}
	return nil
}

func (t *Transport) drop(reason string) {
	t.dropped[slices.Index(dropReasons(), reason)].Add(1)
}

func (t *Transport) reject(reason string) {
	t.rejected[slices.Index(rejectReasons(), reason)].Add(1)
}

// Close implements peer.Transport: it closes every connection (telling the
// peers), stops the goroutines, waits for them and closes Recv.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		var conns []*conn
		for _, m := range t.members {
			if m.conn != nil {
				conns = append(conns, m.conn)
			}
		}
		t.mu.Unlock()
		t.cancel()
		for _, c := range conns {
			c.qc.CloseWithError(codeClosing, "closing")
		}
		t.ln.Close()
		t.qt.Close()
		t.udp.Close()
		t.wg.Wait()
		close(t.recv)
		t.log.Info("peer transport closed")
	})
	return nil
}

// deliver hands a message to Recv, or drops it if Recv is full.
func (t *Transport) deliver(msg peer.Message) {
	select {
	case t.recv <- msg:
		t.received.Add(1)
	default:
		t.drop(DropFull)
	}
}

// Interface guards.
var (
	_ peer.Transport = (*Transport)(nil)
	_ peer.Directory = (*Transport)(nil)
)
