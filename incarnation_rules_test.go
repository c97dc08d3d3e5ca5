package dfaas

import (
	"context"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// TestIncarnationOfANewNode: a node announces the incarnation it is
// configured with, or, with none, the time it was made (in nanoseconds):
// a restarted node gets a greater one, which its peers take as a restart.
func TestIncarnationOfANewNode(t *testing.T) {
	for _, configured := range []uint64{0, 7} {
		net := peer.NewMemNetwork(peer.MemNetworkOptions{})
		b, err := net.Join("b")
		if err != nil {
			t.Fatal(err)
		}
		before := uint64(time.Now().UnixNano())
		n, _, _ := newRulesNode(t, net, nil, func(c *Config) { c.Incarnation = configured })
		after := uint64(time.Now().UnixNano())
		if _, err := n.Step(context.Background(), time.Unix(100, 0)); err != nil {
			t.Fatal(err)
		}
		msgs := drainMsgs(b)
		if len(msgs) != 1 {
			t.Fatalf("b got %d messages, want 1", len(msgs))
		}
		m, err := DecodeMessage(msgs[0], 0)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case configured != 0 && m.Incarnation != configured:
			t.Errorf("incarnation %d, want the configured %d", m.Incarnation, configured)
		case configured == 0 && (m.Incarnation < before || m.Incarnation > after):
			t.Errorf("incarnation %d, want the time the node was made, in [%d, %d]", m.Incarnation, before, after)
		}
		net.Close()
	}
}
