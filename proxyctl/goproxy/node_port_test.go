package goproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls/nodetlstest"
	"github.com/dfaas-go/dfaas/proxyctl"
)

// nodePortRequest sends a request to the node port at base with the
// DFaaS-Node-ID values ids (none if nil) and credential token; it returns
// the answer.
func nodePortRequest(t *testing.T, c *http.Client, url string, ids []string, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader("payload"))
	if ids != nil {
		req.Header[proxyctl.HeaderNodeID] = ids
	}
	if token != "" {
		req.Header.Set(proxyctl.HeaderNodeToken, token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestPlainNodePort: without a Certificate the node port still takes
// forwarded requests only: one DFaaS-Node-ID, not empty, of a neighbour
// with its credential. Its refusals are 403 unknown-node naming this node
// once it has a routing state; its health path answers.
func TestPlainNodePort(t *testing.T) {
	faas := newBackend(t, "faas")
	p, err := New(Config{FaaSURL: faas.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	base := "http://" + serveOn(t, p.ServeNodes)
	url := base + "/function/fn"

	// Before the first Apply: refused, without a Served-By.
	resp, _ := nodePortRequest(t, http.DefaultClient, url, nil, "")
	if resp.StatusCode != 403 || resp.Header.Get(proxyctl.HeaderRejected) != "unknown-node" || len(resp.Header.Values(proxyctl.HeaderServedBy)) != 0 {
		t.Fatalf("before Apply: status %d, headers %v", resp.StatusCode, resp.Header)
	}

	if err := p.Apply(context.Background(), proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", TokenIn: tokBA, TokenOut: tokAB}}}); err != nil {
		t.Fatal(err)
	}
	health, err := http.Get(base + HealthPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(health.Body)
	health.Body.Close()
	if health.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("health: %d %q", health.StatusCode, body)
	}
	for _, tt := range []struct {
		name   string
		ids    []string
		token  string
		status int
	}{
		{"no node ID", nil, tokBA, 403},
		{"empty node ID", []string{""}, tokBA, 403},
		{"two node IDs", []string{"b", "b"}, tokBA, 403},
		{"wrong credential", []string{"b"}, tokAB, 403},
		{"a neighbour", []string{"b"}, tokBA, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := faas.hits.Load()
			resp, _ := nodePortRequest(t, http.DefaultClient, url, tt.ids, tt.token)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if hits := faas.hits.Load() - before; (tt.status == 200) != (hits == 1) {
				t.Fatalf("the FaaS got %d requests", hits)
			}
			if tt.status == 403 && (resp.Header.Get(proxyctl.HeaderRejected) != "unknown-node" || resp.Header.Get(proxyctl.HeaderServedBy) != "a") {
				t.Fatalf("refusal headers %v", resp.Header)
			}
		})
	}
}

// TestUserPortRefusesNodeHeaders: with a Certificate, a request on the
// user port carrying either a node ID or a node credential is refused
// (forwarded requests go to the node port); the FaaS never sees it.
func TestUserPortRefusesNodeHeaders(t *testing.T) {
	a := newTLSNode(t, "a")
	serveFn(t, a)
	url := "http://" + a.user + "/function/fn"
	for _, tt := range []struct {
		name  string
		ids   []string
		token string
	}{
		{"node ID only", []string{"b"}, ""},
		{"credential only", nil, tok('2')},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := nodePortRequest(t, http.DefaultClient, url, tt.ids, tt.token)
			if resp.StatusCode != 403 || resp.Header.Get(proxyctl.HeaderRejected) != "unknown-node" {
				t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
			}
		})
	}
	if n := a.faasHits.Load(); n != 0 {
		t.Fatalf("the FaaS got %d requests", n)
	}
	if resp, _ := nodePortRequest(t, http.DefaultClient, url, nil, ""); resp.StatusCode != 200 {
		t.Fatalf("user request: status %d", resp.StatusCode)
	}
}

// TestHTTPSNeighbourNeedsCertificate: a routing state with an https
// neighbour is refused by a proxy without a Certificate.
func TestHTTPSNeighbourNeedsCertificate(t *testing.T) {
	p, err := New(Config{FaaSURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Apply(context.Background(), proxyctl.State{Self: "a",
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "https://127.0.0.1:1", Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true,
			Cert: nodetlstest.Cert(t, "b", -time.Hour, time.Hour).Certificate[0]}}})
	if err == nil || !strings.Contains(err.Error(), "Certificate") {
		t.Fatalf("Apply: %v, want an error naming the missing Certificate", err)
	}
}

// trackedListener counts the connections it accepts and those closed.
type trackedListener struct {
	net.Listener
	accepted, closed *atomic.Int64
}

func (l trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	return &trackedConn{Conn: c, closed: l.closed}, nil
}

type trackedConn struct {
	net.Conn
	closed *atomic.Int64
	once   atomic.Bool
}

func (c *trackedConn) Close() error {
	if c.once.CompareAndSwap(false, true) {
		c.closed.Add(1)
	}
	return c.Conn.Close()
}

// TestNeighbourTransportLifetime: the mutual-TLS client to an https
// neighbour (the fast client for a small body, http.Transport for a
// streamed one) is kept across Apply while the neighbour and its
// certificate stay (one connection serves requests before and after), its
// idle connections are closed when the neighbour leaves the routing state,
// and by Close.
func TestNeighbourTransportLifetime(t *testing.T) {
	for _, size := range []int{1, smallBody + 1} {
		t.Run(strconv.Itoa(size), func(t *testing.T) { testNeighbourTransportLifetime(t, strings.Repeat("x", size)) })
	}
}

func testNeighbourTransportLifetime(t *testing.T, body string) {
	a, b := newTLSNode(t, "a"), newTLSNode(t, "b")
	var accepted, closed atomic.Int64
	bNode := serveOn(t, func(ctx context.Context, ln net.Listener) error {
		return b.proxy.ServeNodes(ctx, trackedListener{Listener: ln, accepted: &accepted, closed: &closed})
	})
	serveFn(t, b, a.neighbourOf(a.node, tok('1'), tok('2'), false))
	bAt := b.neighbourOf(bNode, tok('2'), tok('1'), true)
	send := func() {
		t.Helper()
		resp, err := http.Post("http://"+a.user+"/function/fn", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get(proxyctl.HeaderForwardedTo) != "b" || string(got) != body {
			t.Fatalf("status %d, forwarded to %q, %d of %d bytes echoed", resp.StatusCode, resp.Header.Get(proxyctl.HeaderForwardedTo), len(got), len(body))
		}
	}
	waitClosed := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); closed.Load() < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d connections to b closed", closed.Load(), accepted.Load())
			}
		}
	}
	forwardAll(t, a, bAt)
	send()
	forwardAll(t, a, bAt) // the same neighbour, the same certificate
	send()
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d connections to b for two requests across a re-Apply, want 1", n)
	}
	// b leaves the routing state: its idle connection is closed.
	if err := a.proxy.Apply(context.Background(), proxyctl.State{Self: "a"}); err != nil {
		t.Fatal(err)
	}
	waitClosed(1)
	// b back, then the proxy closed.
	forwardAll(t, a, bAt)
	send()
	if n := accepted.Load(); n != 2 {
		t.Fatalf("%d connections to b, want 2", n)
	}
	a.proxy.Close()
	waitClosed(2)
}
