package goproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/internal/netlimit"
	"github.com/dfaas-go/dfaas/internal/nodetls"
)

// Why a forwarded request is sent elsewhere (the reason label of the
// retries metric).
const (
	retryUnknownNode = iota // the neighbour answered 403 unknown-node
	retryUnreachable        // the neighbour could not be connected to
	numRetryReasons
)

func retryReasonName(reason int) string {
	if reason == retryUnknownNode {
		return "unknown-node"
	}
	return "unreachable"
}

// forward sends a user request to the neighbour the decision chose. If the
// neighbour refuses it as unknown-node (it does not know this node's
// credential, as after it restarted) or cannot be connected to, the request
// is sent once more: locally when the function is deployed here within its
// local limit, else to another neighbour that runs it. It is never sent a
// third time, and a neighbour never forwards it again (exactly-once
// forwarding). A refusal as unknown-node that is not sent elsewhere (no
// other target, a body beyond the retry buffer, or refused again) is
// answered 503 (noNode), not relayed.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rq routed, small []byte) {
	to := rq.a.to
	if small != nil && p.fastPath(rq, r.ContentLength) || r.ContentLength == 0 && to.fast != nil {
		p.forwardFast(w, r, rq, small)
		return
	}
	rp := newReplay(r.Body, r.ContentLength, p.retryBuf, small)
	expect := rp.large()
	if expect {
		// A refusal then comes before the body, which stays replayable.
		r.Header[keyExpect] = []string{"100-continue"}
	}
	body, _ := rp.next()
	sent := time.Now()
	resp, cancel, err := p.sendTo(w, r, rq, to, body, rp)
	if reason := retryReason(resp, err); reason >= 0 {
		local, next, ok := rq.a.route.fallback(to, time.Now())
		if body, replayable := rp.next(); ok && replayable {
			if resp != nil {
				discard(resp)
				cancel()
			}
			p.retries[reason].Add(1)
			p.log.Debug("forwarded request sent elsewhere", "function", rq.fn, "neighbour", string(to.id),
				"reason", retryReasonName(reason), "local", local)
			if local {
				delete(r.Header, keyNodeID)
				delete(r.Header, keyNodeToken)
				if expect {
					delete(r.Header, keyExpect)
				}
				p.serveFallback(w, r, rq, small, body)
				return
			}
			to, sent = next, time.Now()
			resp, cancel, err = p.sendTo(w, r, rq, to, body, rp)
		}
	}
	p.relayForwarded(w, r, rq, to, sent, resp, cancel, err)
}

// relayForwarded counts and relays the answer of neighbour to, sent the
// request at sent: in the function's counters, and as an answer of the
// neighbour (succeeded: neither a 5xx nor a 429 nor a refusal of its proxy,
// with the time to its answer's headers; failed: the others, and a request
// it took but did not answer, as a time-out). A neighbour that could not
// be connected to answered nothing (nor did one whose refusal was sent
// elsewhere, see forward).
func (p *Proxy) relayForwarded(w http.ResponseWriter, r *http.Request, rq routed, to *neighbour, sent time.Time, resp *http.Response, cancel func(), err error) {
	rq.fc.AddForwarded(string(to.id))
	if err != nil {
		p.forwardFailed(w, r, rq, to, err)
		return
	}
	defer cancel()
	defer resp.Body.Close()
	countAnswer(rq, to, resp.StatusCode, len(resp.Header[keyRejected]) > 0, sent)
	if retryReason(resp, nil) == retryUnknownNode {
		discard(resp)
		p.noNode(w, rq)
		return
	}
	resp.Header[keyForwarded] = to.idV
	relay(w, resp)
}

// noNode answers a user request that the neighbour it was sent to refused
// as unknown-node (it does not know this node's credential yet, as after
// it restarted) and that could not be sent elsewhere: 503, counted as
// failed. The neighbour's refusal of this node is no answer for a user.
func (p *Proxy) noNode(w http.ResponseWriter, rq routed) {
	rq.fc.Failed.Add(1)
	h := w.Header()
	h[keyServedBy] = rq.st.servedBy
	h["Retry-After"] = p.fixed.retryAfter
	p.plainError(w, http.StatusServiceUnavailable, "dfaas: no node could take the request for \"", rq.fn, "\"")
}

// forwardFailed counts and answers a request neighbour to did not answer
// (err): as a failed answer of the neighbour unless it could not be
// connected to.
func (p *Proxy) forwardFailed(w http.ResponseWriter, r *http.Request, rq routed, to *neighbour, err error) {
	rq.fc.Failed.Add(1)
	if retryReason(nil, err) != retryUnreachable {
		rq.fc.AddAnswer(string(to.id), false, 0)
	}
	p.log.Debug("forwarded request failed", "function", rq.fn, "neighbour", string(to.id), "err", err)
	p.fail(w, r, err, "neighbour "+string(to.id)+" unreachable for "+rq.fn)
}

