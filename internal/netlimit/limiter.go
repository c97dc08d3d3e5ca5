package netlimit

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter enforces a Config on one listener and the HTTP server on it. It
// is safe for concurrent use.
type Limiter struct {
	name string
	cfg  Config
	log  *slog.Logger

	mu      sync.Mutex
	total   int
	clients map[netip.Addr]*client

	inflight atomic.Int64
	counts   counts

	refusePerIP, refuseTotal []byte
	metrics                  metrics
}

// counts are a Limiter's cumulative counters.
type counts struct {
	accepted, evicted, refusedPerIP, refusedTotal atomic.Uint64
	bodyTooLarge, bodyInflight, bodyTimeout       atomic.Uint64
}

// client is the connections of one address.
type client struct {
	conns []*conn
}

// New returns a Limiter named name (the value of the listener label of
// its metrics) enforcing cfg with its defaults filled in (see
// Config.WithDefaults; the file-descriptor limit is read now). log, if
// not nil, receives the HTTP server's errors at debug level.
func New(name string, cfg Config, log *slog.Logger) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{
		name:        name,
		cfg:         cfg.WithDefaults(FDLimit()),
		log:         log,
		clients:     map[netip.Addr]*client{},
		refusePerIP: refusal(http.StatusTooManyRequests, "too many connections from your address"),
		refuseTotal: refusal(http.StatusServiceUnavailable, "too many connections"),
	}
	l.metrics = newMetrics(name)
	return l, nil
}

// Config returns the limits in force, defaults filled in.
func (l *Limiter) Config() Config { return l.cfg }

// refusal is the complete HTTP response written to a connection refused
// at accept time.
func refusal(code int, msg string) []byte {
	body := "dfaas: " + msg + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}

// Listener returns ln with the connection caps applied: Accept returns
// only connections within the caps (closing an idle one to make room when
// it can) and answers the others itself.
func (l *Limiter) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, lim: l} }

type listener struct {
	net.Listener
	lim *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := ln.lim.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// conn is an admitted connection. Its state follows http.Server's
// ConnState hook (see Limiter.ConnState).
type conn struct {
	net.Conn
	lim   *Limiter
	key   netip.Addr // invalid: not an IP connection, no per-address cap
	state atomic.Int32
	since atomic.Int64 // unix nanoseconds when it became new or idle

	removed bool // guarded by lim.mu
}

// Close releases the connection's place and closes it.
func (c *conn) Close() error {
	c.lim.remove(c)
	return c.Conn.Close()
}

// CloseWrite shuts down the writing side, as http.Server does before
// closing a connection with a pending request body.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// evictable reports whether c may be closed to make room: it is idle
// between requests or has not sent a byte yet.
func (c *conn) evictable() bool {
	s := http.ConnState(c.state.Load())
	return s == http.StateNew || s == http.StateIdle
}

// addrKey is the address a connection counts against: the IPv4 address,
// or the /64 of an IPv6 address; invalid for other networks.
func addrKey(a net.Addr) netip.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// admit applies the caps to a new connection: it returns the tracked
// connection, or nil after answering and closing c.
func (l *Limiter) admit(c net.Conn) *conn {
	key := addrKey(c.RemoteAddr())
	l.mu.Lock()
	cl := l.clients[key]
	var victim *conn
	switch {
	case key.IsValid() && cl != nil && len(cl.conns) >= l.cfg.MaxConnsPerIP:
		if victim = cl.oldestEvictable(); victim == nil {
			l.mu.Unlock()
			l.counts.refusedPerIP.Add(1)
			refuse(c, l.refusePerIP)
			return nil
		}
	case l.total >= l.cfg.MaxConns:
		if victim = l.heaviestEvictable(); victim == nil {
			l.mu.Unlock()
			l.counts.refusedTotal.Add(1)
			refuse(c, l.refuseTotal)
			return nil
		}
	}
	if victim != nil {
		l.removeLocked(victim)
		// The victim may have been the address's last connection, its
		// record then deleted: the new one needs the current record.
		cl = l.clients[key]
	}
	tc := &conn{Conn: c, lim: l, key: key}
	tc.state.Store(int32(http.StateNew))
	tc.since.Store(time.Now().UnixNano())
	if cl == nil {
		cl = &client{}
		l.clients[key] = cl
	}
	cl.conns = append(cl.conns, tc)
	l.total++
	l.mu.Unlock()
	l.counts.accepted.Add(1)
	if victim != nil {
		l.counts.evicted.Add(1)
		victim.Conn.Close()
	}
	return tc
}

// refuse writes a prepared response to c and closes it. The write is
// bounded so that a client that does not read cannot stall Accept.
func refuse(c net.Conn, resp []byte) {
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	c.Write(resp)
	c.Close()
}

// oldestEvictable returns the connection of cl that has been idle (or
// unused) the longest, or nil.
func (cl *client) oldestEvictable() *conn {
	var best *conn
	var bestSince int64
	for _, c := range cl.conns {
		if !c.evictable() {
			continue
		}
		if s := c.since.Load(); best == nil || s < bestSince {
			best, bestSince = c, s
		}
	}
	return best
}

// heaviestEvictable returns the oldest evictable connection of the
// address that holds the most connections among those that have one, or
// nil. l.mu must be held.
func (l *Limiter) heaviestEvictable() *conn {
	var best *conn
	most := 0
	for _, cl := range l.clients {
		if len(cl.conns) <= most {
			continue
		}
		if c := cl.oldestEvictable(); c != nil {
			best, most = c, len(cl.conns)
		}
	}
	return best
}

func (l *Limiter) remove(c *conn) {
	l.mu.Lock()
	l.removeLocked(c)
	l.mu.Unlock()
}

// removeLocked forgets c (once). l.mu must be held.
func (l *Limiter) removeLocked(c *conn) {
	if c.removed {
		return
	}
	c.removed = true
	l.total--
	cl := l.clients[c.key]
	for i, x := range cl.conns {
		if x == c {
			last := len(cl.conns) - 1
			cl.conns[i] = cl.conns[last]
			cl.conns[last] = nil
			cl.conns = cl.conns[:last]
			break
		}
	}
	if len(cl.conns) == 0 {
		delete(l.clients, c.key)
	}
}

// ConnState is the http.Server ConnState hook that tells the Limiter which
// connections are idle. Server sets it.
func (l *Limiter) ConnState(c net.Conn, s http.ConnState) {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	tc, ok := c.(*conn)
	if !ok {
		return
	}
	tc.state.Store(int32(s))
	if s == http.StateIdle {
		tc.since.Store(time.Now().UnixNano())
	}
}

// Conns returns the number of connections open now.
func (l *Limiter) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
