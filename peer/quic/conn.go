package quic

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/dfaas-go/dfaas/peer"
)

// conn is an established connection to a peer.
type conn struct {
	t           *Transport
	qc          *quicgo.Conn
	id          peer.ID
	outbound    bool // dialled by this node
	ctrl        *quicgo.Stream
	established time.Time
	until       time.Time // when the peer's admission ends; zero: never
	m           *member   // set by register

	peerMax  int          // the peer's message size limit, from its hello
	lastSeen atomic.Int64 // unix nanoseconds of the last frame received
	gossipAt atomic.Int64 // unix nanoseconds of the last members frames sent
	sentSeq  uint64       // Transport.upSeq at the last members frames sent; guarded by Transport.mu

	// Anti-entropy, used by the goroutine that serves the connection
	// only (see resync).
	peerDigest uint64        // the last digest the peer reported
	stuckSince time.Time     // since when it has reported that digest
	fullAfter  time.Duration // how long a differing digest must stay before the full list is sent again

	wmu      sync.Mutex // serializes control-stream writes
	ctrlRate bucket     // only the control reader uses it
}

func newConn(t *Transport, qc *quicgo.Conn, id peer.ID, ctrl *quicgo.Stream, outbound bool) *conn {
	now := time.Now()
	c := &conn{t: t, qc: qc, id: id, ctrl: ctrl, outbound: outbound, established: now}
	c.lastSeen.Store(now.UnixNano())
	// Pings, pongs and member lists: a handful per ping interval in
	// normal operation.
	c.ctrlRate.init(50, 200)
	return c
}

func (c *conn) touch()          { c.lastSeen.Store(time.Now().UnixNano()) }
func (c *conn) seen() time.Time { return time.Unix(0, c.lastSeen.Load()) }

// expired reports whether the peer's admission (its federation
// certificate) has ended by now.
func (c *conn) expired(now time.Time) bool { return !c.until.IsZero() && now.After(c.until) }

// exchangeHello sends this node's hello and reads the peer's, the dialer
// first.
func (c *conn) exchangeHello(dialer bool) error {
	h := hello{Version: ProtocolVersion, MaxMessage: uint32(c.t.s.MaxMessageSize)}
	if dialer {
		if err := c.writeCtrl(h.append(nil)); err != nil {
			return err
		}
	}
	c.ctrl.SetReadDeadline(time.Now().Add(c.t.s.HandshakeTimeout))
	typ, p, err := readFrame(c.ctrl, maxControlFrame)
	c.ctrl.SetReadDeadline(time.Time{})
	if err != nil {
		if errors.Is(err, errMalformed) || errors.Is(err, errOversize) {
			c.t.drop(dropReason(err))
		}
		return err
	}
	if typ != frameHello {
		c.t.drop(DropMalformed)
		return fmt.Errorf("%w: frame type %d before hello", errMalformed, typ)
	}
	ph, err := decodeHello(p)
	if err != nil {
		c.t.drop(dropReason(err))
		return err
	}
	c.peerMax = int(ph.MaxMessage)
	if !dialer {
		if err := c.writeCtrl(h.append(nil)); err != nil {
			return err
		}
	}
	c.touch()
	return nil
}

// writeCtrl writes frames to the control stream; a failure closes the
// connection, since the stream's framing is then lost.
func (c *conn) writeCtrl(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ctrl.SetWriteDeadline(time.Now().Add(c.t.s.WriteTimeout))
	if _, err := c.ctrl.Write(b); err != nil {
		c.qc.CloseWithError(codeProtocol, "control stream write failed")
		return err
	}
	return nil
}

// readControl reads control frames until the connection ends. It returns
// an error for a protocol violation that breaks the framing, nil when the
// connection ended otherwise.
func (c *conn) readControl() error {
	for {
		typ, p, err := readFrame(c.ctrl, maxControlFrame)
		if err != nil {
			if errors.Is(err, errMalformed) || errors.Is(err, errOversize) {
				c.t.drop(dropReason(err))
				c.t.lim.Debug("control broken "+string(c.id), "control stream broken", "peer", string(c.id), "err", err)
				return err
			}
			return nil
		}
		c.touch()
		if !c.ctrlRate.allow(time.Now(), 1) {
			c.t.drop(DropRate)
			continue
		}
		if err := c.handleControl(typ, p); err != nil {
			c.t.drop(dropReason(err))
			c.t.lim.Debug("control dropped "+string(c.id), "control frame dropped", "peer", string(c.id), "err", err)
		}
	}
}