// countAnswer counts the answer of neighbour to, with status (rejected:
// it carries DFaaS-Rejected), to a request sent at sent (see
// relayForwarded).
func countAnswer(rq routed, to *neighbour, status int, rejected bool, sent time.Time) {
	switch {
	case status == http.StatusTooManyRequests && rejected:
		rq.fc.Rejected.Add(1)
	case failed(status):
		rq.fc.Failed.Add(1)
	}
	ok := !failed(status) && !rejected
	rq.fc.AddAnswer(string(to.id), ok, time.Since(sent))
	if ok {
		rq.a.route.succeeded(to, time.Now())
	}
}

// forwardFast is forward for a request without a body or with a small
// one (already read, within the retry buffer), through the neighbours'
// fast clients: the same retry elsewhere, counts and answer. (An answer
// whose head parseHead does not handle, never a neighbour proxy's
// refusal, is relayed as it is, without a retry.)
func (p *Proxy) forwardFast(w http.ResponseWriter, r *http.Request, rq routed, small []byte) {
	to := rq.a.to
	for attempt := 0; ; attempt++ {
		sent := time.Now()
		c, err := p.sendFast(w, r, rq, to, small, sent)
		var h head
		parsed := false
		if err == nil {
			buf, _ := c.br.Peek(c.br.Buffered())
			parsed = parseHeadFrom(buf, r.Method, true, &h)
			if !parsed {
				// The general path: the answer as http.ReadResponse
				// reads it, the connection closed after it.
				resp, err := to.fast.readResponse(c, r)
				if err != nil {
					to.fast.discard(c)
					c = nil
				}
				p.relayForwarded(w, r, rq, to, sent, resp, func() {
					if c != nil {
						to.fast.discard(c)
					}
				}, err)
				return
			}
		}
		reason := -1
		if err != nil {
			reason = retryReason(nil, err)
		} else if unknownNode(c, &h) {
			reason = retryUnknownNode
		}
		if reason >= 0 && attempt == 0 {
			if local, next, ok := rq.a.route.fallback(to, time.Now()); ok {
				if c != nil {
					dropRefusal(to.fast, c, &h)
				}
				p.retries[reason].Add(1)
				p.log.Debug("forwarded request sent elsewhere", "function", rq.fn, "neighbour", string(to.id),
					"reason", retryReasonName(reason), "local", local)
				if !local {
					to = next
					continue
				}
				delete(r.Header, keyNodeID)
				delete(r.Header, keyNodeToken)
				body := io.ReadCloser(http.NoBody)
				if small != nil {
					body = io.NopCloser(bytes.NewReader(small))
				}
				p.serveFallback(w, r, rq, small, body)
				return
			}
		}
		p.relayFast(w, r, rq, to, sent, c, &h, err)
		return
	}
}

// sendFast sends r with body to neighbour to through its fast client, with
// this node's identity and credential, and returns the connection once
// the first byte of the answer is in.
func (p *Proxy) sendFast(w http.ResponseWriter, r *http.Request, rq routed, to *neighbour, body []byte, start time.Time) (*upstreamConn, error) {
	timeout := rq.timeout()
	if extend := timeout + time.Second; extend > p.lim.Config().RequestTimeout {
		netlimit.SetWriteDeadline(w, start.Add(extend))
	}
	return to.fast.roundTrip(r.Context(), r, extraHeaders{xff: rq.xff, nodeID: string(rq.st.t.self), token: to.tokenOut}, body, timeout)
}

// unknownNode reports whether the answer whose head h is parsed on c is a
// neighbour's 403 unknown-node (it does not know this node's credential).
func unknownNode(c *upstreamConn, h *head) bool {
	buf, _ := c.br.Peek(h.size)
	v, ok := h.rejected(buf)
	return ok && h.status == http.StatusForbidden && string(v) == "unknown-node"
}

// dropRefusal discards a refusal whose head h is parsed on c, reading a
// body of up to 4 KiB so that the connection may be reused, and returns c
// to u.
func dropRefusal(u *upstream, c *upstreamConn, h *head) {
	c.br.Discard(h.size)
	u.finish(c, h.length <= 4<<10 && c.relayBody(io.Discard, h.length) == nil && !h.close)
}

// relayFast counts and relays the answer of neighbour to, whose head h is
// parsed on c, or the failure err, as relayForwarded does.
func (p *Proxy) relayFast(w http.ResponseWriter, r *http.Request, rq routed, to *neighbour, sent time.Time, c *upstreamConn, h *head, err error) {
	rq.fc.AddForwarded(string(to.id))
	if err != nil {
		p.forwardFailed(w, r, rq, to, err)
		return
	}
	countAnswer(rq, to, h.status, h.hasRejected, sent)
	if unknownNode(c, h) {
		dropRefusal(to.fast, c, h)
		p.noNode(w, rq)
		return
	}
	buf, _ := c.br.Peek(h.size)
	h.commit(buf, w.Header())
	w.Header()[keyForwarded] = to.idV
	c.br.Discard(h.size)
	w.WriteHeader(h.status)
	to.fast.finish(c, c.relayBody(w, h.length) == nil && !h.close)
}

