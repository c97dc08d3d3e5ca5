package goproxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestSmallBodiesUnderBufferReuse: concurrent requests with small bodies
// (read into pooled buffers, which the next request reuses) each reach
// the FaaS intact: the FaaS echoes every body, and each client gets its
// own back, at sizes up to smallBody and just above it (streamed).
func TestSmallBodiesUnderBufferReuse(t *testing.T) {
	faas := newRawFaaS(t, okAnswer)
	_, url := localProxyAt(t, faas.url, 0)
	sizes := []int{1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 9999, 10000, 10001, smallBody - 1, smallBody, smallBody + 1}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3 * len(sizes) {
				n := sizes[(g+i)%len(sizes)]
				tag := fmt.Sprintf("<%d.%d>", g, i)
				body := tag + strings.Repeat(string(rune('a'+g)), max(0, n-2*len(tag))) + tag
				body = body[len(body)-n:]
				resp, err := client.Post(url+"/function/fn", "text/plain", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Equal(got, []byte(body)) {
					t.Errorf("goroutine %d, %d bytes: status %d, got %d bytes back, not its own", g, n, resp.StatusCode, len(got))
					return
				}
			}
		})
	}
	wg.Wait()
}
