package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestTCP: the addresses are bindable, below the ephemeral range, and
// never one the caller skips.
func TestTCP(t *testing.T) { testPick(t, "tcp", TCP) }

// TestUDP: the same for UDP ports.
func TestUDP(t *testing.T) { testPick(t, "udp", UDP) }

func testPick(t *testing.T, network string, pick func(string, func(string) bool) (string, error)) {
	t.Helper()
	low, high := Range()
	if high-low < 1000 {
		t.Fatalf("range [%d, %d) too small", low, high)
	}
	seen := map[string]bool{}
	for range 20 {
		addr, err := pick("127.0.0.1", func(a string) bool { return seen[a] })
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
		if !bindable(network, addr) {
			t.Fatalf("%s/%s not bindable", network, addr)
		}
	}
}

// TestBindable: a port held by a listener is not bindable.
func TestBindable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if bindable("tcp", ln.Addr().String()) {
		t.Errorf("tcp %s held but reported bindable", ln.Addr())
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if bindable("udp", c.LocalAddr().String()) {
		t.Errorf("udp %s held but reported bindable", c.LocalAddr())
	}
}

// TestTCPGivesUp: a caller that skips every address gets an error, not a
// loop without end.
func TestTCPGivesUp(t *testing.T) {
	if addr, err := TCP("127.0.0.1", func(string) bool { return true }); err == nil {
		t.Fatalf("got %s, want an error", addr)
	}
}
