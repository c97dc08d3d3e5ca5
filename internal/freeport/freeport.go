package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// tries bounds the ports TCP tries before it gives up.
const tries = 200

// TCP returns host:port with a port below the ephemeral range that could
// be bound on host a moment ago. skip, if not nil, rejects addresses the
// caller has handed out already.
func TCP(host string, skip func(addr string) bool) (string, error) {
	return pick("tcp", host, skip)
}

// UDP is TCP for a UDP port (a QUIC listener, for one).
func UDP(host string, skip func(addr string) bool) (string, error) {
	return pick("udp", host, skip)
}

// pick draws ports below the ephemeral range until one binds on network.
func pick(network, host string, skip func(addr string) bool) (string, error) {
	low, high := Range()
	for range tries {
		addr := net.JoinHostPort(host, strconv.Itoa(low+rand.IntN(high-low)))
		if skip != nil && skip(addr) {
			continue
		}
		if bindable(network, addr) {
			return addr, nil
		}
	}
	return "", fmt.Errorf("freeport: no free %s port on %s in [%d, %d) after %d tries", network, host, low, high, tries)
}

// bindable reports whether addr can be bound on network now.
func bindable(network, addr string) bool {
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// Range returns the ports TCP draws from: from 10000 to the start of the
// ephemeral range, or [20000, 32768) if the range cannot be read or
// leaves fewer than 1,000 ports below it.
func Range() (low, high int) {
	low, high = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				high = n
			}
		}
	}
	if high-low < 1000 {
		return 20000, 32768
	}
	return low, high
}
