package quic

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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

// tlsBase returns the TLS settings common to both ends.
func (t *Transport) tlsBase() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cert},
		NextProtos:   []string{ALPN},
		// Identities are checked in VerifyPeerCertificate: node
		// certificates are self-signed or issued by a federation key, not
		// by a web PKI authority.
		InsecureSkipVerify: true,
	}
}

func (t *Transport) serverTLS() *tls.Config {
	c := t.tlsBase()
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, err := t.verifyPeer(raw, "")
		return err
	}
	return c
}

func (t *Transport) clientTLS(want peer.ID) *tls.Config {
	c := t.tlsBase()
	c.ServerName = "dfaas-peer"
	c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, err := t.verifyPeer(raw, want)
		return err
	}
	return c
}

// verifyPeer checks a peer's certificate chain: an Ed25519 leaf whose ID
// is want (if not empty), not this node, and admitted by the membership.
func (t *Transport) verifyPeer(raw [][]byte, want peer.ID) (peer.ID, error) {
	if len(raw) == 0 {
		t.reject(RejectBadCertificate)
		return "", errors.New("peer/quic: peer sent no certificate")
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		t.reject(RejectBadCertificate)
		return "", fmt.Errorf("peer/quic: peer certificate: %w", err)
	}
	id, err := certID(cert)
	if err != nil {
		t.reject(RejectBadCertificate)
		return "", err
	}
	switch {
	case id == t.id:
		t.reject(RejectSelf)
		return "", errors.New("peer/quic: peer has this node's key")
	case want != "" && id != want:
		t.reject(RejectIDMismatch)
		return "", fmt.Errorf("peer/quic: peer is %s, want %s", id, want)
	case !t.admitted(id, cert):
		t.reject(RejectNotMember)
		t.log.Warn("peer refused: not a member", "peer", string(id))
		return "", fmt.Errorf("peer/quic: %s is not a member of the federation", id)
	}
	return id, nil
}

func certID(c *x509.Certificate) (peer.ID, error) {
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("peer/quic: peer certificate has a %T key, want Ed25519", c.PublicKey)
	}
	return IDFromPublicKey(pub), nil
}

// admitted reports whether the membership admits id, whose certificate is
// cert.
func (t *Transport) admitted(id peer.ID, cert *x509.Certificate) bool {
	if t.s.open() || t.s.members[id] {
		return true
	}
	return len(t.s.federation) > 0 && issuedBy(cert, t.s.federation, time.Now())
}

// mayDial reports whether a peer learnt from gossip is worth dialling:
// with only a member list configured, peers outside it are not.
func (t *Transport) mayDial(id peer.ID) bool {
	return t.s.open() || t.s.members[id] || len(t.s.federation) > 0
}

func (t *Transport) acceptLoop() {
	for {
		qc, err := t.ln.Accept(t.ctx)
		if err != nil {
			return
		}
		t.wg.Go(func() { t.handleInbound(qc) })
	}
}

// handleInbound completes the hello exchange on an accepted connection and
// then serves it.
func (t *Transport) handleInbound(qc *quicgo.Conn) {
	certs := qc.ConnectionState().TLS.PeerCertificates
	if len(certs) == 0 {
		qc.CloseWithError(codeRefused, "no certificate")
		return
	}
	id, err := certID(certs[0])
	if err != nil {
		qc.CloseWithError(codeRefused, "bad certificate")
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.s.HandshakeTimeout)
	defer cancel()
	str, err := qc.AcceptStream(ctx)
	if err != nil {
		t.reject(RejectHandshake)
		qc.CloseWithError(codeProtocol, "no control stream")
		return
	}
	c := newConn(t, qc, id, str, false)
	if err := c.exchangeHello(false); err != nil {
		t.reject(RejectHandshake)
		t.log.Debug("inbound hello failed", "peer", string(id), "err", err)
		qc.CloseWithError(codeProtocol, "hello failed")
		return
	}
	t.serve(c)
}

// dial connects to a peer and serves the connection until it ends.
func (t *Transport) dial(id peer.ID, hostPort string) {
	t.dials.Add(1)
	err := t.dialAndServe(id, hostPort)
	t.mu.Lock()
	m := t.members[id]
	if m != nil {
		m.dialing = false
		if err != nil && !errors.Is(err, errDuplicate) && m.conn == nil {
			m.failures++
			m.nextDial = time.Now().Add(t.backoff(m.failures))
		}
	}
	t.mu.Unlock()
	if errors.Is(err, errDuplicate) {
		// The peer kept the connection it dialled at the same time.
		return
	}
	if err != nil {
		t.dialsFailed.Add(1)
		if t.ctx.Err() == nil {
			t.log.Debug("dial failed", "peer", string(id), "addr", hostPort, "err", err)
		}
	}
}

