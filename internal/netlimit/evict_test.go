package netlimit

import (
	"fmt"
	"testing"
)

// TestEvictLastConnectionOfAddress: a new connection that makes room by
// closing the only other connection of its own address is counted
// against that address. It used to be kept apart from the address's
// record, which the eviction had deleted: the per-address cap no longer
// held for the address, and the connection's close dereferenced the
// missing record, a panic that ended the process.
func TestEvictLastConnectionOfAddress(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		busy string // an address holding a busy connection, or ""
	}{
		{"per-address cap", Config{MaxConns: 8, MaxConnsPerIP: 1}, ""},
		{"total cap", Config{MaxConns: 2, MaxConnsPerIP: 2}, "127.0.0.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lim := newLimiter(t, tt.cfg)
			b := newBusy()
			defer b.free()
			addr := server(t, lim, b)
			others := 0
			if tt.busy != "" {
				c := dialFrom(t, tt.busy, addr)
				fmt.Fprintf(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
				<-b.in
				others = 1
			}
			first := dialFrom(t, "127.0.0.1", addr)
			waitFor(t, "accepted", func() bool { return lim.Conns() == others+1 })
			second := dialFrom(t, "127.0.0.1", addr)
			if code := get(second, "/free"); code != 200 || !closedByPeer(first) {
				t.Fatalf("second connection: status %d; the first was closed: %v", code, closedByPeer(first))
			}
			waitFor(t, "the second idle", func() bool { return evictable(lim) == 1 })
			third := dialFrom(t, "127.0.0.1", addr)
			if code := get(third, "/free"); code != 200 {
				t.Fatalf("third connection: status %d, want 200 (the second is idle)", code)
			}
			if !closedByPeer(second) {
				t.Fatalf("the second connection was not closed for the third: %d connections open", lim.Conns())
			}
			third.Close()
			waitFor(t, "the third connection released", func() bool { return lim.Conns() == others })
		})
	}
}

// evictable returns the number of lim's connections it may close to make
// room (idle, or not used yet).
func evictable(lim *Limiter) int {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	n := 0
	for _, cl := range lim.clients {
		for _, c := range cl.conns {
			if c.evictable() {
				n++
			}
		}
	}
	return n
}
