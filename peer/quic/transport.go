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
)

// Reasons a connection is refused, as counted in Stats.Rejected.
const (
	RejectBadCertificate = "bad_certificate" // no certificate, or not an Ed25519 one
	RejectNotMember      = "not_member"      // a valid key outside the membership
	RejectSelf           = "self"            // a peer with this node's own key
	RejectIDMismatch     = "id_mismatch"     // a dialled peer proved another ID than expected
	RejectTooMany        = "too_many_peers"  // MaxPeers reached
	RejectHandshake      = "handshake"       // the hello exchange failed or timed out
)

// dropReasons returns the Drop* reasons, in the order of the counters.
func dropReasons() []string {
	return []string{DropOversize, DropMalformed, DropVersion, DropRate, DropFull}
}

// rejectReasons returns the Reject* reasons, in the order of the counters.
func rejectReasons() []string {
	return []string{RejectBadCertificate, RejectNotMember, RejectSelf, RejectIDMismatch, RejectTooMany, RejectHandshake}
}

// QUIC application error codes used when closing connections and streams.
const (
	codeClosing   quicgo.ApplicationErrorCode = 0
	codeDuplicate quicgo.ApplicationErrorCode = 1
	codeSilent    quicgo.ApplicationErrorCode = 2
	codeProtocol  quicgo.ApplicationErrorCode = 3
	codeRefused   quicgo.ApplicationErrorCode = 4

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

	sent, received     atomic.Uint64
	dials, dialsFailed atomic.Uint64
	dropped            [5]atomic.Uint64
	rejected           [6]atomic.Uint64
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
}

// addMember adds a peer with a valid ID to the known ones. t.mu must be
// held.
func (t *Transport) addMember(id peer.ID, hostPort string, now time.Time) *member {
	m := &member{id: id, hostPort: hostPort, since: now, nextDial: now}
	pub, _ := PublicKeyFromID(id)
	copy(m.key[:], pub)
	m.msgs.init(t.s.RateMessages, float64(t.s.RateBurst))
	m.bytes.init(t.s.RateBytes, max(t.s.RateBytes, 2*float64(t.s.MaxMessageSize)))
	t.members[id] = m
	t.byKey[m.key] = m
	return m
}

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
		s:       s,
		id:      s.Key.ID(),
		udp:     udp,
		cert:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: s.Key.priv},
		recv:    make(chan peer.Message, s.Buffer),
		ctx:     ctx,
		cancel:  cancel,
		members: map[peer.ID]*member{},
		byKey:   map[[ed25519.PublicKeySize]byte]*member{},
	}
	t.log = s.Logger.With("node", string(t.id))
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
	t.ln, err = t.qt.Listen(t.serverTLS(), t.qconf)
	if err != nil {
		t.qt.Close()
		udp.Close()
		cancel()
		return nil, fmt.Errorf("peer/quic: listen: %w", err)
	}
	now := time.Now()
	for _, a := range s.Bootstrap {
		if a.ID == t.id {
			t.log.Debug("bootstrap entry is this node; skipped", "addr", a.String())
			continue
		}
		t.addMember(a.ID, a.HostPort, now).bootstrap = true
	}
	t.digestDirty = true
	if s.open() {
		t.log.Warn("peer/quic: no membership configured: any peer that proves its key is accepted (lab setting)")
	}
	t.log.Info("peer transport listening", "addr", t.Self().String(), "bootstrap", len(s.Bootstrap))
	t.wg.Go(t.acceptLoop)
	t.wg.Go(t.maintain)
	return t, nil
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
// peer's flow control holds it back. A peer with no connection now gives
// an error wrapping peer.ErrUnknownPeer at once.
func (t *Transport) Send(ctx context.Context, to peer.ID, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	closed := t.closed
	var c *conn
	if m := t.members[to]; m != nil {
		c = m.conn
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
// ID. RTT is QUIC's smoothed RTT estimate (RFC 9002) of the current
// connection, or of the last one while the peer is down.
func (t *Transport) Peers() []peer.Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]peer.Info, 0, len(t.members))
	for _, m := range t.members {
		in := peer.Info{ID: m.id, Addr: "quic://" + m.hostPort, RTT: m.rtt, LastSeen: m.lastSeen}
		if c := m.conn; c != nil {
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
	// Known and Up count the known peers and those connected now.
	Known, Up int
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
	t.mu.Lock()
	st.BytesSent, st.BytesReceived = t.closedBytesSent.Load(), t.closedBytesRecv.Load()
	st.Known = len(t.members)
	for _, m := range t.members {
		if m.conn != nil {
			st.Up++
			cs := m.conn.qc.ConnectionStats()
			st.BytesSent += cs.BytesSent
			st.BytesReceived += cs.BytesReceived
		}
	}
	t.mu.Unlock()
	return st
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