func (c *conn) handleControl(typ byte, p []byte) error {
	switch typ {
	case framePing, framePong:
		pg, err := decodePing(p)
		if err != nil {
			return err
		}
		if typ == framePing {
			pong := ping{Nonce: pg.Nonce, Digest: c.t.currentDigest()}
			if err := c.writeCtrl(pong.append(nil, framePong)); err != nil {
				return nil
			}
		}
		// A pong for an earlier ping (a late one) is no error: any frame
		// shows the peer is alive.
		c.resync(pg.Digest, time.Now())
		return nil
	case frameMembers:
		es, err := decodeMembers(p)
		if err != nil {
			return err
		}
		c.t.learn(c.id, es)
		return nil
	case frameHello:
		return fmt.Errorf("%w: second hello", errMalformed)
	default:
		return fmt.Errorf("%w: control frame type %d", errVersion, typ)
	}
}

// resync answers a digest the peer reported at now. When it differs from
// this node's, the peer is sent the peers that came up since the last list
// (at most every GossipInterval). When it has stayed the same and
// different for fullAfter, the peer's view is stuck (it may have ignored
// entries over its UnverifiedPerPeer bound, or dropped peers it could not
// reach at the time): it is sent the full list again, and fullAfter
// doubles, from GossipInterval up to 32 GossipIntervals, so that views
// that differ for good (a peer reachable from one side only) cost one
// list a minute. Equal digests reset it.
func (c *conn) resync(digest uint64, now time.Time) {
	gi := c.t.s.GossipInterval
	if digest == c.t.currentDigest() {
		c.fullAfter = 0
		return
	}
	if digest != c.peerDigest || c.stuckSince.IsZero() {
		c.peerDigest, c.stuckSince = digest, now
	}
	if now.Sub(time.Unix(0, c.gossipAt.Load())) < gi {
		return
	}
	if c.fullAfter == 0 {
		c.fullAfter = gi
	}
	full := now.Sub(c.stuckSince) >= c.fullAfter
	if full {
		c.stuckSince = now
		c.fullAfter = min(2*c.fullAfter, 32*gi)
	}
	c.sendMembers(full)
}

// sendMembers sends the peer the peers that came up since the last time
// (all of them the first time, or if full), then only the news. A peer
// that already knows what this node knows gets nothing.
func (c *conn) sendMembers(full bool) {
	c.gossipAt.Store(time.Now().UnixNano())
	es := c.t.gossipFor(c, full)
	if len(es) == 0 {
		return
	}
	c.writeCtrl(appendMembers(nil, es))
}

// pinger pings the peer every PingInterval until the connection ends.
// Only the dialer pings: the pongs keep the listener's view fresh too.
func (c *conn) pinger() {
	if !c.outbound {
		return
	}
	// Spread the pings of many connections over the interval.
	first := time.Duration(rand.Int64N(int64(c.t.s.PingInterval)))
	tm := time.NewTimer(first)
	defer tm.Stop()
	for {
		select {
		case <-c.qc.Context().Done():
			return
		case <-tm.C:
		}
		if c.writeCtrl(ping{Nonce: rand.Uint64(), Digest: c.t.currentDigest()}.append(nil, framePing)) != nil {
			return
		}
		tm.Reset(c.t.s.PingInterval)
	}
}

// acceptData reads the peer's messages, one per unidirectional stream,
// until the connection ends.
func (c *conn) acceptData() {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		str, err := c.qc.AcceptUniStream(c.qc.Context())
		if err != nil {
			return
		}
		wg.Go(func() { c.readMessage(str) })
	}
}

func (c *conn) readMessage(str *quicgo.ReceiveStream) {
	limit := c.t.s.MaxMessageSize
	str.SetReadDeadline(time.Now().Add(c.t.s.WriteTimeout))
	data, err := readData(str, limit)
	if err != nil {
		if errors.Is(err, errMalformed) || errors.Is(err, errOversize) || errors.Is(err, errVersion) {
			c.t.drop(dropReason(err))
			c.t.lim.Debug("message dropped "+string(c.id), "message dropped", "peer", string(c.id), "err", err)
		}
		str.CancelRead(streamCodeRejected)
		return
	}
	c.touch()
	now := time.Now()
	if c.expired(now) {
		c.t.drop(DropExpired)
		return
	}
	if !c.m.msgs.allow(now, 1) || !c.m.bytes.allow(now, float64(len(data))) {
		c.t.drop(DropRate)
		return
	}
	c.t.deliver(peer.Message{From: c.id, Data: data})
}

// bucket is a token bucket, set up by init.
type bucket struct {
	mu          sync.Mutex
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (b *bucket) init(rate, burst float64) {
	b.rate, b.burst, b.tokens = rate, burst, burst
}

// allow takes n tokens if there are enough.
func (b *bucket) allow(now time.Time, n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// has reports whether n tokens are there, taking none.
func (b *bucket) has(now time.Time, n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	return b.tokens >= n
}

// refill adds the tokens earned since the last call. b.mu must be held.
func (b *bucket) refill(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) {
		b.last = now
	}
}