// dialAndServe returns an error if the connection could not be set up,
// and nil after serving an established one.
func (t *Transport) dialAndServe(id peer.ID, hostPort string) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.s.HandshakeTimeout)
	defer cancel()
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return err
	}
	if len(ips) == 0 {
		return fmt.Errorf("no address for %q", host)
	}
	ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(ips[0].Unmap().String(), port))
	if err != nil {
		return err
	}
	qc, err := t.qt.Dial(ctx, ua, t.clientTLS(id), t.qconf)
	if err != nil {
		return err
	}
	str, err := qc.OpenStreamSync(ctx)
	if err != nil {
		qc.CloseWithError(codeProtocol, "no control stream")
		return err
	}
	c := newConn(t, qc, id, str, true)
	// With TLS 1.3 a server that refuses this node's certificate does so
	// after Dial returns: the hello exchange is the real test.
	if err := c.exchangeHello(true); err != nil {
		qc.CloseWithError(codeProtocol, "hello failed")
		var ae *quicgo.ApplicationError
		if errors.As(context.Cause(qc.Context()), &ae) && ae.Remote && ae.ErrorCode == codeDuplicate {
			return errDuplicate
		}
		return fmt.Errorf("hello: %w (cause: %v)", err, context.Cause(qc.Context()))
	}
	t.serve(c)
	return nil
}

// serve runs an established connection until it ends.
func (t *Transport) serve(c *conn) {
	old, refusal := t.register(c)
	if old != nil {
		t.closeLater(old)
	}
	switch refusal {
	case "":
	case refusedDuplicate:
		// Serve it until it closes: messages the peer sent on it before
		// it saw the other connection still arrive.
		t.closeLater(c)
	default:
		c.qc.CloseWithError(codeRefused, refusal)
		return
	}
	defer t.unregister(c)
	var wg sync.WaitGroup
	wg.Go(c.acceptData)
	wg.Go(c.pinger)
	c.sendMembers()
	err := c.readControl()
	code, msg := codeClosing, "closing"
	if err != nil {
		code, msg = codeProtocol, "protocol violation"
	}
	c.qc.CloseWithError(code, msg)
	wg.Wait()
}

// duplicateLinger is how long a connection that lost to a duplicate stays
// open, so that the messages in flight on it arrive.
const duplicateLinger = time.Second

const refusedDuplicate = "duplicate connection"

// closeLater closes a connection that lost to a duplicate after
// duplicateLinger.
func (t *Transport) closeLater(c *conn) {
	t.wg.Go(func() {
		tm := time.NewTimer(duplicateLinger)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-t.ctx.Done():
		case <-c.qc.Context().Done():
		}
		c.qc.CloseWithError(codeDuplicate, refusedDuplicate)
	})
}

// register makes c the connection to its peer. With a connection already
// there, two recent ones in opposite directions (simultaneous dials) keep
// the one dialled by the smaller ID on both ends; otherwise the newer one
// wins. It returns a replaced connection to close, and why c itself must
// be closed, if it must.
func (t *Transport) register(c *conn) (replaced *conn, refusal string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, "closing"
	}
	now := time.Now()
	m := t.members[c.id]
	if m == nil {
		if len(t.members) >= t.s.MaxPeers {
			t.reject(RejectTooMany)
			return nil, "too many peers"
		}
		m = t.addMember(c.id, "", now)
	}
	c.m = m
	if old := m.conn; old != nil {
		if old.outbound != c.outbound && now.Sub(old.established) < t.s.HandshakeTimeout {
			winnerOutbound := t.id < c.id
			if c.outbound != winnerOutbound {
				return nil, refusedDuplicate
			}
		}
		replaced = old
	}
	if !c.outbound && !m.bootstrap {
		m.hostPort = c.qc.RemoteAddr().String()
	}
	if m.hostPort == "" {
		m.hostPort = c.qc.RemoteAddr().String()
	}
	m.conn = c
	m.failures = 0
	t.upSeq++
	m.upSeq = t.upSeq
	t.digestDirty = true
	if replaced == nil {
		t.log.Info("peer up", "peer", string(c.id), "addr", m.hostPort, "outbound", c.outbound)
	}
	return replaced, ""
}

// unregister forgets c when its connection ends.
func (t *Transport) unregister(c *conn) {
	cs := c.qc.ConnectionStats()
	t.closedBytesSent.Add(cs.BytesSent)
	t.closedBytesRecv.Add(cs.BytesReceived)
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.members[c.id]
	if m == nil || m.conn != c {
		return
	}
	now := time.Now()
	m.conn = nil
	m.since = now
	m.lastSeen = c.seen()
	m.rtt = cs.SmoothedRTT
	m.nextDial = now.Add(t.backoff(max(1, m.failures)))
	t.digestDirty = true
	if !t.closed {
		t.log.Info("peer down", "peer", string(c.id), "addr", m.hostPort, "cause", context.Cause(c.qc.Context()))
	}
}

