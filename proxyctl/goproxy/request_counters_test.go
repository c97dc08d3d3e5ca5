package goproxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestReceivedFromNeighbourCounted: a forwarded request served here is
// counted as received from its neighbour, not as offered by a user.
func TestReceivedFromNeighbourCounted(t *testing.T) {
	p, url := appliedProxy(t, Config{FaaSURL: newBackend(t, "faas").srv.URL}, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: "http://127.0.0.1:1", TokenIn: tokBA, TokenOut: tokAB}}})
	for _, from := range []string{"b", "b", ""} {
		if got := sendAs(t, "POST", url+"/function/fn", strings.NewReader("x"), 1, from); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	tot, _ := p.Counters().Totals(context.Background())
	f := tot.Functions[0]
	if f.Offered != 1 || f.Local != 3 || f.FromNeighbours != 2 || len(f.Neighbours) != 1 || f.Neighbours[0].ID != "b" || f.Neighbours[0].Received != 2 {
		t.Fatalf("counters %+v, want 1 offered, 3 local, 2 received from b", f)
	}
}

// TestTruncatedBodyFailed: a client that declares a small body and ends
// its side of the connection before sending all of it gets an error, the
// FaaS never sees the request, and it is counted failed.
func TestTruncatedBodyFailed(t *testing.T) {
	faas := newBackend(t, "faas")
	p, url := localProxyAt(t, faas.srv.URL, 0)
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /function/fn HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("h", 50))
	c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("status %d, want an error", resp.StatusCode)
	}
	if n := faas.hits.Load(); n != 0 {
		t.Fatalf("the FaaS got %d requests", n)
	}
	tot, _ := p.Counters().Totals(context.Background())
	if f := tot.Functions[0]; f.Offered != 1 || f.Failed != 1 || f.Local != 0 {
		t.Fatalf("counters %+v, want 1 offered, 1 failed, none served", f)
	}
}
