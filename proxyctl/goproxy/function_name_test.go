package goproxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestFunctionNameCheck: the proxy refuses with 400 exactly the function
// names strategy.ValidName refuses (every byte as a first and as a later
// character, and names at and beyond the length limit); other names are
// routed (here: 404, no route).
func TestFunctionNameCheck(t *testing.T) {
	p, _ := appliedProxy(t, Config{FaaSURL: "http://127.0.0.1:1"}, proxyctl.State{Self: "a"})
	names := []string{strings.Repeat("n", strategy.MaxNameLen), strings.Repeat("n", strategy.MaxNameLen+1), "x"}
	for c := 1; c < 256; c++ {
		if c == '/' {
			continue // ends the name
		}
		b := string([]byte{byte(c)})
		names = append(names, b+"a", "a"+b, b)
	}
	for _, name := range names {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = "/function/" + name
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		want := http.StatusNotFound
		if strategy.ValidName(name) != nil {
			want = http.StatusBadRequest
		}
		if w.Code != want {
			t.Errorf("name %q: status %d, want %d", name, w.Code, want)
		}
	}
}
