package goproxy

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// fixedFaaS serves on loopback a FaaS that answers every request with
// answer, allocating nothing per request: it reads requests (headers and a
// body of the declared Content-Length) into a fixed buffer.
func fixedFaaS(t *testing.T, answer string) string {
	t.Helper()
	return "http://" + serveConns(t, func(c net.Conn) { serveRaw(c, []byte(answer)) })
}

// serveRaw answers each request read from c with answer until c fails.
func serveRaw(c net.Conn, answer []byte) {
	var buf [64 << 10]byte
	n := 0
	for {
		k, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += k
		for {
			end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if end < 0 {
				break
			}
			size := end + 4
			if i := bytes.Index(buf[:end], []byte("\r\nContent-Length: ")); i >= 0 {
				v := buf[i+len("\r\nContent-Length: ") : end+2]
				v = v[:bytes.IndexByte(v, '\r')]
				l, err := strconv.Atoi(string(v)) // the conversion does not allocate
				if err != nil {
					return
				}
				size += l
			}
			if n < size {
				break
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
			n = copy(buf[:], buf[size:n])
		}
		if n == len(buf) {
			return
		}
	}
}

// plainWriter is an http.ResponseWriter that keeps nothing but the status
// and reuses its header map. Like the server's, it is an io.StringWriter.
type plainWriter struct {
	h    http.Header
	code int
}

func (w *plainWriter) Header() http.Header         { return w.h }
func (w *plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *plainWriter) WriteHeader(code int)        { w.code = code }

func (w *plainWriter) WriteString(s string) (int, error) { return len(s), nil }

// TestRequestAllocs pins how many allocations the proxy's handler makes
// for a local request with a small body (the fast path), one forwarded to
// a neighbour (its fast path), a rejected one, one refused because its
// function's queue is full and one refused without a route, beyond those of the server that calls it: a regression fails
// here. The FaaS, the request and the response
// writer allocate nothing per request in this test.
func TestRequestAllocs(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Wed, 02 Dec 2026 14:00:00 GMT\r\nContent-Length: 2\r\n\r\nok"
	faas, nb := fixedFaaS(t, answer), fixedFaaS(t, answer)
	p, err := New(Config{FaaSURL: faas})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Apply(context.Background(), proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "fn"}, {Name: "full", Concurrency: 1, MaxQueue: 1}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: nb, Functions: []string{"far"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "fn", Local: 1}, {Function: "busy", Reject: 1},
			{Function: "far", Forward: []strategy.Share{{Node: "b", Share: 1}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	p.state.Load().t.queue("full").n.Store(2) // its slot and its queue taken
	const runs = 200
	body := []byte("hello world")
	for _, tt := range []struct {
		name, path string
		code       int
		max        float64 // allocations per request
	}{
		// The body's limits (netlimit.Body) and the FaaS's answer
		// headers (one string and one slice for all of them).
		{"local", "/function/fn", http.StatusOK, 3},
		// The same: nothing for the neighbour's identity and
		// credential, nor for the body.
		{"forwarded", "/function/far", http.StatusOK, 3},
		{"rejected", "/function/busy", http.StatusTooManyRequests, 0},
		{"queue full", "/function/full", http.StatusTooManyRequests, 0},
		{"no route", "/function/nowhere", http.StatusNotFound, 0},
	} {
		reqs := make([]*http.Request, runs+1)
		for i := range reqs {
			reqs[i] = httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(body))
		}
		w := &plainWriter{h: http.Header{}}
		i := 0
		n := testing.AllocsPerRun(runs, func() {
			clear(w.h)
			w.code = 0
			p.ServeHTTP(w, reqs[i])
			i++
		})
		if w.code != tt.code {
			t.Fatalf("%s: status %d, want %d", tt.name, w.code, tt.code)
		}
		if n > tt.max {
			t.Errorf("%s: %.1f allocations per request, want at most %.0f", tt.name, n, tt.max)
		}
		t.Logf("%s: %.1f allocations per request", tt.name, n)
	}
}
