package goproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls/nodetlstest"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// tlsNode is an embedded proxy with a data-plane certificate, its user
// and node ports on loopback, in front of a FaaS that counts requests.
type tlsNode struct {
	id         strategy.NodeID
	cert       tls.Certificate
	proxy      *Proxy
	user, node string // addresses
	faasHits   atomic.Int64
	leaked     atomic.Int64 // requests that reached the FaaS with a credential
}

func newTLSNode(t *testing.T, id strategy.NodeID) *tlsNode {
	t.Helper()
	return newTLSNodeLimits(t, id, Limits{})
}

func newTLSNodeLimits(t *testing.T, id strategy.NodeID, lim Limits) *tlsNode {
	t.Helper()
	n := &tlsNode{id: id, cert: nodetlstest.Cert(t, string(id), -time.Hour, time.Hour)}
	faas := newEchoFaaS(t, n)
	var err error
	if n.proxy, err = New(Config{FaaSURL: faas, Certificate: &n.cert, Limits: lim}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.proxy.Close() })
	n.user = serveOn(t, n.proxy.Serve)
	n.node = serveOn(t, n.proxy.ServeNodes)
	return n
}

// newEchoFaaS returns the URL of a FaaS answering each request with its
// body, served by node id.
func newEchoFaaS(t *testing.T, n *tlsNode) string {
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.faasHits.Add(1)
		if r.Header.Get(proxyctl.HeaderNodeToken) != "" {
			n.leaked.Add(1)
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Echo-Node", string(n.id))
		w.Write(b)
	})}
	return "http://" + serveOn(t, func(ctx context.Context, ln net.Listener) error {
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			return err
		}
		return nil
	})
}

// neighbourOf describes n as a neighbour reached at addr (its node port,
// or a relay in front of it).
func (n *tlsNode) neighbourOf(addr, tokenOut, tokenIn string, forward bool) proxyctl.Neighbour {
	return proxyctl.Neighbour{ID: n.id, URL: "https://" + addr, Functions: []string{"fn"}, TokenOut: tokenOut, TokenIn: tokenIn,
		Forward: forward, Cert: n.cert.Certificate[0]}
}

func tok(c byte) string { return strings.Repeat(string(c), 64) }

// forwardAll makes a forward every request for fn to the neighbours
// given, in equal shares.
func forwardAll(t *testing.T, a *tlsNode, nbs ...proxyctl.Neighbour) {
	t.Helper()
	r := strategy.Route{Function: "fn"}
	for _, nb := range nbs {
		if nb.Forward {
			r.Forward = append(r.Forward, strategy.Share{Node: nb.ID, Share: 1 / float64(len(nbs))})
		}
	}
	if err := a.proxy.Apply(context.Background(), proxyctl.State{Self: a.id, Neighbours: nbs,
		Decision: strategy.Decision{Routes: []strategy.Route{r}}}); err != nil {
		t.Fatal(err)
	}
}

// serveFn makes n serve fn and accept forwarded requests from nbs.
func serveFn(t *testing.T, n *tlsNode, nbs ...proxyctl.Neighbour) {
	t.Helper()
	if err := n.proxy.Apply(context.Background(), proxyctl.State{Self: n.id, Functions: []proxyctl.Function{{Name: "fn"}},
		Neighbours: nbs}); err != nil {
		t.Fatal(err)
	}
}

