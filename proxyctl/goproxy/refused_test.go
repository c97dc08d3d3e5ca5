package goproxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestRefusedCounted: every request the proxy refuses before any
// function's counters is counted by reason in MetricRefused (none is a
// function's request, so metricsrc.Counters do not see them), and a
// function's request is not.
func TestRefusedCounted(t *testing.T) {
	faas := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer faas.Close()
	p, _ := appliedProxy(t, Config{FaaSURL: faas.URL}, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "echo"}}})
	send := func(target string, hdr map[string]string, want int) {
		t.Helper()
		r := httptest.NewRequest("GET", target, nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != want {
			t.Fatalf("%s: status %d, want %d", target, w.Code, want)
		}
	}
	send("/function/echo", nil, http.StatusOK)
	send("/function/echo/../x", nil, http.StatusBadRequest)
	send("/function/-bad", nil, http.StatusBadRequest)
	send("/system/functions", nil, http.StatusForbidden)
	send("/", nil, http.StatusNotFound)
	send("/metrics", nil, http.StatusNotFound)
	send("/admin", nil, http.StatusNotFound)
	send("/function/echo", map[string]string{"DFaaS-Node-ID": "mallory", "DFaaS-Node-Token": "guess"}, http.StatusForbidden)
	want := map[string]float64{"bad-path": 2, "management-api": 1, "not-a-function": 3, "unknown-node": 1}
	for reason, n := range want {
		if got := counterOf(t, p, MetricRefused, reason); got != n {
			t.Errorf("%s{reason=%q} = %v, want %v", MetricRefused, reason, got, n)
		}
	}
}
