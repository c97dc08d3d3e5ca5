package goproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls/nodetlstest"
	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestNewChecksFaaSURL: the FaaS URL must be an http(s) URL with a host.
func TestNewChecksFaaSURL(t *testing.T) {
	for _, u := range []string{"", "ftp://127.0.0.1:21", "http://", "https://", "127.0.0.1:8080", "http://[::1", "/function"} {
		if _, err := New(Config{FaaSURL: u}); err == nil || !strings.Contains(err.Error(), "FaaSURL") {
			t.Errorf("FaaSURL %q: %v, want an error naming FaaSURL", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "https://faas.example", "http://h/base/"} {
		p, err := New(Config{FaaSURL: u})
		if err != nil {
			t.Errorf("FaaSURL %q: %v", u, err)
			continue
		}
		p.Close()
	}
}

// TestDefaultRetryBuffer: with RetryBuffer zero, a streamed forwarded body
// up to DefaultRetryBuffer is kept, so a neighbour that read it and then
// refused it as unknown-node does not lose the request.
func TestDefaultRetryBuffer(t *testing.T) {
	faas := newSummer(t)
	refusing := newPeer(t, 403, "unknown-node", true)
	_, url := forwarder(t, Config{}, faas.srv.URL, refusing.srv.URL, "", true)
	body := strings.Repeat("d", DefaultRetryBuffer)
	resp, err := http.Post(url+"/function/fn", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || faas.sum.Load() != sha256.Sum256([]byte(body)) {
		t.Fatalf("status %d; the local FaaS got the body: %v", resp.StatusCode, faas.sum.Load() == sha256.Sum256([]byte(body)))
	}
}

// TestCounterLinger: the counters of a function that left the routing
// state are still kept CounterLinger (by default DefaultCounterLinger)
// after it left, then removed.
func TestCounterLinger(t *testing.T) {
	for _, tt := range []struct {
		linger time.Duration
		kept   int
	}{
		{0, 1}, // DefaultCounterLinger: a minute
		{time.Nanosecond, 0},
	} {
		p, err := New(Config{FaaSURL: "http://127.0.0.1:1", CounterLinger: tt.linger})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []proxyctl.State{
			{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}}},
			{Self: "a"}, // fn leaves: retired
			{Self: "a"}, // later: removed once its linger is over
		} {
			if err := p.Apply(context.Background(), st); err != nil {
				t.Fatal(err)
			}
		}
		if n := p.Counters().Len(); n != tt.kept {
			t.Errorf("linger %v: %d functions with counters, want %d", tt.linger, n, tt.kept)
		}
		p.Close()
	}
}

// TestUserTLS: with UserTLS the user port speaks TLS with the operator's
// certificate.
func TestUserTLS(t *testing.T) {
	cert := nodetlstest.Cert(t, "user-port", -time.Hour, time.Hour)
	faas := newSummer(t)
	p, err := New(Config{FaaSURL: faas.srv.URL, UserTLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := serveOn(t, p.Serve)
	c := clientWith(nil)
	resp, err := c.Post("https://"+addr+"/function/fn", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, cert.Certificate[0]) {
		t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
}

// TestServeReportsListenerFailure: Serve and ServeNodes return an error
// naming the proxy when their listener fails, plain or TLS.
func TestServeReportsListenerFailure(t *testing.T) {
	cert := nodetlstest.Cert(t, "a", -time.Hour, time.Hour)
	plain, err := New(Config{FaaSURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	withTLS, err := New(Config{FaaSURL: "http://127.0.0.1:1", Certificate: &cert,
		UserTLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, serve := range map[string]func(context.Context, net.Listener) error{
		"Serve": plain.Serve, "ServeNodes": plain.ServeNodes,
		"Serve TLS": withTLS.Serve, "ServeNodes TLS": withTLS.ServeNodes,
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if err := serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "embedded proxy") {
			t.Errorf("%s on a closed listener: %v", name, err)
		}
	}
}

// TestNewChecksCertificate: an expired, or not yet valid, data-plane
// certificate is refused.
func TestNewChecksCertificate(t *testing.T) {
	for name, cert := range map[string]tls.Certificate{
		"expired":       nodetlstest.Cert(t, "a", -2*time.Hour, -time.Hour),
		"not yet valid": nodetlstest.Cert(t, "a", time.Hour, 2*time.Hour),
	} {
		if _, err := New(Config{FaaSURL: "http://127.0.0.1:1", Certificate: &cert}); err == nil || !strings.Contains(err.Error(), "Certificate") {
			t.Errorf("%s certificate: %v, want an error naming Certificate", name, err)
		}
	}
}

// TestApplyCancelled: Apply with a context already done changes nothing
// and returns the context's error.
func TestApplyCancelled(t *testing.T) {
	p, err := New(Config{FaaSURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Apply(ctx, localOnly("fn")); err != context.Canceled {
		t.Fatalf("Apply: %v, want context.Canceled", err)
	}
	if n := p.Counters().Len(); n != 0 {
		t.Fatalf("a cancelled Apply created counters for %d functions", n)
	}
}
