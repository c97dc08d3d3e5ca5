package goproxy

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestParseHead(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		method string
		ok     bool
		status int
		length int64
		close  bool
		hdr    http.Header
	}{
		{"embedded FaaS answer", "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Duration-Seconds: 0.000123\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok",
			"POST", true, 200, 2, false, http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Duration-Seconds": {"0.000123"}, "Date": {"Mon, 01 Jan 2026 00:00:00 GMT"}, "Content-Length": {"2"}}},
		{"lower-case and repeated headers", "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-a: 1\r\nX-A: 2\r\nset-cookie: a=b\r\n\r\n",
			"GET", true, 404, 0, false, http.Header{"Content-Length": {"0"}, "X-A": {"1", "2"}, "Set-Cookie": {"a=b"}}},
		{"hop-by-hop and served-by dropped, close noted", "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nKeep-Alive: timeout=5\r\nDFaaS-Served-By: liar\r\nContent-Length: 0\r\n\r\n",
			"GET", true, 200, 0, true, http.Header{"Content-Length": {"0"}}},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", "GET", true, 200, 1, true, http.Header{"Content-Length": {"1"}}},
		{"HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD", true, 200, 0, false, http.Header{"Content-Length": {"99"}}},
		{"204 without length", "HTTP/1.1 204 No Content\r\n\r\n", "GET", true, 204, 0, false, http.Header{}},
		{"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", true, 200, 0, false, http.Header{"Content-Length": {"0"}}},
		{"chunked: general path", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", false, 0, 0, false, nil},
		{"until close: general path", "HTTP/1.1 200 OK\r\n\r\nabc", "GET", false, 0, 0, false, nil},
		{"informational: general path", "HTTP/1.1 100 Continue\r\n\r\n", "GET", false, 0, 0, false, nil},
		{"incomplete head", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "GET", false, 0, 0, false, nil},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "GET", false, 0, 0, false, nil},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n", "GET", false, 0, 0, false, nil},
		{"folded header", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", "GET", false, 0, 0, false, nil},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "GET", false, 0, 0, false, nil},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n", "GET", false, 0, 0, false, nil},
		{"control character", "HTTP/1.1 200 OK\r\nX-A: 1\x00\r\nContent-Length: 0\r\n\r\n", "GET", false, 0, 0, false, nil},
		{"leading newline", "\n\r\n\r\n", "GET", false, 0, 0, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h head
			if ok := parseHead([]byte(tt.in), tt.method, &h); ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if !tt.ok {
				return
			}
			got := http.Header{}
			h.commit([]byte(tt.in), got)
			if h.status != tt.status || h.length != tt.length || h.close != tt.close || !equalHeaders(got, tt.hdr) {
				t.Fatalf("status %d length %d close %v headers %v", h.status, h.length, h.close, got)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestParseHeadAllocatesNothing(t *testing.T) {
	in := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: x\r\nContent-Length: 2\r\n\r\nok")
	var h head
	if n := testing.AllocsPerRun(1000, func() { parseHead(in, "POST", &h) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// FuzzParseHead checks the fast parser against http.ReadResponse: whenever
// it accepts an answer, ReadResponse accepts it too, with the same status,
// body length and end-to-end headers.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 204 No Content\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nx-Weird-KEY: v\r\n\r\nabc",
		"HTTP/1.1 403 Forbidden\r\nDfaas-Rejected: unknown-node\r\nDFaaS-Served-By: b\r\ndfaas-rejected: x\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, isHead bool) {
		method := http.MethodGet
		if isHead {
			method = http.MethodHead
		}
		for _, peer := range []bool{false, true} {
			checkParseHead(t, in, method, peer)
		}
	})
}

// checkParseHead checks parseHeadFrom(in, method, peer) against
// http.ReadResponse (see FuzzParseHead): for a neighbour's answer (peer)
// DFaaS-Served-By is kept and the first DFaaS-Rejected value located.
func checkParseHead(t *testing.T, in []byte, method string, peer bool) {
	var h head
	if !parseHeadFrom(in, method, peer, &h) {
		return
	}
	got := http.Header{}
	h.commit(in, got)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("fast parser accepted %q, ReadResponse: %v", in, err)
	}
	defer resp.Body.Close()
	want := resp.Header.Clone()
	for k := range want {
		if hopByHop(k) || k == keyServedBy && !peer {
			delete(want, k)
		}
	}
	if resp.ContentLength >= 0 && method != http.MethodHead && h.length != resp.ContentLength ||
		resp.StatusCode != h.status || !equalHeaders(got, want) {
		t.Fatalf("%q (peer %v): fast %d/%d %v, ReadResponse %d/%d %v", in, peer, h.status, h.length, got, resp.StatusCode, resp.ContentLength, want)
	}
	if h.close != resp.Close && !strings.Contains(strings.ToLower(string(in)), "connection") {
		t.Fatalf("%q: close %v, ReadResponse %v", in, h.close, resp.Close)
	}
	v, ok := h.rejected(in)
	if rv := resp.Header[keyRejected]; ok != (len(rv) > 0) || ok && string(v) != rv[0] {
		t.Fatalf("%q: DFaaS-Rejected %q (%v), ReadResponse %q", in, v, ok, rv)
	}
}
