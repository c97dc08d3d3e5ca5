package stack

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/peer/quic"
	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestIntegrationStackNodePort runs a node with a node key, on both proxies: it
// announces an https node port, which refuses a client without a
// member's certificate, and its user port refuses forwarded requests.
func TestIntegrationStackNodePort(t *testing.T) {
	for _, kind := range []string{"embedded", "haproxy"} {
		t.Run(kind, func(t *testing.T) {
			key, err := quic.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			tr, err := quic.Listen(quic.Config{Listen: "127.0.0.1:0", Key: key})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			cfg := testConfig(t)
			cfg.Transport, cfg.Key = tr, key
			s := runStack(t, kind, cfg)
			if !strings.HasPrefix(s.NodeURL(), "https://") || !strings.HasPrefix(s.ProxyURL(), "http://") {
				t.Fatalf("node URL %q, user URL %q", s.NodeURL(), s.ProxyURL())
			}
			cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
			var last error
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				req, _ := http.NewRequest("POST", s.NodeURL()+"/function/figlet", strings.NewReader("x"))
				req.Header.Set(proxyctl.HeaderNodeID, "x")
				if _, last = cl.Do(req); last != nil && !strings.Contains(last.Error(), "connection refused") {
					break
				}
			}
			if last == nil {
				t.Fatal("the node port answered a client without a certificate")
			}
			req, _ := http.NewRequest("POST", s.ProxyURL()+"/function/figlet", strings.NewReader("x"))
			req.Header.Set(proxyctl.HeaderNodeID, "x")
			req.Header.Set(proxyctl.HeaderNodeToken, "y")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("forwarded request on the user port: %d", resp.StatusCode)
			}
		})
	}
}

// runStack runs a stack of cfg with the proxy kind until the test ends.
func runStack(t *testing.T, kind string, cfg Config) *Stack {
	t.Helper()
	cfg.Proxy.Kind = kind
	if kind == "haproxy" {
		promtest.Binary(t, "haproxy")
		free, err := freeTCP(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.ProxyListen = free.String()
		cfg.Proxy.HAProxy.Dir, cfg.Proxy.HAProxy.MetricsAddr = t.TempDir(), "off"
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	s.Run(gctx, g)
	t.Cleanup(func() {
		cancel()
		g.Wait()
		s.Close()
	})
	return s
}

// TestIntegrationStackUserTLS runs a node with an operator's certificate
// (--proxy-cert) on both proxies: users reach its functions over TLS with
// that certificate, and plain HTTP on the user port is not served.
func TestIntegrationStackUserTLS(t *testing.T) {
	file, pool := operatorCert(t)
	for _, kind := range []string{"embedded", "haproxy"} {
		t.Run(kind, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.UserCertFile = file
			s := runStack(t, kind, cfg)
			if !strings.HasPrefix(s.ProxyURL(), "https://") {
				t.Fatalf("user URL %q", s.ProxyURL())
			}
			cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "dfaas.test"}}}
			defer cl.CloseIdleConnections()
			var resp *http.Response
			var err error
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if resp, err = cl.Post(s.ProxyURL()+"/function/figlet", "text/plain", strings.NewReader("hi")); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.TLS == nil {
				t.Fatalf("user request over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
			}
			plain := &http.Client{Timeout: 5 * time.Second}
			if resp, err := plain.Get("http://" + strings.TrimPrefix(s.ProxyURL(), "https://") + "/function/figlet"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Fatal("plain HTTP served on a TLS user port")
				}
			}
		})
	}
}

// operatorCert writes a self-signed certificate for dfaas.test and its key
// in one PEM file, and returns the file and a pool trusting it.
func operatorCert(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dfaas.test"}, DNSNames: []string{"dfaas.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})...)
	file := filepath.Join(t.TempDir(), "user.pem")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return file, pool
}
