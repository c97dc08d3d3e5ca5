package stack

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
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
			if kind == "haproxy" {
				promtest.Binary(t, "haproxy")
			}
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
			cfg.Transport, cfg.Key, cfg.Proxy.Kind = tr, key, kind
			if kind == "haproxy" {
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
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			g, gctx := errgroup.WithContext(ctx)
			s.Run(gctx, g)
			defer func() {
				cancel()
				g.Wait()
			}()
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