// clientWith returns an HTTP client presenting cert (none if nil) to the
// node port, trusting any server.
func clientWith(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// nodeRequest sends a forwarded request to url with the given identity
// and credential; it returns the status (0 when the connection failed).
func nodeRequest(c *http.Client, url, id, token string) int {
	req, _ := http.NewRequest("POST", url, strings.NewReader("payload"))
	req.Header.Set(proxyctl.HeaderNodeID, id)
	req.Header.Set(proxyctl.HeaderNodeToken, token)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestTLSForwarding(t *testing.T) {
	a, b := newTLSNode(t, "a"), newTLSNode(t, "b")
	relay := nodetlstest.NewRelay(t, b.node)
	serveFn(t, b, a.neighbourOf(a.node, tok('1'), tok('2'), false))
	forwardAll(t, a, b.neighbourOf(relay.Addr(), tok('2'), tok('1'), true))

	secret := "user-secret-" + strings.Repeat("z", 100)
	resp, err := http.Post("http://"+a.user+"/function/fn", "text/plain", strings.NewReader(secret))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != secret || resp.Header.Get("Echo-Node") != "b" || resp.Header.Get(proxyctl.HeaderForwardedTo) != "b" {
		t.Fatalf("forwarded request: %d %q served by %q, forwarded to %q", resp.StatusCode, body, resp.Header.Get("Echo-Node"), resp.Header.Get(proxyctl.HeaderForwardedTo))
	}
	rec := relay.Recorded()
	if len(rec) == 0 {
		t.Fatal("the relay saw nothing: the request did not go through it")
	}
	for _, plain := range []string{secret[:20], tok('2'), string(proxyctl.HeaderNodeToken), "/function/fn", "POST"} {
		if bytes.Contains(rec, []byte(plain)) {
			t.Errorf("%q in clear on the wire", plain)
		}
	}
	if b.leaked.Load() != 0 {
		t.Error("the credential reached the FaaS")
	}
}

func TestTLSNodePortRefusals(t *testing.T) {
	a, b := newTLSNode(t, "a"), newTLSNode(t, "b")
	c := newTLSNode(t, "c") // a member of b's, whose certificate a must not use
	serveFn(t, b, a.neighbourOf(a.node, tok('1'), tok('2'), false), c.neighbourOf(c.node, tok('3'), tok('4'), false))
	url := "https://" + b.node + "/function/fn"
	for _, tc := range nodetlstest.Refusals(t, &a.cert, &c.cert, "a", tok('2'), tok('9')) {
		t.Run(tc.Name, func(t *testing.T) {
			before := b.faasHits.Load()
			if got := nodeRequest(clientWith(tc.Cert), url, tc.ID, tc.Token); got != tc.Want {
				t.Fatalf("status %d, want %d", got, tc.Want)
			}
			if hits := b.faasHits.Load() - before; (tc.Want == 200) != (hits == 1) {
				t.Fatalf("the FaaS got %d requests", hits)
			}
		})
	}
	t.Run("forwarded request on the user port", func(t *testing.T) {
		if got := nodeRequest(http.DefaultClient, "http://"+b.user+"/function/fn", "a", tok('2')); got != 403 {
			t.Fatalf("status %d, want 403", got)
		}
	})
	t.Run("removed member, on its kept-alive connection and a new one", func(t *testing.T) {
		cl := clientWith(&a.cert)
		if got := nodeRequest(cl, url, "a", tok('2')); got != 200 {
			t.Fatalf("before removal: %d", got)
		}
		serveFn(t, b, c.neighbourOf(c.node, tok('3'), tok('4'), false))
		if got := nodeRequest(cl, url, "a", tok('2')); got != 403 {
			t.Fatalf("kept-alive connection after removal: %d, want 403", got)
		}
		if got := nodeRequest(clientWith(&a.cert), url, "a", tok('2')); got != 0 {
			t.Fatalf("new connection after removal: %d, want a refused handshake", got)
		}
	})
	t.Run("server with another certificate", func(t *testing.T) {
		// a expects c's certificate at b's address: it refuses b.
		forwardAll(t, a, proxyctl.Neighbour{ID: "c", URL: "https://" + b.node, Functions: []string{"fn"}, TokenOut: tok('4'), Forward: true, Cert: c.cert.Certificate[0]})
		resp, err := http.Post("http://"+a.user+"/function/fn", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
	})
}

// TestTLSMembershipChurnUnderLoad forwards a steady load from a to b and c
// while c leaves and joins again; no request is lost: one refused by a
// node that no longer (or not yet) trusts a is served by the other.
func TestTLSMembershipChurnUnderLoad(t *testing.T) {
	a, b, c := newTLSNode(t, "a"), newTLSNode(t, "b"), newTLSNode(t, "c")
	aAt := a.neighbourOf(a.node, tok('1'), tok('2'), false)
	serveFn(t, b, aAt)
	serveFn(t, c, aAt)
	nbB, nbC := b.neighbourOf(b.node, tok('2'), tok('1'), true), c.neighbourOf(c.node, tok('2'), tok('1'), true)
	forwardAll(t, a, nbB, nbC)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := http.Post("http://"+a.user+"/function/fn", "text/plain", strings.NewReader("load"))
				sent.Add(1)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d (%s): %s", resp.StatusCode, resp.Header.Get(proxyctl.HeaderRejected), b)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	waitHits := func(n *tlsNode, more int64) {
		t.Helper()
		want := n.faasHits.Load() + more
		deadline := time.Now().Add(20 * time.Second)
		for n.faasHits.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("node %s served no more requests", n.id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for range 3 {
		waitHits(c, 20)
		serveFn(t, c) // c forgets a first: a's requests to c are refused
		waitHits(b, 20)
		forwardAll(t, a, nbB) // a learns that c left
		waitHits(b, 20)
		serveFn(t, c, aAt) // c trusts a again, then a forwards to it
		forwardAll(t, a, nbB, nbC)
	}
	waitHits(c, 20)
	cancel()
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed during churn; first: %v", f, sent.Load(), firstErr.Load())
	}
	t.Logf("%d requests, none lost; retries %v", sent.Load(), a.proxy.retries[retryUnreachable].Load()+a.proxy.retries[retryUnknownNode].Load())
}

// TestTLSNodePortHostile sends the node port what a stranger might: plain
// HTTP, garbage, nothing at all. Each connection is answered or closed,
// within the header time-out for a silent one, and the FaaS sees nothing.
func TestTLSNodePortHostile(t *testing.T) {
	b := newTLSNodeLimits(t, "b", Limits{HeaderTimeout: 300 * time.Millisecond})
	for _, tc := range []struct {
		name string
		send string
	}{
		{"plain HTTP", "POST /function/fn HTTP/1.1\r\nHost: b\r\nDFaaS-Node-ID: a\r\nContent-Length: 1\r\n\r\nx"},
		{"garbage", strings.Repeat("\x16\x03\x01\xff\xff", 1000)},
		{"silence", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", b.node)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte(tc.send))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(io.LimitReader(c, 1<<20))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open after 5 s (read %d bytes)", len(got))
			}
			if bytes.Contains(got, []byte("200 OK")) {
				t.Fatalf("answered %q", got)
			}
		})
	}
	if b.faasHits.Load() != 0 {
		t.Fatalf("the FaaS got %d requests", b.faasHits.Load())
	}
}

// TestTLSForwardReusesConnections: requests forwarded over mutual TLS
// reuse one connection, also after it was idle long enough to be checked
// before reuse (see checkIdle): what the server sent after the handshake
// (session tickets) does not make it look closed.
func TestTLSForwardReusesConnections(t *testing.T) {
	a, b := newTLSNode(t, "a"), newTLSNode(t, "b")
	serveFn(t, b, a.neighbourOf(a.node, tok('1'), tok('2'), false))
	forwardAll(t, a, b.neighbourOf(b.node, tok('2'), tok('1'), true))
	for i := range 3 {
		if i > 0 {
			time.Sleep(2 * checkIdle) // the connection idles past checkIdle: not synchronisation
		}
		resp, err := http.Post("http://"+a.user+"/function/fn", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get(proxyctl.HeaderForwardedTo) != "b" {
			t.Fatalf("request %d: status %d, forwarded to %q", i, resp.StatusCode, resp.Header.Get(proxyctl.HeaderForwardedTo))
		}
	}
	if n := b.proxy.lim.Stats().Accepted; n != 1 {
		t.Fatalf("b accepted %d connections from a, want 1", n)
	}
}
