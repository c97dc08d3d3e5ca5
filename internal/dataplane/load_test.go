package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	for _, c := range []struct {
		in     string
		code   int
		closed bool
		rest   string // what is left after the response
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokNEXT", 200, false, "NEXT"},
		{"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nConnection: close\r\n\r\nNEXT", 429, true, "NEXT"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nNEXT", 200, false, "NEXT"},
		{"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nxNEXT", 200, true, "NEXT"},
		{"HTTP/1.1 200 OK\r\n\r\nto the end", 200, true, ""},
	} {
		br := bufio.NewReader(strings.NewReader(c.in))
		code, closed, err := readResponse(br)
		rest := new(bytes.Buffer)
		rest.ReadFrom(br)
		if err != nil || code != c.code || closed != c.closed || rest.String() != c.rest {
			t.Errorf("%q: %d %v %v, rest %q; want %d %v, rest %q", c.in, code, closed, err, rest, c.code, c.closed, c.rest)
		}
	}
	for _, bad := range []string{"", "HTTP/1.1 2x0 OK\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", "HTTP/1.1 200 OK\r\n" + strings.Repeat("A: b\r\n", maxHeaderLines+1)} {
		if _, _, err := readResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%.60q accepted", bad)
		}
	}
}

// FuzzReadResponse: any input gives a response or an error, never a panic.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, _, err := readResponse(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && (code < 0 || code > 999) {
			t.Errorf("status %d", code)
		}
	})
}

// TestRunLoadChild runs the load generator role against a test server and
// checks its report, and refuses bad arguments.
func TestRunLoadChild(t *testing.T) {
	srv := httptest.NewServer(backend())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	var out bytes.Buffer
	if err := RunChild(context.Background(), roleLoad, []string{addr, "2", "0", "200ms"}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	var rep loadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	// stdin at its end stops the load at once (the caller is gone), so
	// few or no requests; the report is whole either way.
	if rep.Elapsed <= 0 || rep.Elapsed > 200*time.Millisecond+time.Second || int64(len(rep.Latencies)) != rep.Requests {
		t.Errorf("report %+v", rep)
	}
	for _, bad := range [][]string{{addr}, {addr, "0", "0", "1s"}, {addr, "2", "-1", "1s"}, {addr, "2", "0", "nope"}, {addr, "2", "0", "-1s"}} {
		if err := RunChild(context.Background(), roleLoad, bad, strings.NewReader(""), &out); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
