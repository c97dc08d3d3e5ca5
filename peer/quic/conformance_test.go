package quic

import (
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/peer/peertest"
)

func TestConformance(t *testing.T) {
	const buffer = 64
	peertest.TestTransport(t, func(t *testing.T, n int) []peer.Transport {
		qs := startNet(t, n, func(_ int, c *Config) {
			c.Buffer = buffer
			// The full-receiver test sends more than the default burst.
			c.RateBurst = 1000
			// None of the suite is about silence: a loaded machine
			// (-race beside other jobs) stalled a 256 KB send past 600 ms
			// and the receiver closed the connection as silent.
			c.DownAfter = 3 * time.Second
		})
		eventually(t, 10*time.Second, "federation connected", func() bool { return fullyConnected(qs) })
		ts := make([]peer.Transport, n)
		for i, q := range qs {
			ts[i] = q
		}
		return ts
	}, peertest.Options{MaxMessageSize: DefaultMaxMessageSize, Buffer: buffer})
}
