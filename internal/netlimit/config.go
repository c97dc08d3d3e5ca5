package netlimit

import (
	"fmt"
	"time"
)

// Defaults of a Config, fit for a small edge node.
const (
	// DefaultMaxConns caps the connections of one listener; it is lowered
	// to an eighth of the process's file-descriptor limit when that is
	// smaller, so that the proxy, the FaaS, the admin server and the
	// connections they open all fit.
	DefaultMaxConns = 1024
	// DefaultIdleTimeout closes a keep-alive connection idle this long.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultHeaderTimeout bounds reading a request line and headers.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout bounds reading a request body (from when the
	// handler starts): a 10 MiB body needs about 2.8 Mbit/s.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultRequestTimeout bounds a request from the end of its headers
	// to the end of its response.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultMaxHeaderBytes bounds a request's line and headers (431
	// above): room for a 100,000-character URL, which then gets its own
	// answer (400 for an invalid function name).
	DefaultMaxHeaderBytes = 128 << 10
	// DefaultMaxBodyBytes bounds a request's body (413 above).
	DefaultMaxBodyBytes = 10 << 20
	// DefaultMaxInflightBodyBytes bounds the bodies of the requests being
	// served at once (503 above).
	DefaultMaxInflightBodyBytes = 64 << 20
	// minConns is the least MaxConns derived from a file-descriptor limit.
	minConns = 16
)

// Config bounds a listener and the HTTP server on it. Every zero field
// takes its default; negative values are refused.
type Config struct {
	// MaxConns caps the connections open at once. At the cap a new
	// connection closes the oldest idle connection of the address holding
	// the most; when none is idle it is answered 503 and closed. If zero,
	// DefaultMaxConns or an eighth of the process's file-descriptor limit
	// (at least 16), whichever is smaller.
	MaxConns int
	// MaxConnsPerIP caps the connections of one client address (an IPv6
	// /64 counts as one address). At the cap a new connection from the
	// address closes the address's oldest idle connection; when none is
	// idle it is answered 429 and closed. If zero, a quarter of MaxConns
	// (at least 1); it is at most MaxConns.
	MaxConnsPerIP int
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request. If zero, DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HeaderTimeout bounds reading a request line and headers; the
	// connection is closed when it expires. If zero,
	// DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// BodyTimeout bounds reading a request body, from when the handler
	// starts; a body still incomplete then fails with 408 and the
	// connection is closed. If zero, DefaultBodyTimeout.
	BodyTimeout time.Duration
	// RequestTimeout bounds a request from the end of its headers to the
	// end of its response (http.Server.WriteTimeout): a response not
	// written by then is cut. A handler may extend it for one request
	// (the embedded proxy does for functions with a longer time-out). If
	// zero, DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers; larger ones get 431. If
	// zero, DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body; larger ones get 413. If zero,
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxInflightBodyBytes bounds the bodies of the requests being served
	// at once: a request whose declared length (Content-Length) does not
	// fit gets 503 before any of its body is read; a body without a
	// declared length is counted as it is read and fails with 503 when it
	// no longer fits. If zero, DefaultMaxInflightBodyBytes; it is at least
	// MaxBodyBytes.
	MaxInflightBodyBytes int64
}

// WithDefaults returns c with every zero field set to its default, given
// the process's file-descriptor limit fdLimit (0 if unknown). It does not
// validate c.
func (c Config) WithDefaults(fdLimit uint64) Config {
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
		if fdLimit > 0 && fdLimit/8 < uint64(c.MaxConns) {
			c.MaxConns = max(minConns, int(fdLimit/8))
		}
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = max(1, c.MaxConns/4)
	}
	c.MaxConnsPerIP = min(c.MaxConnsPerIP, c.MaxConns)
	c.IdleTimeout = or(c.IdleTimeout, DefaultIdleTimeout)
	c.HeaderTimeout = or(c.HeaderTimeout, DefaultHeaderTimeout)
	c.BodyTimeout = or(c.BodyTimeout, DefaultBodyTimeout)
	c.RequestTimeout = or(c.RequestTimeout, DefaultRequestTimeout)
	c.MaxHeaderBytes = or(c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	c.MaxBodyBytes = or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.MaxInflightBodyBytes = max(or(c.MaxInflightBodyBytes, DefaultMaxInflightBodyBytes), c.MaxBodyBytes)
	return c
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Validate reports the first negative field.
func (c Config) Validate() error {
	fields := []struct {
		name string
		neg  bool
		v    any
	}{
		{"MaxConns", c.MaxConns < 0, c.MaxConns},
		{"MaxConnsPerIP", c.MaxConnsPerIP < 0, c.MaxConnsPerIP},
		{"IdleTimeout", c.IdleTimeout < 0, c.IdleTimeout},
		{"HeaderTimeout", c.HeaderTimeout < 0, c.HeaderTimeout},
		{"BodyTimeout", c.BodyTimeout < 0, c.BodyTimeout},
		{"RequestTimeout", c.RequestTimeout < 0, c.RequestTimeout},
		{"MaxHeaderBytes", c.MaxHeaderBytes < 0, c.MaxHeaderBytes},
		{"MaxBodyBytes", c.MaxBodyBytes < 0, c.MaxBodyBytes},
		{"MaxInflightBodyBytes", c.MaxInflightBodyBytes < 0, c.MaxInflightBodyBytes},
	}
	for _, f := range fields {
		if f.neg {
			return fmt.Errorf("limits: %s is negative (%v); zero takes the default", f.name, f.v)
		}
	}
	return nil
}
