package goproxy

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// TestParseHeadEdges pins the fast answer parser at the edges of what it
// takes: each answer it accepts must read exactly as http.ReadResponse
// reads it (status, body length, end-to-end headers, whether the
// connection closes), and each it refuses goes to the general path, which
// either reads it correctly or fails the request. Accepting an answer it
// should refuse would relay a malformed or misread answer; refusing a
// common one would send it through the slower path.
func TestParseHeadEdges(t *testing.T) {
	const cl0 = "Content-Length: 0\r\n\r\n"
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		// Status lines.
		{"status 200", "HTTP/1.1 200 OK\r\n" + cl0, true},
		{"status 599", "HTTP/1.1 599 Odd\r\n" + cl0, true},
		{"status 600", "HTTP/1.1 600 Odd\r\n" + cl0, false},
		{"informational with a length", "HTTP/1.1 103 Early Hints\r\n" + cl0, false},
		{"status 199", "HTTP/1.1 199 Odd\r\n" + cl0, false},
		{"no reason, 12 bytes", "HTTP/1.1 404\r\n" + cl0, true},
		{"short status line", "HTTP/1.1 20\r\n" + cl0, false},
		{"not HTTP", "HTTX/1.1 200 OK\r\n" + cl0, false},
		{"no space after the version", "HTTP/1.1_200 OK\r\n" + cl0, false},
		{"no space after the status", "HTTP/1.1 200_OK\r\n" + cl0, false},
		{"HTTP 1.0 answer", "HTTP/1.0 200 OK\r\n" + cl0, true},
		{"HTTP 1.2", "HTTP/1.2 200 OK\r\n" + cl0, false},
		{"slash in the status", "HTTP/1.1 3/0 OK\r\n" + cl0, false},
		{"letter in the status", "HTTP/1.1 2x0 OK\r\n" + cl0, false},
		{"colon in the status", "HTTP/1.1 20: OK\r\n" + cl0, false},
		{"tab in the reason", "HTTP/1.1 200 O\tK\r\n" + cl0, true},
		{"control byte in the reason", "HTTP/1.1 200 O\x01K\r\n" + cl0, false},
		{"DEL in the reason", "HTTP/1.1 200 O\x7fK\r\n" + cl0, false},
		// Header lines.
		{"bare LF ends a header line", "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 0\r\n\r\n", false},
		{"empty line before the end", "HTTP/1.1 200 OK\r\n\nX-A: 1\r\n\r\n", false},
		{"value padded with spaces and tabs", "HTTP/1.1 200 OK\r\nX-A: \t 1 2 \t\r\nX-B:3\t\r\n" + cl0, true},
		{"value of blanks only", "HTTP/1.1 200 OK\r\nX-A:  \t \r\n" + cl0, true},
		{"empty value", "HTTP/1.1 200 OK\r\nX-A:\r\n" + cl0, true},
		{"control byte in a value", "HTTP/1.1 200 OK\r\nX-A: 1\x01\r\n" + cl0, false},
		{"DEL in a value", "HTTP/1.1 200 OK\r\nX-A: \x7f\r\n" + cl0, false},
		{"empty key", "HTTP/1.1 200 OK\r\n: 1\r\n" + cl0, false},
		{"key of capitals", "HTTP/1.1 200 OK\r\nID: 7\r\nXX: 8\r\n" + cl0, true},
		{"key in odd case", "HTTP/1.1 200 OK\r\nx-lower-KEY: 1\r\ncontent-TYPE: text/plain\r\n" + cl0, true},
		{"token characters in a key", "HTTP/1.1 200 OK\r\nA!#$%&'*+-.^_`|~09azAZ: 1\r\n" + cl0, true},
		{"semicolon in a key", "HTTP/1.1 200 OK\r\nX;Y: 1\r\n" + cl0, false},
		{"at sign in a key", "HTTP/1.1 200 OK\r\nX@Y: 1\r\n" + cl0, false},
		{"bracket in a key", "HTTP/1.1 200 OK\r\nX[Y: 1\r\n" + cl0, false},
		{"brace in a key", "HTTP/1.1 200 OK\r\nX{Y: 1\r\n" + cl0, false},
		{"slash in a key", "HTTP/1.1 200 OK\r\nX/Y: 1\r\n" + cl0, false},
		{"a zero length, then another", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 2\r\n\r\nok", false},
		{"an 18-digit length", "HTTP/1.1 200 OK\r\nContent-Length: 000000000000000002\r\n\r\nok", true},
		{"a 19-digit length", "HTTP/1.1 200 OK\r\nContent-Length: 0000000000000000002\r\n\r\nok", false},
		{"an empty length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", false},
		{"a length with a sign", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
		{"a length with a colon", "HTTP/1.1 200 OK\r\nContent-Length: 2:\r\n\r\nok", false},
		{"a length of 10", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", true},
		{"Connection close among others", "HTTP/1.1 200 OK\r\nConnection: keep-alive , Close\r\n" + cl0, true},
		{"Connection without close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, closed\r\n" + cl0, true},
		{"Trailer", "HTTP/1.1 200 OK\r\nTrailer: X-A\r\n" + cl0, false},
		{"Upgrade", "HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n" + cl0, false},
		{"Transfer-Encoding in capitals", "HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: identity\r\n" + cl0, false},
		{"304 without a length", "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", true},
		{"205 without a length", "HTTP/1.1 205 Reset Content\r\n\r\n", false},
		{"no header lines", "HTTP/1.1 204 No Content\r\n\r\n", true},
		{"empty", "", false},
		{"end of head only", "\r\n\r\n", false},
		{"CR LF CR", "\r\n\r", false},
		{"one LF", "\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkHead(t, []byte(tt.in), http.MethodGet, tt.ok)
		})
	}
}

// TestParseHeadHeaderCount: up to maxFastHeaders end-to-end header lines
// are parsed in place; one more sends the answer to the general path.
// Hop-by-hop lines do not count.
func TestParseHeadHeaderCount(t *testing.T) {
	answer := func(n int, hop bool) []byte {
		var b bytes.Buffer
		b.WriteString("HTTP/1.1 200 OK\r\n")
		for i := range n - 1 {
			b.WriteString("X-H")
			b.WriteByte(byte('a' + i%26))
			b.WriteByte(byte('a' + i/26))
			b.WriteString(": v\r\n")
			if hop {
				b.WriteString("Keep-Alive: timeout=5\r\n")
			}
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		return b.Bytes()
	}
	checkHead(t, answer(maxFastHeaders, false), http.MethodGet, true)
	checkHead(t, answer(maxFastHeaders, true), http.MethodGet, true)
	checkHead(t, answer(maxFastHeaders+1, false), http.MethodGet, false)
}

// checkHead checks that parseHead's verdict on in is ok and, when it
// accepts it, that it reads as http.ReadResponse does.
func checkHead(t *testing.T, in []byte, method string, ok bool) {
	t.Helper()
	var h head
	if got := parseHead(in, method, &h); got != ok {
		t.Fatalf("parseHead %q: %v, want %v", in, got, ok)
	}
	if !ok {
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("parseHead accepted %q, which ReadResponse refuses: %v", in, err)
	}
	want := resp.Header.Clone()
	for k := range want {
		if hopByHop(k) || k == keyServedBy {
			delete(want, k)
		}
	}
	got := http.Header{}
	h.commit(in, got)
	wantLen := resp.ContentLength
	if wantLen < 0 || method == http.MethodHead {
		wantLen = 0
	}
	if h.status != resp.StatusCode || h.length != wantLen || h.close != resp.Close || !equalHeaders(got, want) {
		t.Fatalf("%q: fast %d len %d close %v %v; ReadResponse %d len %d close %v %v",
			in, h.status, h.length, h.close, got, resp.StatusCode, wantLen, resp.Close, want)
	}
	if h.size != bytes.Index(in, []byte("\r\n\r\n"))+4 {
		t.Fatalf("%q: head of %d bytes", in, h.size)
	}
}
