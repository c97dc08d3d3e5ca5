package goproxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestEndlessInformationalAnswers: an upstream (the local FaaS, or a
// neighbour's proxy) that sends informational (1xx) answers without end
// gets 502 once their heads exceed the header limit in total, as
// http.Transport bounds them; the fast path used to reset the limit at
// each one and read them until the request's time-out.
func TestEndlessInformationalAnswers(t *testing.T) {
	var written atomic.Int64
	faas := newRawFaaS(t, func(_, _ int, c net.Conn, _ *http.Request, _ []byte) bool {
		hint := strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", 64)
		for range 1 << 16 {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			n, err := io.WriteString(c, hint)
			written.Add(int64(n))
			if err != nil {
				return false
			}
		}
		return false
	})
	_, url := localProxyAt(t, faas.url, 5*time.Second)
	resp, _ := doReq(t, "GET", url+"/function/fn", "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	if n := written.Load(); n > 64<<20 {
		t.Fatalf("the proxy read %d MB of informational answers", n>>20)
	}
}
