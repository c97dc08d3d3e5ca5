package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/internal/netlimit"
)

// Limits bounds the server's listener and the requests it serves:
// connections in total and per client address, idle, header, body and
// whole-request time-outs, header and body sizes, and the request body
// bytes in flight (a function reads its whole body into memory, so this
// bounds the memory bodies take). Every zero field takes a default fit for
// a small edge node (see the fields' documentation).
type Limits = netlimit.Config

// Serve serves the gateway API (Handler) on ln with the server's Limits
// (connection caps, time-outs) until ctx is done, then lets requests in
// flight finish for up to 5 s. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.lim.Serve(ctx, ln, s.Handler()); err != nil {
		return fmt.Errorf("embedded faas: %w", err)
	}
	return nil
}

// Limits returns the limits in force, defaults filled in.
func (s *Server) Limits() Limits { return s.lim.Config() }

// ListenerCollector returns the Prometheus collector of the listener's
// connections and refusals (label listener="faas"); the server's own
// /metrics already exports it.
func (s *Server) ListenerCollector() prometheus.Collector { return s.lim }

// Credentials returns the basic-auth credentials that protect /system/
// (given in Config or generated), or empty strings if it is open.
func (s *Server) Credentials() (user, password string) { return s.user, s.pass }

// generateCredentials returns the user "admin" and a random 256-bit
// password, hex-encoded.
func generateCredentials() (user, password string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generating credentials: %w", err)
	}
	return "admin", hex.EncodeToString(b), nil
}

// readBody reads a request body of at most max bytes: into a buffer of
// its declared length when it has one, so that memory matches what the
// in-flight budget reserved.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > 0 && r.ContentLength <= max {
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, max))
}
