package netlimit

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls/nodetlstest"
)

// TestHTTP1Only: a client cannot multiplex requests past the connection
// caps with HTTP/2: over TLS the server does not agree to h2 (ALPN), in
// clear text it answers the HTTP/2 preface as HTTP/1.
func TestHTTP1Only(t *testing.T) {
	cert := nodetlstest.Cert(t, "netlimit", -time.Hour, time.Hour)
	lim := newLimiter(t, Config{})
	for _, secure := range []bool{true, false} {
		addr := serveProto(t, lim, ok, secure, cert)
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if secure {
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			if p := tc.ConnectionState().NegotiatedProtocol; p == "h2" {
				t.Fatalf("TLS: the server agreed to %q", p)
			}
			c = tc
		}
		// The HTTP/2 preface and an empty SETTINGS frame.
		io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
		line, _ := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(line, "HTTP/1.1 ") {
			t.Errorf("secure %v: the HTTP/2 preface answered with %q, want an HTTP/1.1 status line", secure, line)
		}
	}
}

// serveProto serves h with lim on a loopback port, over TLS with cert if
// secure, until the test ends.
func serveProto(t *testing.T, lim *Limiter, h http.Handler, secure bool, cert tls.Certificate) string {
	t.Helper()
	if !secure {
		return server(t, lim, h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	go func() { done <- lim.ServeTLS(ctx, ln, lim.Handler(h), cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}
