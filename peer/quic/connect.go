package quic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/dfaas-go/dfaas/peer"
)

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
	c.until = t.admittedUntil(id, certs[0])
	if err := c.exchangeHello(false); err != nil {
		t.reject(RejectHandshake)
		t.lim.Debug("inbound hello failed", "inbound hello failed", "peer", string(id), "err", err)
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
			t.claimFailed(m)
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
			t.lim.Debug("dial failed "+string(id), "dial failed", "peer", string(id), "addr", hostPort, "err", err)
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
	if certs := qc.ConnectionState().TLS.PeerCertificates; len(certs) > 0 {
		c.until = t.admittedUntil(id, certs[0])
	}
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
	c.sendMembers(true)
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
		// A peer that proved its identity takes the slot of one that was
		// only gossiped, never that of another verified peer.
		if len(t.members) >= t.s.MaxPeers && !t.evictUnverified() {
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
		} else {
			t.connEnded(m, old, now)
		}
		replaced = old
	}
	t.verify(m, c)
	t.connects.Add(1)
	m.conn = c
	m.failures = 0
	t.upSeq++
	m.upSeq = t.upSeq
	t.digestDirty = true
	if replaced == nil {
		t.lim.Info("up "+string(c.id), "peer up", "peer", string(c.id), "addr", m.hostPort, "outbound", c.outbound)
	}
	return replaced, ""
}

// verify records that m proved its identity on c: the address c reached
// is its verified address (a bootstrap peer keeps the configured one), and
// a claim on its address is settled. t.mu must be held.
func (t *Transport) verify(m *member, c *conn) {
	if !c.outbound && !m.bootstrap {
		m.hostPort = c.qc.RemoteAddr().String()
	}
	if m.hostPort == "" {
		m.hostPort = c.qc.RemoteAddr().String()
	}
	t.unclaim(m)
	m.verified = true
	m.verifiedAddr = m.hostPort
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
	t.connEnded(m, c, now)
	m.nextDial = now.Add(t.backoff(max(1, m.flaps)))
	t.digestDirty = true
	if !t.closed {
		t.lim.Info("down "+string(c.id), "peer down", "peer", string(c.id), "addr", m.hostPort,
			"cause", context.Cause(c.qc.Context()), "flaps", m.flaps)
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
