package haproxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls/nodetlstest"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// h2Preface is the HTTP/2 client preface and an empty SETTINGS frame.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"

// TestIntegrationHTTP2Refused: the public frontend speaks HTTP/1 only on
// every port. HAProxy used to take the HTTP/2 preface (prior knowledge,
// in clear text or over TLS) and then carry up to 100 requests at once on
// one connection, past the per-address connection cap.
func TestIntegrationHTTP2Refused(t *testing.T) {
	member := nodetlstest.Cert(t, "a", -time.Hour, time.Hour)
	b := newTLSNode(t, "b")
	b.serveHere(t, proxyctl.Neighbour{ID: "a", URL: "https://127.0.0.1:1", TokenOut: tlsTok('1'), TokenIn: tlsTok('2'), Cert: member.Certificate[0]})
	userFile := writeUserCert(t, nodetlstest.Cert(t, "user", -time.Hour, time.Hour))
	u := startNode(t, newFakeServer(t, "gateway").srv.URL, func(c *Config) { c.UserCertFile = userFile })
	apply(t, u, proxyctl.State{Self: "u", Functions: []proxyctl.Function{{Name: "figlet"}},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 1}}}})
	for _, tt := range []struct {
		name string
		addr string
		tls  *tls.Config
	}{
		{"user port, clear text", strings.TrimPrefix(b.c.publicURL(), "http://"), nil},
		{"user port, TLS", strings.TrimPrefix(u.publicURL(), "http://"), &tls.Config{InsecureSkipVerify: true}},
		{"node port, a member's TLS", b.nodeAddr(), &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{member}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := answerToPreface(t, tt.addr, tt.tls); got != "" && !strings.HasPrefix(got, "HTTP/1.") {
				t.Fatalf("the HTTP/2 preface was answered with %q, want an HTTP/1 answer or a close", got)
			}
		})
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the gateway", n)
	}
}

// answerToPreface sends the HTTP/2 preface to addr (over TLS with cfg, if
// not nil) and returns the first bytes of the answer ("" if none).
func answerToPreface(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if cfg != nil {
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c = tc
	}
	io.WriteString(c, h2Preface)
	buf := make([]byte, 9)
	n, _ := io.ReadFull(bufio.NewReader(c), buf)
	return string(buf[:n])
}

// writeUserCert writes cert and its key as one PEM file, as an operator's
// --proxy-cert, and returns its path.
func writeUserCert(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
	path := filepath.Join(t.TempDir(), "user.pem")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