// sendTo sends r with body to neighbour to, with this node's identity and
// credential.
func (p *Proxy) sendTo(w http.ResponseWriter, r *http.Request, rq routed, to *neighbour, body io.ReadCloser, rp *replay) (*http.Response, context.CancelFunc, error) {
	r.Header[keyNodeID] = rq.st.servedBy
	r.Header[keyNodeToken] = to.tokenOutV
	setXFF(r.Header, rq)
	rt := p.peers
	if to.rt != nil {
		rt = to.rt
	}
	return p.send(w, r, rt, to.base, rq.timeout(), body, rp.getBody)
}

// retryReason returns why a forwarded request may be sent elsewhere, or -1
// if it may not: only when the neighbour surely did not process it.
func retryReason(resp *http.Response, err error) int {
	if err != nil {
		var oe *net.OpError
		switch {
		case errors.As(err, &oe) && oe.Op == "dial":
			return retryUnreachable
		case errors.Is(err, nodetls.ErrUntrusted):
			// This node refused the neighbour's certificate: nothing
			// was sent.
			return retryUnreachable
		case errors.As(err, &oe) && oe.Op == "remote error" && strings.Contains(oe.Err.Error(), "certificate"):
			// The neighbour refused this node's certificate in the
			// handshake (it no longer, or not yet, counts it a
			// member): it did not read the request.
			return retryUnknownNode
		}
		return -1
	}
	if resp.StatusCode == http.StatusForbidden && first(resp.Header[keyRejected]) == "unknown-node" {
		return retryUnknownNode
	}
	return -1
}

// discard reads a little of an unwanted response, so that its connection
// may be reused, and closes it.
func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// errNotReplayable is the error of a retry whose body was consumed beyond
// the retry buffer.
var errNotReplayable = errors.New("request body consumed beyond the retry buffer; not sent again")

// replay lets a forwarded request's body be sent more than once: it keeps
// the bytes read from the client while they fit in max, and each attempt
// (next) reads them again before reading on from the client. Attempts are
// serialised; once a new attempt starts, the older ones fail (a transport
// may still be reading one in the background).
type replay struct {
	mu     sync.Mutex
	src    io.Reader
	length int64 // declared length, -1 if unknown
	max    int
	buf    []byte
	lost   bool   // read more than max: no further attempt
	small  []byte // the whole body, already read (see smallBody)
	srcErr error  // sticky end (io.EOF) or error of src
	gen    uint64
}

// newReplay returns a replay of src, whose declared length is length (-1
// if unknown), keeping at most max bytes; small, if not nil, is the whole
// body, already read.
func newReplay(src io.Reader, length int64, max int, small []byte) *replay {
	rp := &replay{src: src, length: length, max: max, small: small}
	if small == nil && length > 0 && length <= int64(max) {
		rp.buf = make([]byte, 0, length)
	}
	return rp
}

// large reports whether the body may not fit in the retry buffer.
func (rp *replay) large() bool { return rp.length < 0 || rp.length > int64(rp.max) }

// next returns a reader of the whole body for a new attempt, or false if
// the body can no longer be replayed.
func (rp *replay) next() (io.ReadCloser, bool) {
	switch {
	case rp.length == 0:
		return http.NoBody, true
	case rp.small != nil:
		// An in-memory reader the transport recognises: the body goes
		// out with the headers.
		return io.NopCloser(bytes.NewReader(rp.small)), true
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.lost {
		return nil, false
	}
	rp.gen++
	return &attempt{rp: rp, gen: rp.gen}, true
}

// getBody is http.Request.GetBody for the transport's own retries.
func (rp *replay) getBody() (io.ReadCloser, error) {
	if b, ok := rp.next(); ok {
		return b, nil
	}
	return nil, errNotReplayable
}

// attempt reads a replay for one attempt.
type attempt struct {
	rp  *replay
	gen uint64
	off int64
}

var errStaleAttempt = errors.New("request body: superseded by a retry")

func (a *attempt) Read(p []byte) (int, error) {
	rp := a.rp
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if a.gen != rp.gen {
		return 0, errStaleAttempt
	}
	if a.off < int64(len(rp.buf)) && !rp.lost {
		n := copy(p, rp.buf[a.off:])
		a.off += int64(n)
		return n, nil
	}
	if rp.srcErr != nil {
		return 0, rp.srcErr
	}
	n, err := rp.src.Read(p)
	if n > 0 {
		if !rp.lost && len(rp.buf)+n <= rp.max {
			rp.buf = append(rp.buf, p[:n]...)
		} else {
			rp.lost, rp.buf = true, nil
		}
		a.off += int64(n)
	}
	if err != nil {
		rp.srcErr = err
	}
	return n, err
}

// Close does nothing: the client's body belongs to the server, and a
// retry reads it again.
func (a *attempt) Close() error { return nil }
