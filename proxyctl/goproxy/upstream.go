package goproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dfaas-go/dfaas/internal/netlimit"
)

// upstream is a minimal HTTP/1.1 client for the local FaaS, used for the
// requests that dominate a node's traffic: those without a body or with a
// small one (already read, see smallBody). It writes a request in one
// system call and reads the answer in the handler's goroutine from a pool
// of keep-alive connections, which costs about half of what
// http.Transport (with its two goroutines per connection) does. Requests
// with larger bodies go through http.Transport, which streams them.
//
// At most size connections are open at once (more requests wait for one
// within their time-out); a connection idle longer than idleTimeout is not
// reused. A request that fails on a reused connection before any answer
// is sent again once on a new one when that is safe: when writing it
// failed, or when its method is idempotent.
type upstream struct {
	host        string      // host:port
	tls         *tls.Config // nil: plain TCP
	basePath    string
	size        int
	idleTimeout time.Duration
	dialTimeout time.Duration
	maxHeader   int64

	slots  chan struct{}      // one per open connection
	idle   chan *upstreamConn // FIFO: every connection stays warm
	bufs   sync.Pool          // *[]byte of smallBody bytes
	closed atomic.Bool        // no connection is kept idle any more
}

type upstreamConn struct {
	conn     net.Conn
	raw      net.Conn // the TCP connection under conn
	lr       limitedReader
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	// deadline is the current request's; short: the read deadline is
	// still the earlier one of polling (see exchange), to extend before
	// reading more of the answer than is buffered (fullDeadline).
	deadline time.Time
	short    bool
}

// fullDeadline sets c's read deadline to the request's, if it is still
// the polling one. An answer buffered whole by then (the common small
// one) needs no more reads, and so costs no timer update.
func (c *upstreamConn) fullDeadline() {
	if c.short {
		c.conn.SetReadDeadline(c.deadline)
		c.short = false
	}
}

// limitedReader reads from r at most n bytes (n is reset for every
// answer: it bounds an answer's headers).
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeadersTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

var errHeadersTooLarge = errors.New("upstream answer headers too large")

// fastConns is how many connections the fast client opens to the FaaS at
// most: three quarters of what a listener with default Limits accepts from
// one address, so that the FaaS's per-address cap leaves room for its
// other local clients (a metrics scraper) without evicting the proxy's
// idle connections.
func fastConns() int {
	return max(1, netlimit.Config{}.WithDefaults(netlimit.FDLimit()).MaxConnsPerIP*3/4)
}

// getBuf returns a buffer of smallBody bytes; putBuf takes it back.
func (u *upstream) getBuf() *[]byte { return u.bufs.Get().(*[]byte) }

func (u *upstream) putBuf(b *[]byte) { u.bufs.Put(b) }

func newUpstream(base *url.URL, size int, maxHeader int) *upstream {
	host := base.Host
	if base.Port() == "" {
		port := "80"
		if base.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(base.Hostname(), port)
	}
	return &upstream{
		host: host, basePath: base.Path, size: size, maxHeader: int64(maxHeader),
		idleTimeout: netlimit.DefaultIdleTimeout * 2 / 3, dialTimeout: faasDialTimeout,
		slots: make(chan struct{}, size),
		idle:  make(chan *upstreamConn, size),
		bufs:  sync.Pool{New: func() any { b := make([]byte, smallBody); return &b }},
	}
}

// checkIdle is how long a connection may stay idle before it is checked
// (see alive) before reuse: a connection the FaaS closed while idle
// (restarting, or making room at its connection cap) is then not used,
// so a request that is not safe to send twice does not fail on it. Under
// load, connections are reused sooner and not checked.
const checkIdle = 10 * time.Millisecond

