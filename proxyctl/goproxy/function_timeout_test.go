package goproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestFunctionTimeoutBeyondRequestTimeout: a function whose time-out is
// longer than the listener's RequestTimeout gets its answer relayed even
// when it comes after RequestTimeout (the proxy extends the write deadline
// for that request), on the fast path, the streamed path and when
// forwarded to a neighbour (with the default time-out of a function not
// deployed here, or the function's own).
func TestFunctionTimeoutBeyondRequestTimeout(t *testing.T) {
	const requestTimeout = 200 * time.Millisecond
	slow := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(2 * requestTimeout) // the function's run time
		io.WriteString(w, "late answer")
	}
	faas := httptest.NewServer(http.HandlerFunc(slow))
	defer faas.Close()
	nb := httptest.NewServer(http.HandlerFunc(slow))
	defer nb.Close()
	p, err := New(Config{FaaSURL: faas.URL, Limits: Limits{RequestTimeout: requestTimeout}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Apply(context.Background(), proxyctl.State{Self: "a",
		Functions:  []proxyctl.Function{{Name: "both", Timeout: time.Second}, {Name: "fn", Timeout: time.Second}},
		Neighbours: []proxyctl.Neighbour{{ID: "b", URL: nb.URL, Functions: []string{"away", "both"}, TokenIn: tokBA, TokenOut: tokAB, Forward: true}},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "away", Forward: []strategy.Share{{Node: "b", Share: 1}}},
			{Function: "both", Forward: []strategy.Share{{Node: "b", Share: 1}}}}},
	}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + serveOn(t, p.Serve)
	for name, tt := range map[string]struct{ fn, body string }{
		"fast path": {"fn", "small"},
		"streamed":  {"fn", strings.Repeat("L", smallBody+1)},
		"forwarded": {"away", "small"},
		"no body":   {"fn", ""},
		// Deployed here too: forwarded with the function's own time-out.
		"forwarded with its time-out": {"both", "small"},
		"forwarded streamed":          {"both", strings.Repeat("L", smallBody+1)},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := http.Post(base+"/function/"+tt.fn, "text/plain", strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("the answer was cut: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(got) != "late answer" {
				t.Fatalf("status %d %q %v", resp.StatusCode, got, err)
			}
		})
	}
}
