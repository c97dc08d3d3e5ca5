package goproxy

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestDotSegmentsRefused: a path with a "." or ".." segment (written
// plainly or percent-encoded) or a backslash is refused with 400 and
// never reaches the FaaS, which could resolve it to another path (the
// embedded FaaS redirected /function/echo/../../system/functions to its
// management API, an answer counted as echo served); HAProxy's frontend
// refuses the same paths. Names and segments that merely hold dots go
// through.
func TestDotSegmentsRefused(t *testing.T) {
	var hits atomic.Int64
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer faas.Close()
	p, _ := appliedProxy(t, Config{FaaSURL: faas.URL}, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "echo"}}})
	for _, tt := range []struct {
		target string
		want   int
	}{
		{"/function/echo/../../system/functions", http.StatusBadRequest},
		{"/function/echo/%2e%2e/%2E%2E/system/functions", http.StatusBadRequest},
		{"/function/echo%2F..%2F..%2Fsystem%2Ffunctions", http.StatusBadRequest},
		{"/function/echo/./x", http.StatusBadRequest},
		{"/function/echo/..", http.StatusBadRequest},
		{"/function/echo/.", http.StatusBadRequest},
		{"/function/echo/..%5C..%5Csystem", http.StatusBadRequest},
		{"/function/echo/..x/.y/a.b", http.StatusOK},
		{"/function/echo/...", http.StatusOK},
		{"/function/echo", http.StatusOK},
	} {
		before := hits.Load()
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest("GET", tt.target, nil))
		reached := hits.Load() > before
		if w.Code != tt.want || reached != (tt.want == http.StatusOK) {
			t.Errorf("%s: status %d, reached the FaaS %v; want %d", tt.target, w.Code, reached, tt.want)
		}
	}
}