// get returns an idle connection (reused is true) or a new one, waiting
// for a free slot until ctx is done.
func (u *upstream) get(ctx context.Context, now time.Time) (c *upstreamConn, reused bool, err error) {
	for {
		select {
		case c = <-u.idle:
		default:
			select {
			case c = <-u.idle:
			case u.slots <- struct{}{}:
				c, err = u.dial(ctx)
				if err != nil {
					<-u.slots
				}
				return c, false, err
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		idle := now.Sub(c.lastUsed)
		if idle < u.idleTimeout && (idle < checkIdle || alive(c.raw)) {
			return c, true, nil
		}
		u.discard(c)
	}
}

func (u *upstream) dial(ctx context.Context) (*upstreamConn, error) {
	d := net.Dialer{Timeout: u.dialTimeout, KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", u.host)
	if err != nil {
		return nil, err
	}
	conn := raw
	if u.tls != nil {
		tc := tls.Client(raw, u.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		conn = tc
	}
	c := &upstreamConn{conn: conn, raw: raw, lr: limitedReader{r: conn, n: math.MaxInt64}}
	c.br = bufio.NewReaderSize(&c.lr, 8<<10)
	c.bw = bufio.NewWriterSize(conn, 4<<10)
	return c, nil
}

// put returns c to the pool (it closes c once the pool is closed).
func (u *upstream) put(c *upstreamConn, now time.Time) {
	c.lastUsed = now
	select {
	case u.idle <- c:
		if u.closed.Load() {
			u.closeIdle() // close may have emptied the pool before c was in it
		}
	default:
		u.discard(c)
	}
}

// discard closes c and frees its slot.
func (u *upstream) discard(c *upstreamConn) {
	c.conn.Close()
	<-u.slots
}

// close closes the idle connections, and those put back from now on.
func (u *upstream) close() {
	u.closed.Store(true)
	u.closeIdle()
}

// closeIdle closes the idle connections.
func (u *upstream) closeIdle() {
	for {
		select {
		case c := <-u.idle:
			u.discard(c)
		default:
			return
		}
	}
}

// roundTrip sends r (headers prepared, body in memory) to the FaaS and
// returns the connection once the first byte of the answer is buffered on
// it: the caller relays the answer (relayHead or readResponse) and gives
// the connection back (finish). It returns an error when no answer came.
func (u *upstream) roundTrip(ctx context.Context, r *http.Request, x extraHeaders, body []byte, timeout time.Duration) (*upstreamConn, error) {
	now := time.Now()
	deadline := now.Add(timeout)
	for attempt := 0; ; attempt++ {
		c, reused, err := u.get(ctx, now)
		if err != nil {
			return nil, err
		}
		sent, err := u.exchange(ctx, c, r, x, body, deadline)
		if err == nil {
			return c, nil
		}
		u.discard(c)
		if attempt > 0 || !reused || ctx.Err() != nil || !retryable(r, sent, err) {
			return nil, err
		}
	}
}

// finish puts c back in the pool if its answer was relayed in full and it
// may be reused, else closes it.
func (u *upstream) finish(c *upstreamConn, reuse bool) {
	// The deadlines stay: the next request sets its own before any I/O.
	if !reuse || c.br.Buffered() > 0 {
		u.discard(c)
		return
	}
	u.put(c, time.Now())
}

// relayBody copies the n bytes of an answer's body from c to w.
func (c *upstreamConn) relayBody(w io.Writer, n int64) error {
	br := c.br
	for n > 0 {
		if br.Buffered() == 0 {
			c.fullDeadline()
			if _, err := br.Peek(1); err != nil {
				return err
			}
		}
		k := int(min(n, int64(br.Buffered())))
		b, _ := br.Peek(k)
		if _, err := w.Write(b); err != nil {
			return err
		}
		br.Discard(k)
		n -= int64(k)
	}
	return nil
}

// retryable reports whether a request that failed on a reused connection
// before any answer may be sent again: the server closed the idle
// connection, so it did not process the request, which is certain when
// the request could not be written, and safe to assume for an idempotent
// method.
func retryable(r *http.Request, sent bool, err error) bool {
	if !sent {
		return true
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// pollInterval is how often a request waiting for the FaaS's answer
// checks whether its client went away.
const pollInterval = 250 * time.Millisecond

// exchange writes r on c and reads the answer's headers. sent reports
// whether the request was written. It gives up at deadline, or soon after
// ctx is done (the client went away): it polls ctx while waiting, rather
// than registering with it, which would cost several allocations per
// request.
func (u *upstream) exchange(ctx context.Context, c *upstreamConn, r *http.Request, x extraHeaders, body []byte, deadline time.Time) (sent bool, err error) {
	wait := pollUntil(deadline)
	// The write gets the request's deadline, the read the poll's: a
	// goroutine descheduled past the poll's before it writes (a starved
	// machine) must not fail a request the FaaS would take.
	c.conn.SetWriteDeadline(deadline)
	c.conn.SetReadDeadline(wait)
	writeRequest(c.bw, r, u.host, u.basePath, x, body)
	if err := c.bw.Flush(); err != nil {
		return false, err
	}
	for {
		_, err := c.br.Peek(1)
		if err == nil {
			break
		}
		if !isTimeout(err) || !wait.Before(deadline) {
			return true, err
		}
		if err := ctx.Err(); err != nil {
			return true, err
		}
		wait = pollUntil(deadline)
		c.conn.SetReadDeadline(wait)
	}
	c.deadline, c.short = deadline, wait.Before(deadline)
	return true, nil
}

// pollUntil returns when to next check a waiting request's context.
func pollUntil(deadline time.Time) time.Time {
	if wait := time.Now().Add(pollInterval); wait.Before(deadline) {
		return wait
	}
	return deadline
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writePath writes path escaped as url.URL.EscapedPath does, without
// allocating for a path that needs no escaping.
func writePath(w *bufio.Writer, path string) {
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/-._~!$&'()*+,;=:@", c) >= 0) {
			u := url.URL{Path: path}
			w.WriteString(u.EscapedPath())
			return
		}
	}
	w.WriteString(path)
}

// writeInt writes n >= 0 in decimal without allocating.
func writeInt(w *bufio.Writer, n int) {
	if n >= 10 {
		writeInt(w, n/10)
	}
	w.WriteByte(byte('0' + n%10))
}

// readResponse reads the final answer to r from c, skipping informational
// (1xx) ones, with its headers bounded: those of the informational
// answers and the final one together, as http.Transport bounds them, so
// that an upstream cannot send informational answers without end.
func (u *upstream) readResponse(c *upstreamConn, r *http.Request) (*http.Response, error) {
	c.fullDeadline()
	c.lr.n = u.maxHeader + int64(c.br.Size())
	defer func() { c.lr.n = math.MaxInt64 }()
	for {
		resp, err := http.ReadResponse(c.br, r)
		switch {
		case err != nil:
			return nil, err
		case resp.StatusCode == http.StatusSwitchingProtocols:
			resp.Body.Close()
			return nil, errors.New("upstream switched protocols")
		case resp.StatusCode >= 200:
			return resp, nil
		}
	}
}

// writeRequest writes r's request line (its path under basePath),
// headers and body to w, with Host host, the body's length, and
// the headers of x instead of r's of the same names.
func writeRequest(w *bufio.Writer, r *http.Request, host, basePath string, x extraHeaders, body []byte) {
	w.WriteString(r.Method)
	w.WriteByte(' ')
	writePath(w, joinPath(basePath, r.URL.Path))
	if r.URL.RawQuery != "" {
		w.WriteByte('?')
		w.WriteString(r.URL.RawQuery)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	writeHeader(w, keyXFF, x.xff)
	writeHeader(w, keyNodeID, x.nodeID)
	writeHeader(w, keyNodeToken, x.token)
	for k, vs := range r.Header {
		switch {
		case k == "Content-Length" || k == "Host",
			k == keyXFF && x.xff != "",
			(k == keyNodeID || k == keyNodeToken) && x.nodeID != "":
			continue
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				continue
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if len(body) > 0 || r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		w.WriteString("Content-Length: ")
		writeInt(w, len(body))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
}

// extraHeaders are headers the fast path writes rather than r's (whose
// map would grow): X-Forwarded-For (see prepareHeaders), and for a
// neighbour this node's identity and credential; "" for none.
type extraHeaders struct {
	xff, nodeID, token string
}

// writeHeader writes the header line "key: v" unless v is "" or holds a
// line break.
func writeHeader(w *bufio.Writer, key, v string) {
	if v == "" || strings.ContainsAny(v, "\r\n") {
		return
	}
	w.WriteString(key)
	w.WriteString(": ")
	w.WriteString(v)
	w.WriteString("\r\n")
}
