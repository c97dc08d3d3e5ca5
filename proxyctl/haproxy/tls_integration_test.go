package haproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls/nodetlstest"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// tlsNode is an agent HAProxy with a data-plane certificate (node port on
// loopback) in front of a gateway that echoes request bodies.
type tlsNode struct {
	id   strategy.NodeID
	cert tls.Certificate
	c    *Controller
	hits atomic.Int64 // requests that reached the gateway
	leak atomic.Int64 // ... with a credential
}

func newTLSNode(t *testing.T, id strategy.NodeID) *tlsNode {
	t.Helper()
	n := &tlsNode{id: id, cert: nodetlstest.Cert(t, string(id), -time.Hour, time.Hour)}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok\n")
			return
		}
		n.hits.Add(1)
		if r.Header.Get(proxyctl.HeaderNodeToken) != "" {
			n.leak.Add(1)
		}
		io.Copy(w, r.Body)
	}))
	t.Cleanup(gw.Close)
	n.c = startNode(t, gw.URL, func(c *Config) {
		c.Certificate = &n.cert
		c.NodeListenAddr = freeAddr(t)
	})
	return n
}

func (n *tlsNode) nodeAddr() string { return strings.TrimPrefix(n.c.o.nodeListen, ":") }

// as returns n as a neighbour reached at addr (its node port, or a relay).
func (n *tlsNode) as(addr, tokenOut, tokenIn string, forward bool) proxyctl.Neighbour {
	return proxyctl.Neighbour{ID: n.id, URL: "https://" + addr, Functions: []string{"figlet"}, TokenOut: tokenOut, TokenIn: tokenIn,
		Forward: forward, Cert: n.cert.Certificate[0]}
}

func tlsTok(c byte) string { return strings.Repeat(string(c), 64) }

// serveHere makes n serve figlet and accept forwarded requests from nbs.
func (n *tlsNode) serveHere(t *testing.T, nbs ...proxyctl.Neighbour) {
	t.Helper()
	apply(t, n.c, proxyctl.State{Self: n.id, Functions: []proxyctl.Function{{Name: "figlet"}}, Neighbours: nbs,
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 1}}}})
}

// forwardAll makes n forward every figlet request to nbs, evenly.
func (n *tlsNode) forwardAll(t *testing.T, nbs ...proxyctl.Neighbour) {
	t.Helper()
	r := strategy.Route{Function: "figlet"}
	for _, nb := range nbs {
		r.Forward = append(r.Forward, strategy.Share{Node: nb.ID, Share: 1 / float64(len(nbs))})
	}
	apply(t, n.c, proxyctl.State{Self: n.id, Neighbours: nbs, Decision: strategy.Decision{Routes: []strategy.Route{r}}})
}

func TestIntegrationTLSForwarding(t *testing.T) {
	a, b := newTLSNode(t, "a"), newTLSNode(t, "b")
	relay := nodetlstest.NewRelay(t, b.nodeAddr())
	b.serveHere(t, a.as(a.nodeAddr(), tlsTok('1'), tlsTok('2'), false))
	a.forwardAll(t, b.as(relay.Addr(), tlsTok('2'), tlsTok('1'), true))

	secret := "user-secret-" + strings.Repeat("z", 100)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for i := range 5 {
		resp, err := client.Post(a.c.publicURL()+"/function/figlet", "text/plain", strings.NewReader(secret))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != secret || resp.Header.Get(proxyctl.HeaderServedBy) != "b" {
			t.Fatalf("request %d: %d %q served by %q", i, resp.StatusCode, body, resp.Header.Get(proxyctl.HeaderServedBy))
		}
	}
	rec := relay.Recorded()
	if len(rec) == 0 {
		t.Fatal("the relay saw nothing")
	}
	for _, plain := range []string{secret[:20], tlsTok('2'), proxyctl.HeaderNodeToken, "/function/figlet", "POST", "HTTP/1.1"} {
		if bytes.Contains(rec, []byte(plain)) {
			t.Errorf("%q in clear on the wire (%d bytes recorded)", plain, len(rec))
		}
	}
	if b.leak.Load() != 0 {
		t.Error("the credential reached b's gateway")
	}
}

