package haproxy

import (
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestEmptyInboundCredentialNotMapped: a neighbour this node has given no
// credential has no line in the peers map, so that the rules find no
// credential to compare with and refuse it whatever token it presents
// (TestIntegrationForwardingIdentity shows it against HAProxy); a
// neighbour with a credential has its hash there.
func TestEmptyInboundCredentialNotMapped(t *testing.T) {
	s := goldenState()
	s.Neighbours = append([]proxyctl.Neighbour(nil), s.Neighbours...)
	s.Neighbours[2].TokenIn = "" // node-d
	lay := layout{configured: true, self: s.Self, functions: neededFunctions(s), slots: 2}
	d := build(s, lay, []slotState{{node: "node b"}, {node: "node-c"}})
	peers := parseMap(d.maps[mapPeers])
	if v, ok := peers[nodeKey("node-d")]; ok {
		t.Fatalf("neighbour without a credential mapped to %q", v)
	}
	if got := peers[nodeKey("node b")]; got != tokenHash("in-b") {
		t.Fatalf("node b maps to %q, want the hash of its credential", got)
	}
	if len(peers) != 2 {
		t.Fatalf("peers map %v: want node b and node-c only", peers)
	}
}
