package netlimit

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Reasons of body refusals (BodyError.Reason, and the reason label of the
// refusal metric).
const (
	ReasonBodyTooLarge = "body_too_large"
	ReasonBodyInflight = "body_inflight"
	ReasonBodyTimeout  = "body_timeout"
)

// BodyError is the error reading a request body returns when a limit cuts
// it. Status is the HTTP status to answer.
type BodyError struct {
	Status int
	Reason string
	Err    error // the underlying error, if any
}

func (e *BodyError) Error() string {
	msg := "request body: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *BodyError) Unwrap() error { return e.Err }

// Status returns the HTTP status to answer after err from reading a
// request body: a BodyError's Status, 413 for an http.MaxBytesError, else
// 400.
func Status(err error) int {
	var be *BodyError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &be):
		return be.Status
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// BodyFailure returns the status to answer after err from reading a
// request body (see Status) and makes the response close the connection:
// the rest of the body is unread, and a client that keeps sending it must
// not have it read as its next request.
func BodyFailure(w http.ResponseWriter, err error) int {
	w.Header().Set("Connection", "close")
	return Status(err)
}

// AdmitBody applies the body limits to r: a declared length above
// MaxBodyBytes is answered 413, one that does not fit in the in-flight
// budget 503 (and ok is false: the caller returns). Otherwise it replaces
// r.Body with a Body that enforces the rest (MaxBodyBytes and the budget
// for a body of unknown length, BodyTimeout for any body) and returns it;
// the caller must Release it when its handler returns (a nil Body, for a
// request without a body, may be released too).
func (l *Limiter) AdmitBody(w http.ResponseWriter, r *http.Request) (b *Body, ok bool) {
	n := r.ContentLength
	if n == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	if n > l.cfg.MaxBodyBytes {
		l.counts.bodyTooLarge.Add(1)
		refuseBody(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes is larger than %d", n, l.cfg.MaxBodyBytes))
		return nil, false
	}
	if n > 0 && !l.reserve(n) {
		l.counts.bodyInflight.Add(1)
		refuseBody(w, http.StatusServiceUnavailable, "too many request body bytes in flight; retry later")
		return nil, false
	}
	b = &Body{lim: l, rc: r.Body, declared: n, reserved: max(n, 0)}
	// The server lifts this deadline when the body is complete (before
	// its background read), so it does not limit the handler.
	setReadDeadline(w, time.Now().Add(l.cfg.BodyTimeout))
	r.Body = b
	return b, true
}

func refuseBody(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Connection", "close")
	if code == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	http.Error(w, "dfaas: "+msg, code)
}

// reserve takes n bytes of the in-flight budget if they fit.
func (l *Limiter) reserve(n int64) bool {
	for {
		cur := l.inflight.Load()
		if cur+n > l.cfg.MaxInflightBodyBytes {
			return false
		}
		if l.inflight.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Body is a request body under the limits (see AdmitBody). It may be read
// from another goroutine than the handler's (a proxy's transport does).
type Body struct {
	lim      *Limiter
	rc       io.ReadCloser
	declared int64 // Content-Length, -1 if unknown

	mu       sync.Mutex
	read     int64
	reserved int64
	done     bool  // released: the handler returned
	err      error // sticky refusal
}

// Read implements io.Reader.
func (b *Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	err, read := b.err, b.read
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	max := b.lim.cfg.MaxBodyBytes
	if b.declared < 0 && int64(len(p)) > max+1-read {
		p = p[:max+1-read]
	}
	n, err := b.rc.Read(p)
	return b.account(n, err)
}

// account records n bytes read with err, applying the limits.
func (b *Body) account(n int, err error) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read += int64(n)
	if b.declared < 0 && n > 0 {
		switch {
		case b.read > b.lim.cfg.MaxBodyBytes:
			b.lim.counts.bodyTooLarge.Add(1)
			b.err = &BodyError{Status: http.StatusRequestEntityTooLarge, Reason: ReasonBodyTooLarge,
				Err: &http.MaxBytesError{Limit: b.lim.cfg.MaxBodyBytes}}
			return n - int(b.read-b.lim.cfg.MaxBodyBytes), b.err
		case b.done:
		case !b.lim.reserve(int64(n)):
			b.lim.counts.bodyInflight.Add(1)
			b.err = &BodyError{Status: http.StatusServiceUnavailable, Reason: ReasonBodyInflight}
			return 0, b.err
		default:
			b.reserved += int64(n)
		}
	}
	if err != nil && err != io.EOF && isTimeout(err) {
		b.lim.counts.bodyTimeout.Add(1)
		b.err = &BodyError{Status: http.StatusRequestTimeout, Reason: ReasonBodyTimeout, Err: err}
		err = b.err
	}
	return n, err
}

// Err returns the error of a limit that cut the body, or nil. It is safe
// on a nil Body.
func (b *Body) Err() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Close closes the underlying body.
func (b *Body) Close() error { return b.rc.Close() }

// Release returns the body's bytes to the in-flight budget; the body must
// not be read any more for the request. It is safe on a nil Body and to
// call more than once.
func (b *Body) Release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.done = true
	r := b.reserved
	b.reserved = 0
	b.mu.Unlock()
	b.lim.inflight.Add(-r)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// setReadDeadline sets the read deadline of w's connection, unwrapping
// ResponseWriters as http.ResponseController does (without allocating).
func setReadDeadline(w http.ResponseWriter, t time.Time) {
	var rw any = w
	for {
		switch x := rw.(type) {
		case interface{ SetReadDeadline(time.Time) error }:
			x.SetReadDeadline(t)
			return
		case interface{ Unwrap() http.ResponseWriter }:
			rw = x.Unwrap()
		default:
			return
		}
	}
}

// SetWriteDeadline sets the write deadline of w's connection (to extend
// RequestTimeout for one request), unwrapping ResponseWriters as
// http.ResponseController does (without allocating).
func SetWriteDeadline(w http.ResponseWriter, t time.Time) {
	var rw any = w
	for {
		switch x := rw.(type) {
		case interface{ SetWriteDeadline(time.Time) error }:
			x.SetWriteDeadline(t)
			return
		case interface{ Unwrap() http.ResponseWriter }:
			rw = x.Unwrap()
		default:
			return
		}
	}
}
