package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestTCP: the addresses are bindable, below the ephemeral range, and
// never one the caller skips.
func TestTCP(t *testing.T) {
	low, high := Range()
	if high-low < 1000 {
		t.Fatalf("range [%d, %d) too small", low, high)
	}
	seen := map[string]bool{}
	for range 20 {
		addr, err := TCP("127.0.0.1", func(a string) bool { return seen[a] })
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := strconv.Atoi(port); p < low || p >= high {
			t.Errorf("%s: port outside [%d, %d)", addr, low, high)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s not bindable: %v", addr, err)
		}
		ln.Close()
	}
}

// TestTCPGivesUp: a caller that skips every address gets an error, not a
// loop without end.
func TestTCPGivesUp(t *testing.T) {
	if addr, err := TCP("127.0.0.1", func(string) bool { return true }); err == nil {
		t.Fatalf("got %s, want an error", addr)
	}
}
