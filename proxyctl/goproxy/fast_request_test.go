package goproxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestFastPathRequestWire checks the bytes the fast client writes to the
// FaaS: the request line with the path escaped as url.URL does and the
// query, Host naming the FaaS, the client's headers, exactly one
// Content-Length (0 for a POST, PUT or PATCH without a body, none for
// other methods without one) and the body.
func TestFastPathRequestWire(t *testing.T) {
	faas := newRawFaaS(t, okAnswer)
	_, url := localProxyAt(t, faas.url, 0)
	host := strings.TrimPrefix(faas.url, "http://")
	for _, tt := range []struct {
		method, path, body string
		line               string // the request line written
		length             string // the Content-Length written, "" for none
	}{
		{"POST", "/function/fn/sub?q=1&r=%20", "hello", "POST /function/fn/sub?q=1&r=%20 HTTP/1.1", "5"},
		{"POST", "/function/fn", "", "POST /function/fn HTTP/1.1", "0"},
		{"PUT", "/function/fn", "", "PUT /function/fn HTTP/1.1", "0"},
		{"PATCH", "/function/fn", "", "PATCH /function/fn HTTP/1.1", "0"},
		{"GET", "/function/fn", "", "GET /function/fn HTTP/1.1", ""},
		{"DELETE", "/function/fn", "", "DELETE /function/fn HTTP/1.1", ""},
		{"GET", "/function/fn/a%20b/%C3%BC/%22q%22", "", "GET /function/fn/a%20b/%C3%BC/%22q%22 HTTP/1.1", ""},
		{"GET", "/function/fn/azAZ09-._~!$&'()*+,;=:@", "", "GET /function/fn/azAZ09-._~!$&'()*+,;=:@ HTTP/1.1", ""},
		{"GET", "/function/fn/%5B%5D%7B%7D%60%5E%7C", "", "GET /function/fn/%5B%5D%7B%7D%60%5E%7C HTTP/1.1", ""},
		{"POST", "/function/fn", strings.Repeat("9", 9), "POST /function/fn HTTP/1.1", "9"},
		{"POST", "/function/fn", strings.Repeat("x", 10), "POST /function/fn HTTP/1.1", "10"},
		{"POST", "/function/fn", strings.Repeat("x", 100), "POST /function/fn HTTP/1.1", "100"},
		{"POST", "/function/fn", strings.Repeat("x", 1234), "POST /function/fn HTTP/1.1", "1234"},
		{"POST", "/function/fn", strings.Repeat("x", 10000), "POST /function/fn HTTP/1.1", "10000"},
		{"POST", "/function/fn", strings.Repeat("x", smallBody), "POST /function/fn HTTP/1.1", strconv.Itoa(smallBody)},
	} {
		req, _ := http.NewRequest(tt.method, url+tt.path, strings.NewReader(tt.body))
		if tt.body == "" {
			req.Body = nil
		}
		req.Header.Set("X-Client", "c")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != tt.body {
			t.Fatalf("%s %s: status %d, %d bytes back", tt.method, tt.path, resp.StatusCode, len(got))
		}
		raw := faas.lastRaw()
		head, body, _ := strings.Cut(raw, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		var lengths []string
		hdr := map[string]string{}
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ": ")
			if k == "Content-Length" {
				lengths = append(lengths, v)
			}
			hdr[k] = v
		}
		if lines[0] != tt.line || hdr["Host"] != host || hdr["X-Client"] != "c" || body != tt.body {
			t.Fatalf("%s %s: the FaaS read %q", tt.method, tt.path, raw)
		}
		if want := []string{tt.length}; tt.length == "" && len(lengths) != 0 || tt.length != "" && (len(lengths) != 1 || lengths[0] != want[0]) {
			t.Fatalf("%s %s with %d bytes: Content-Length %q, want %q", tt.method, tt.path, len(tt.body), lengths, tt.length)
		}
	}
}

// TestHeaderValuesWithLineBreaksDropped: a header value holding CR or LF
// (which a server of the caller's own might let through to the handler)
// is not written to the FaaS, so it cannot inject a header or a request.
func TestHeaderValuesWithLineBreaksDropped(t *testing.T) {
	faas := newRawFaaS(t, okAnswer)
	p, _ := localProxyAt(t, faas.url, 0)
	for _, v := range []string{"1\r\nX-Injected: yes", "1\nX-Injected: yes", "1\rX-Injected: yes"} {
		r := httptest.NewRequest("GET", "/function/fn", nil)
		r.Header.Set("X-Ok", "fine")
		r.Header["X-Evil"] = []string{v}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		raw := faas.lastRaw()
		if w.Code != 200 || strings.Contains(raw, "X-Injected") || strings.Contains(raw, "X-Evil") || !strings.Contains(raw, "\r\nX-Ok: fine\r\n") {
			t.Fatalf("value %q: status %d; the FaaS read %q", v, w.Code, raw)
		}
	}
}

// TestWritePathAllocatesNothing: a path made only of characters that need
// no escaping is written as it is, without allocating.
func TestWritePathAllocatesNothing(t *testing.T) {
	w := bufio.NewWriter(io.Discard)
	path := "/function/azAZ09/-._~!$&'()*+,;=:@"
	if n := testing.AllocsPerRun(100, func() { writePath(w, path) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// TestFaaSURLDefaultPort: a FaaS URL without a port means port 80.
func TestFaaSURLDefaultPort(t *testing.T) {
	_, url := localProxyAt(t, "http://127.0.0.77", 0)
	resp, body := doReq(t, "GET", url+"/function/fn", "")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "127.0.0.77:80") {
		t.Fatalf("status %d %q, want 502 naming 127.0.0.77:80", resp.StatusCode, body)
	}
}

// TestFaaSSwitchingProtocols: a FaaS that answers 101 Switching Protocols
// to a function request gets 502: the proxy relays HTTP only.
func TestFaaSSwitchingProtocols(t *testing.T) {
	faas := newRawFaaS(t, func(_, _ int, c net.Conn, _ *http.Request, _ []byte) bool {
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		return true
	})
	_, url := localProxyAt(t, faas.url, 0)
	if resp, _ := doReq(t, "GET", url+"/function/fn", ""); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
}