// nodeClient returns a client presenting cert (none if nil) that accepts
// any server certificate.
func nodeClient(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// forwardedTo sends a forwarded request with identity id and credential
// token; 0 means the connection failed.
func forwardedTo(client *http.Client, url, id, token string) int {
	hdr := map[string]string{proxyctl.HeaderNodeToken: token}
	if id != "" {
		hdr[proxyctl.HeaderNodeID] = id
	}
	o := do(client, http.MethodPost, url, hdr)
	if o.err != nil {
		return 0
	}
	return o.status
}

func TestIntegrationTLSRefusals(t *testing.T) {
	a, b, c := newTLSNode(t, "a"), newTLSNode(t, "b"), newTLSNode(t, "c")
	b.serveHere(t, a.as(a.nodeAddr(), tlsTok('1'), tlsTok('2'), false), c.as(c.nodeAddr(), tlsTok('3'), tlsTok('4'), false))
	url := "https://" + b.nodeAddr() + "/function/figlet"
	for _, tc := range nodetlstest.Refusals(t, &a.cert, &c.cert, "a", tlsTok('2'), tlsTok('9')) {
		t.Run(tc.Name, func(t *testing.T) {
			before := b.hits.Load()
			if got := forwardedTo(nodeClient(tc.Cert), url, tc.ID, tc.Token); got != tc.Want {
				t.Fatalf("status %d, want %d", got, tc.Want)
			}
			if hits := b.hits.Load() - before; (tc.Want == 200) != (hits == 1) {
				t.Fatalf("the gateway got %d requests", hits)
			}
		})
	}
	t.Run("forwarded request on the user port", func(t *testing.T) {
		if got := forwardedTo(http.DefaultClient, b.c.publicURL()+"/function/figlet", "a", tlsTok('2')); got != 403 {
			t.Fatalf("status %d, want 403", got)
		}
	})
	t.Run("removed member, on its kept-alive connection and a new one", func(t *testing.T) {
		cl := nodeClient(&a.cert)
		if got := forwardedTo(cl, url, "a", tlsTok('2')); got != 200 {
			t.Fatalf("before removal: %d", got)
		}
		pid, reloads := b.c.MasterPID(), b.c.Stats().Reloads
		b.serveHere(t, c.as(c.nodeAddr(), tlsTok('3'), tlsTok('4'), false))
		if got := forwardedTo(cl, url, "a", tlsTok('2')); got != 403 {
			t.Fatalf("kept-alive connection after removal: %d, want 403 (credential revoked)", got)
		}
		if got := forwardedTo(nodeClient(&a.cert), url, "a", tlsTok('2')); got != 0 {
			t.Fatalf("new connection after removal: %d, want a refused handshake", got)
		}
		if b.c.MasterPID() != pid || b.c.Stats().Reloads != reloads {
			t.Fatalf("HAProxy reloaded (master %d → %d, %d reloads)", pid, b.c.MasterPID(), b.c.Stats().Reloads-reloads)
		}
	})
	t.Run("neighbour presenting another certificate", func(t *testing.T) {
		// a expects c's certificate at b's node port: it refuses b.
		a.forwardAll(t, proxyctl.Neighbour{ID: "c", URL: "https://" + b.nodeAddr(), Functions: []string{"figlet"},
			TokenOut: tlsTok('4'), Forward: true, Cert: c.cert.Certificate[0]})
		before := b.hits.Load()
		o := do(&http.Client{Timeout: 10 * time.Second}, http.MethodPost, a.c.publicURL()+"/function/figlet", nil)
		if o.status == 200 || b.hits.Load() != before {
			t.Fatalf("request reached b through a slot expecting c: %+v", o)
		}
	})
}

// TestIntegrationTLSMembershipChurn forwards a steady load from a to b and
// c while c leaves and joins again: the trusted sets change through the
// runtime API (no reload: the master PID and the reload count stay), and
// no request is lost.
func TestIntegrationTLSMembershipChurn(t *testing.T) {
	a, b, c := newTLSNode(t, "a"), newTLSNode(t, "b"), newTLSNode(t, "c")
	aAt := a.as(a.nodeAddr(), tlsTok('1'), tlsTok('2'), false)
	b.serveHere(t, aAt)
	c.serveHere(t, aAt)
	nbB, nbC := b.as(b.nodeAddr(), tlsTok('2'), tlsTok('1'), true), c.as(c.nodeAddr(), tlsTok('2'), tlsTok('1'), true)
	a.forwardAll(t, nbB, nbC)
	pids := []int{a.c.MasterPID(), b.c.MasterPID(), c.c.MasterPID()}
	reloads := a.c.Stats().Reloads + b.c.Stats().Reloads + c.c.Stats().Reloads

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	var phase atomic.Value
	phase.Store("start")
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				o := do(client, http.MethodPost, a.c.publicURL()+"/function/figlet", nil)
				sent.Add(1)
				if o.err != nil || o.status != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%+v", o))
					t.Logf("failure in phase %v: %+v", phase.Load(), o)
				}
			}
		})
	}
	waitHits := func(n *tlsNode, more int64) {
		t.Helper()
		want := n.hits.Load() + more
		deadline := time.Now().Add(20 * time.Second)
		for n.hits.Load() < want {
			if time.Now().After(deadline) {
				cancel()
				wg.Wait()
				t.Fatalf("node %s served no more requests", n.id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for range 3 {
		waitHits(c, 20)
		phase.Store("c forgets a")
		c.serveHere(t) // c forgets a first: a's requests to c are refused
		waitHits(b, 20)
		phase.Store("a drops c")
		a.forwardAll(t, nbB) // a learns that c left
		waitHits(b, 20)
		phase.Store("c trusts a")
		c.serveHere(t, aAt) // c trusts a again, then a forwards to it
		phase.Store("a adds c")
		a.forwardAll(t, nbB, nbC)
		phase.Store("steady")
	}
	waitHits(c, 20)
	cancel()
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d requests failed during churn; first: %v", f, sent.Load(), firstErr.Load())
	}
	if got := []int{a.c.MasterPID(), b.c.MasterPID(), c.c.MasterPID()}; fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Errorf("master PIDs %v → %v: HAProxy was restarted", pids, got)
	}
	if r := a.c.Stats().Reloads + b.c.Stats().Reloads + c.c.Stats().Reloads; r != reloads {
		t.Errorf("%d reloads during churn", r-reloads)
	}
	t.Logf("%d requests during churn, %d failed", sent.Load(), failed.Load())
}

// TestIntegrationTLSManyMembers gives the node port more members than
// HAProxy 2.6's runtime API takes in one CA-file payload: Apply reloads
// HAProxy (hitless) instead of failing, every member is accepted, and a
// removed one is refused again.
func TestIntegrationTLSManyMembers(t *testing.T) {
	a, b := newTLSNode(t, "a"), newTLSNode(t, "b")
	nbs := []proxyctl.Neighbour{a.as(a.nodeAddr(), tlsTok('1'), tlsTok('2'), false)}
	var last tls.Certificate
	for i := range 60 {
		id := fmt.Sprintf("m%02d", i)
		last = nodetlstest.Cert(t, id, -time.Hour, time.Hour)
		nbs = append(nbs, proxyctl.Neighbour{ID: strategy.NodeID(id), URL: "https://127.0.0.1:9", Functions: []string{"figlet"},
			TokenOut: tlsTok('3'), TokenIn: tlsTok('4'), Cert: last.Certificate[0]})
	}
	reloads := b.c.Stats().Reloads
	b.serveHere(t, nbs...)
	if b.c.Stats().Reloads == reloads {
		t.Fatal("no reload: the CA file fitted the runtime API after all (the test needs more members)")
	}
	url := "https://" + b.nodeAddr() + "/function/figlet"
	if got := forwardedTo(nodeClient(&a.cert), url, "a", tlsTok('2')); got != 200 {
		t.Fatalf("member a: %d", got)
	}
	if got := forwardedTo(nodeClient(&last), url, "m59", tlsTok('4')); got != 200 {
		t.Fatalf("member m59: %d", got)
	}
	b.serveHere(t, nbs[:len(nbs)-1]...)
	if got := forwardedTo(nodeClient(&last), url, "m59", tlsTok('4')); got != 0 {
		t.Fatalf("removed member m59: %d, want a refused handshake", got)
	}
	if got := forwardedTo(nodeClient(&a.cert), url, "a", tlsTok('2')); got != 200 {
		t.Fatalf("member a after m59 left: %d", got)
	}
}
