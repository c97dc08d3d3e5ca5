package goproxy

import (
	"net/http"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestEmptyInboundCredentialRefused: a neighbour this node has not (yet)
// given a credential is refused whatever token it presents, the empty one
// included: an empty credential is no credential.
func TestEmptyInboundCredentialRefused(t *testing.T) {
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{
			{ID: "b", URL: "http://127.0.0.1:1", TokenIn: tokBA},
			{ID: "n", URL: "http://127.0.0.1:2"}, // no credential handed out
		},
		Decision: strategy.Decision{Routes: []strategy.Route{{Function: "figlet", Local: 1}}}}
	tbl, err := compile(st, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct {
		from, token string
		want        kind
	}{
		{"n", "", kindUnknownNode},
		{"n", tokBA, kindUnknownNode},
		{"n", tokAB, kindUnknownNode},
		{"b", "", kindUnknownNode},
		{"b", tokBA, kindLocal},
	} {
		if got := tbl.decide("figlet", c.from, c.token, now).kind; got != c.want {
			t.Errorf("from %q token %q: kind %d, want %d", c.from, c.token, got, c.want)
		}
	}
	// Through HTTP: an empty DFaaS-Node-Token header from n is a 403.
	f := newFixture(t)
	f.stateFn = func(r strategy.Route) proxyctl.State {
		s := st.Clone()
		s.Decision.Routes = []strategy.Route{r}
		return s
	}
	f.apply(t, strategy.Route{Function: "figlet", Local: 1})
	resp := f.do(t, "/function/figlet", map[string]string{proxyctl.HeaderNodeID: "n", proxyctl.HeaderNodeToken: ""})
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(proxyctl.HeaderRejected) != "unknown-node" {
		t.Fatalf("neighbour without a credential, empty token: %d %q, want 403 unknown-node", resp.StatusCode, resp.Header.Get(proxyctl.HeaderRejected))
	}
	if f.faas.hits.Load() != 0 {
		t.Fatal("a request from a neighbour without a credential reached the FaaS")
	}
}

// TestOverflowSpreadByShares: with several forwarding neighbours, user
// requests go to each by its share, and requests picked for local service
// above the local limit overflow to all of them by their shares, not to
// the first.
func TestOverflowSpreadByShares(t *testing.T) {
	st := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}},
		Neighbours: []proxyctl.Neighbour{
			{ID: "b", URL: "http://127.0.0.1:1", Functions: []string{"figlet"}, Forward: true},
			{ID: "c", URL: "http://127.0.0.1:2", Functions: []string{"figlet"}, Forward: true},
			{ID: "d", URL: "http://127.0.0.1:3", Functions: []string{"figlet"}, Forward: true},
		}}
	tests := []struct {
		name  string
		route strategy.Route
		want  map[string]int // over 1000 requests at one instant
	}{
		{"shares, no limit", strategy.Route{Function: "figlet", Local: 0.5, Reject: 0.1,
			Forward: []strategy.Share{{Node: "b", Share: 0.2}, {Node: "c", Share: 0.15}, {Node: "d", Share: 0.05}}},
			map[string]int{"local": 500, "reject": 100, "b": 200, "c": 150, "d": 50}},
		// 1 req/s: one local request (the burst); the other 499 picked for
		// local service overflow 4:3:1 (b 249.5, c 187.1, d 62.4).
		{"local limit overflows by shares", strategy.Route{Function: "figlet", Local: 0.5, Reject: 0.1, LocalLimit: 1,
			Forward: []strategy.Share{{Node: "b", Share: 0.2}, {Node: "c", Share: 0.15}, {Node: "d", Share: 0.05}}},
			map[string]int{"local": 1, "reject": 100, "b": 450, "c": 337, "d": 112}},
	}
	now := time.Now()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := st.Clone()
			s.Decision.Routes = []strategy.Route{tt.route}
			tbl, err := compile(s, nil, now)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for range 1000 {
				switch a := tbl.decide("figlet", "", "", now); a.kind {
				case kindLocal:
					got["local"]++
				case kindReject:
					got["reject"]++
				case kindForward:
					got[string(a.to.id)]++
				default:
					t.Fatalf("kind %d", a.kind)
				}
			}
			for k, w := range tt.want {
				if d := got[k] - w; d < -1 || d > 1 {
					t.Errorf("%s: %d requests, want %d±1 (all: %v)", k, got[k], w, got)
				}
			}
		})
	}
}
