package goproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// peer is a fake neighbour proxy: it answers as told, optionally reading
// the body first, and records what it received.
type peer struct {
	srv      *httptest.Server
	hits     atomic.Int64
	status   int
	rejected string // DFaaS-Rejected of its answers
	readBody bool   // read the whole body before answering
	closed   bool   // unreachable
	sum      atomic.Value
}

func newPeer(t *testing.T, status int, rejected string, readBody bool) *peer {
	p := &peer{status: status, rejected: rejected, readBody: readBody}
	p.sum.Store([32]byte{})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		if p.readBody || p.status == 200 {
			b, _ := io.ReadAll(r.Body)
			p.sum.Store(sha256.Sum256(b))
		}
		if p.rejected != "" {
			w.Header().Set(proxyctl.HeaderRejected, p.rejected)
		}
		w.WriteHeader(p.status)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// summer is a local FaaS that answers 200 with the body's SHA-256.
type summer struct {
	srv  *httptest.Server
	hits atomic.Int64
	sum  atomic.Value
}

func newSummer(t *testing.T) *summer {
	s := &summer{}
	s.sum.Store([32]byte{})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.sum.Store(sha256.Sum256(b))
		if r.Header.Get(proxyctl.HeaderNodeID) != "" {
			http.Error(w, "a user request reached the FaaS with a node ID", 500)
			return
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func TestForwardRetry(t *testing.T) {
	small := strings.Repeat("s", 1000)
	large := strings.Repeat("L", 200<<10) // above the 64 KiB retry buffer
	tests := []struct {
		name string
		// first and second are the neighbours the request may go to
		// (the decision sends it to first); deployed: the function
		// runs locally too.
		first, second *peer
		deployed      bool
		body          string
		status        int
		served        string // "local", "first", "second"
		retries       uint64
	}{
		{"unknown-node, deployed here: served locally", newPeer(t, 403, "unknown-node", false), nil, true, small, 200, "local", 1},
		{"unknown-node, not deployed: another neighbour", newPeer(t, 403, "unknown-node", false), newPeer(t, 200, "", true), false, small, 200, "second", 1},
		{"unknown-node twice: 503, not the refusal", newPeer(t, 403, "unknown-node", false), newPeer(t, 403, "unknown-node", false), false, small, 503, "second", 1},
		{"unknown-node after reading a small body: replayed", newPeer(t, 403, "unknown-node", true), nil, true, small, 200, "local", 1},
		{"unknown-node before a large body: replayed", newPeer(t, 403, "unknown-node", false), nil, true, large, 200, "local", 1},
		{"unknown-node after reading a large body: 503", newPeer(t, 403, "unknown-node", true), nil, true, large, 503, "first", 0},
		{"unreachable: another neighbour", closedPeer(t), newPeer(t, 200, "", true), false, large, 200, "second", 1},
		{"a function's own 403 is not retried", newPeer(t, 403, "", false), nil, true, small, 403, "first", 0},
		{"a neighbour's error is not retried", newPeer(t, 500, "", true), nil, true, small, 500, "first", 0},
		{"admission is not retried", newPeer(t, 429, "admission", false), nil, true, small, 429, "first", 0},
		{"no fallback: 503, not the refusal", newPeer(t, 403, "unknown-node", false), nil, false, small, 503, "first", 0},
		{"unreachable, no fallback: 502", closedPeer(t), nil, false, small, 502, "first", 0},
		{"unreachable twice: 502 from the second", closedPeer(t), closedPeer(t), false, small, 502, "second", 1},
		{"another neighbour's 5xx is answered", newPeer(t, 403, "unknown-node", false), newPeer(t, 503, "", true), false, small, 503, "second", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			faas := newSummer(t)
			p, err := New(Config{FaaSURL: faas.srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(p)
			defer srv.Close()
			st := proxyctl.State{Self: "a"}
			if tt.deployed {
				st.Functions = []proxyctl.Function{{Name: "fn"}}
			}
			route := strategy.Route{Function: "fn", Forward: []strategy.Share{{Node: "b", Share: 1}}}
			st.Neighbours = []proxyctl.Neighbour{{ID: "b", URL: tt.first.srv.URL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true}}
			if tt.second != nil {
				st.Neighbours = append(st.Neighbours, proxyctl.Neighbour{ID: "d", URL: tt.second.srv.URL, Functions: []string{"fn"}, TokenOut: tokAB, TokenIn: tokBA, Forward: true})
				route.Forward = append(route.Forward, strategy.Share{Node: "d", Share: 0})
			}
			st.Decision.Routes = []strategy.Route{route}
			if err := p.Apply(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Post(srv.URL+"/function/fn", "text/plain", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			want := sha256.Sum256([]byte(tt.body))
			hits := map[string]int64{"local": faas.hits.Load(), "first": tt.first.hits.Load()}
			if tt.second != nil {
				hits["second"] = tt.second.hits.Load()
			}
			for where, n := range hits {
				wantN := int64(0)
				if where == tt.served || where == "first" {
					wantN = 1
				}
				if where == "first" && tt.first.closed || where == "second" && tt.second.closed {
					wantN = 0 // a closed neighbour receives nothing
				}
				if n != wantN {
					t.Errorf("%s received %d requests, want %d (served by %s)", where, n, wantN, tt.served)
				}
			}
			switch tt.served {
			case "local":
				if faas.sum.Load() != want {
					t.Error("the local FaaS received a different body")
				}
			case "second":
				if tt.status == 200 && tt.second.sum.Load() != want {
					t.Error("the second neighbour received a different body")
				}
			}
			if got := p.retries[retryUnknownNode].Load() + p.retries[retryUnreachable].Load(); got != tt.retries {
				t.Errorf("%d retries counted, want %d", got, tt.retries)
			}
			tot, _ := p.Counters().Totals(context.Background())
			ft := tot.Functions[0]
			if ft.Offered != 1 || ft.Local+ft.Forwarded != 1 {
				t.Errorf("counters %+v: one offered request must be counted once, local or forwarded", ft)
			}
			// A failure (a 5xx, or no neighbour reached) is counted failed;
			// a neighbour's refusal on purpose is counted rejected.
			wantFailed, wantRejected := uint64(0), uint64(0)
			if tt.status >= 500 {
				wantFailed = 1
			}
			if tt.status == 429 {
				wantRejected = 1
			}
			if ft.Failed != wantFailed || ft.Rejected != wantRejected {
				t.Errorf("failed %d rejected %d, want %d and %d", ft.Failed, ft.Rejected, wantFailed, wantRejected)
			}
			if tt.served != "local" {
				wantNb := "b"
				if tt.served == "second" {
					wantNb = "d"
				}
				if len(ft.Neighbours) != 1 || ft.Neighbours[0].ID != wantNb || ft.Neighbours[0].Forwarded != 1 {
					t.Errorf("forwarded by neighbour %+v, want one to %s", ft.Neighbours, wantNb)
				}
				own := resp.Header.Get(proxyctl.HeaderServedBy) == "a" // this node's answer (503: no node took it)
				if got := resp.Header.Get(proxyctl.HeaderForwardedTo); got != wantNb && tt.status != 502 && !own {
					t.Errorf("%s %q, want %q", proxyctl.HeaderForwardedTo, got, wantNb)
				}
				if resp.Header.Get(proxyctl.HeaderRejected) == "unknown-node" {
					t.Errorf("a neighbour's refusal of this node reached the user: %v", resp.Header)
				}
			}
		})
	}
}

// closedPeer is a neighbour that cannot be reached.
func closedPeer(t *testing.T) *peer {
	p := newPeer(t, 200, "", true)
	p.srv.Close()
	p.closed = true
	return p
}

func TestReplay(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100)
	rp := newReplay(bytes.NewReader(data), -1, 2000, nil)
	a1, _ := rp.next()
	buf := make([]byte, 300)
	if n, _ := io.ReadFull(a1, buf); n != 300 {
		t.Fatal(n)
	}
	a2, ok := rp.next()
	if !ok {
		t.Fatal("not replayable within the buffer")
	}
	if _, err := a1.Read(buf); err != errStaleAttempt {
		t.Fatalf("superseded attempt read: %v", err)
	}
	got, err := io.ReadAll(a2)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("replay read %d bytes, %v", len(got), err)
	}
	a3, _ := rp.next()
	if got, _ := io.ReadAll(a3); !bytes.Equal(got, data) {
		t.Fatal("second replay differs")
	}
	small := newReplay(bytes.NewReader(data), int64(len(data)), 100, nil)
	a, _ := small.next()
	io.ReadAll(a)
	if _, ok := small.next(); ok {
		t.Fatal("replayable after reading beyond the buffer")
	}
}

// FuzzReplay checks that every attempt reads exactly the body while the
// replay keeps it, whatever the read sizes and attempt switches.
func FuzzReplay(f *testing.F) {
	f.Add([]byte("hello world"), uint16(4), []byte{3, 1, 0, 7, 2})
	f.Add(bytes.Repeat([]byte("x"), 500), uint16(100), []byte{50, 0, 200, 1})
	f.Fuzz(func(t *testing.T, data []byte, max uint16, ops []byte) {
		rp := newReplay(bytes.NewReader(data), -1, int(max), nil)
		cur, _ := rp.next()
		var got []byte
		for _, op := range ops {
			if op == 0 {
				next, ok := rp.next()
				if !ok {
					if len(got) <= int(max) {
						t.Fatalf("not replayable after %d bytes with a %d-byte buffer", len(got), max)
					}
					return
				}
				cur, got = next, nil
				continue
			}
			buf := make([]byte, op)
			n, err := cur.Read(buf)
			got = append(got, buf[:n]...)
			if !bytes.Equal(got, data[:len(got)]) {
				t.Fatalf("attempt read %q, want a prefix of %q", got, data)
			}
			if err == io.EOF && len(got) != len(data) {
				t.Fatalf("EOF after %d of %d bytes", len(got), len(data))
			}
		}
	})
}