// backoff returns the delay before the next dial after failures failed
// ones: MinBackoff doubled per failure up to MaxBackoff, ±20%.
func (t *Transport) backoff(failures int) time.Duration {
	d := t.s.MinBackoff
	for i := 1; i < failures && d < t.s.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, t.s.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// maintain dials peers that are due, closes silent connections and
// forgets expired peers, until Close.
func (t *Transport) maintain() {
	tick := min(t.s.PingInterval/2, 100*time.Millisecond)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tk.C:
		}
		t.maintainOnce(time.Now())
	}
}

func (t *Transport) maintainOnce(now time.Time) {
	type target struct {
		id       peer.ID
		hostPort string
	}
	var dial []target
	var due []*member
	var silent []*conn
	inFlight := 0
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	for id, m := range t.members {
		if c := m.conn; c != nil {
			if now.Sub(c.seen()) > t.s.DownAfter {
				silent = append(silent, c)
			}
			continue
		}
		if m.dialing {
			inFlight++
			continue
		}
		if !m.bootstrap && now.Sub(m.since) > t.s.ExpireAfter {
			delete(t.members, id)
			delete(t.byKey, m.key)
			t.digestDirty = true
			t.log.Info("peer expired", "peer", string(id), "addr", m.hostPort)
			continue
		}
		if m.hostPort != "" && !now.Before(m.nextDial) {
			due = append(due, m)
		}
	}
	// Bound the handshakes in flight: a node that learns of many peers
	// at once dials them a few at a time (the others wait for a later
	// tick) rather than time them all out on a busy machine.
	slices.SortFunc(due, func(a, b *member) int { return a.nextDial.Compare(b.nextDial) })
	for _, m := range due[:min(len(due), max(0, maxDialsInFlight-inFlight))] {
		m.dialing = true
		dial = append(dial, target{m.id, m.hostPort})
	}
	t.mu.Unlock()
	for _, c := range silent {
		t.log.Info("peer silent; declared down", "peer", string(c.id), "silent_for", now.Sub(c.seen()).Round(time.Millisecond))
		c.qc.CloseWithError(codeSilent, "silent")
	}
	for _, d := range dial {
		t.wg.Go(func() { t.dial(d.id, d.hostPort) })
	}
}

// currentDigest returns the digest of this node's view of the membership:
// itself and the peers up now. Two nodes of a fully connected federation
// have the same digest.
func (t *Transport) currentDigest() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.digestDirty {
		return t.digest
	}
	ids := []peer.ID{t.id}
	for _, m := range t.members {
		if m.conn != nil {
			ids = append(ids, m.id)
		}
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	t.digest = binary.BigEndian.Uint64(h.Sum(nil))
	t.digestDirty = false
	return t.digest
}

// gossipFor lists the peers that came up since the last list sent on c
// (all of them for the first list), other than c's peer, and marks them
// sent.
func (t *Transport) gossipFor(c *conn) []memberEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []memberEntry
	for _, m := range t.members {
		if m.conn != nil && m.upSeq > c.sentSeq && m.id != c.id && m.hostPort != "" {
			out = append(out, memberEntry{Key: m.key, HostPort: m.hostPort})
		}
	}
	c.sentSeq = t.upSeq
	return out
}

// learn adds the members a peer reported.
func (t *Transport) learn(from peer.ID, es []memberEntry) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range es {
		m := t.byKey[e.Key]
		if m == nil {
			id := IDFromPublicKey(e.Key[:])
			if id == t.id || !t.mayDial(id) || len(t.members) >= t.s.MaxPeers {
				continue
			}
			// Both ends of a new pair usually learn of each other at the
			// same time: the larger ID waits a little so that the smaller
			// one's dial usually arrives first.
			delay := time.Duration(rand.Int64N(int64(50 * time.Millisecond)))
			if t.id > id {
				delay += 300 * time.Millisecond
			}
			t.addMember(id, e.HostPort, now).nextDial = now.Add(delay)
			t.log.Debug("peer learnt", "peer", string(id), "addr", e.HostPort, "from", string(from))
			continue
		}
		if m.conn == nil && m.id != from {
			// Up for another member: keep it from expiring, and follow
			// it if it moved.
			m.since = now
			if !m.bootstrap && !m.dialing && m.hostPort != e.HostPort {
				m.hostPort = e.HostPort
				m.nextDial = now
			}
		}
	}
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
