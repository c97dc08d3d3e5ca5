package peertest_test

import (
	"fmt"
	"testing"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/peer/peertest"
)

func TestMemNetwork(t *testing.T) {
	const buffer, maxSize = 64, 1 << 16
	peertest.TestTransport(t, func(t *testing.T, n int) []peer.Transport {
		net := peer.NewMemNetwork(peer.MemNetworkOptions{Buffer: buffer, MaxMessageSize: maxSize})
		t.Cleanup(func() { net.Close() })
		ts := make([]peer.Transport, n)
		for i := range ts {
			tr, err := net.Join(peer.ID(fmt.Sprintf("node-%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			ts[i] = tr
		}
		return ts
	}, peertest.Options{MaxMessageSize: maxSize, Buffer: buffer})
}
