package netlimit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownGrace is how long Serve lets requests in flight finish once its
// context is done.
const shutdownGrace = 5 * time.Second

// Server returns an http.Server serving h with the Limiter's time-outs,
// header cap and ConnState hook. Serve it on Listener(ln) for the
// connection caps. h is not wrapped: wrap it with Handler, or call
// AdmitBody in it, for the body caps and the body time-out.
//
// The server speaks HTTP/1 only, over TLS too: the caps count
// connections, and HTTP/2 would carry up to 250 requests at once on each.
func (l *Limiter) Server(h http.Handler) *http.Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	return &http.Server{
		Protocols:         &protos,
		Handler:           h,
		ReadHeaderTimeout: l.cfg.HeaderTimeout,
		// A backstop for handlers that do not call AdmitBody, which
		// sets the body's own read deadline.
		ReadTimeout:    l.cfg.HeaderTimeout + l.cfg.BodyTimeout,
		WriteTimeout:   l.cfg.RequestTimeout,
		IdleTimeout:    l.cfg.IdleTimeout,
		MaxHeaderBytes: l.cfg.MaxHeaderBytes,
		ConnState:      l.ConnState,
		ErrorLog:       slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
}

// Serve serves h on Listener(ln) with Server(h) until ctx is done, then
// shuts the server down, letting requests in flight finish for up to 5 s.
// It closes ln. It returns nil after a shutdown, else the error that
// stopped serving. Wrap h with Handler unless it calls AdmitBody itself.
func (l *Limiter) Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := l.Server(h)
	return l.serve(ctx, srv, ln, func() error { return srv.Serve(l.Listener(ln)) })
}

// serve runs serve until ctx is done, then shuts srv down.
func (l *Limiter) serve(ctx context.Context, srv *http.Server, ln net.Listener, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// ServeTLS is Serve over TLS with configuration cfg (its certificates
// included): the connection caps apply to the TCP connections, and the TLS
// handshake must finish within the header time-out.
func (l *Limiter) ServeTLS(ctx context.Context, ln net.Listener, h http.Handler, cfg *tls.Config) error {
	srv := l.Server(h)
	srv.TLSConfig = cfg
	return l.serve(ctx, srv, ln, func() error { return srv.ServeTLS(l.Listener(ln), "", "") })
}

// Handler wraps h with the body caps and the body time-out (AdmitBody).
func (l *Limiter) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := l.AdmitBody(w, r)
		if !ok {
			return
		}
		defer b.Release()
		h.ServeHTTP(w, r)
	})
}
