package haproxy

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dfaas-go/dfaas/strategy"
)

// TestUnusableNeighbourAddress: a neighbour whose announced address this
// node cannot use (a host name that does not resolve, a path, port 0) is
// not forwarded to; the rest of the state is applied, and the neighbour
// may still forward here. Apply used to fail as a whole, every cycle:
// one member's announcement froze the routing of every HAProxy node.
func TestUnusableNeighbourAddress(t *testing.T) {
	for _, bad := range []string{"http://nowhere.example:30080", "http://10.0.0.9:30080/x", "http://10.0.0.9:0"} {
		t.Run(bad, func(t *testing.T) {
			c, rt := newFakeController(t, []string{"figlet"}, 2)
			s := nbState(strategy.NewRoute("figlet", 0, 0, map[strategy.NodeID]float64{"node-b": 0.5, "node-d": 0.5}), "node-b", "node-d")
			s.Neighbours[1].URL = bad
			applyFake(t, c, s)
			routes := parseMap(rt.maps[c.o.mapPath(mapRoute)])
			for k, v := range routes {
				if strings.HasSuffix(k, "/figlet") && v != "out.n1" {
					t.Fatalf("route %s → %s, want every bucket to node-b (out.n1)", k, v)
				}
			}
			if c.slots[0].node != "node-b" || c.slots[1].node != "" {
				t.Errorf("slots %+v, want node-b alone", c.slots)
			}
			peers := rt.maps[c.o.mapPath(mapPeers)]
			if !strings.Contains(peers, nodeKey("node-d")+" "+tokenHash("from-node-d")) {
				t.Errorf("node-d's credential is not accepted: peers map %q", peers)
			}
		})
	}
}

// TestUnusableAddressLoggedOnce: an unusable address is logged once and
// looked up again only after retryUnusable, not at every Apply (a host
// name whose look-up hangs would otherwise delay every cycle); a new URL
// is tried at once.
func TestUnusableAddressLoggedOnce(t *testing.T) {
	c, _ := newFakeController(t, []string{"figlet"}, 2)
	res := &countingResolver{r: fakeResolver{"node-d.example": "10.0.0.4"}}
	c.res = res
	var lines atomic.Int64
	c.o.log = slog.New(countHandler{&lines})
	s := nbState(strategy.NewRoute("figlet", 0, 0, map[strategy.NodeID]float64{"node-b": 0.5, "node-d": 0.5}), "node-b", "node-d")
	s.Neighbours[1].URL = "http://nowhere.example:30080"
	for range 5 {
		applyFake(t, c, s)
	}
	if res.n.Load() != 1 || lines.Load() != 1 {
		t.Errorf("5 applies: %d look-ups, %d log lines; want 1 and 1", res.n.Load(), lines.Load())
	}
	s.Neighbours[1].URL = "http://node-d.example:30080"
	applyFake(t, c, s)
	if c.slots[1].node != "node-d" {
		t.Errorf("slots %+v after node-d's address was fixed", c.slots)
	}
}

type countingResolver struct {
	r resolver
	n atomic.Int64
}

func (c *countingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	c.n.Add(1)
	return c.r.LookupNetIP(ctx, network, host)
}

// countHandler counts the records at warning level and above.
type countHandler struct{ n *atomic.Int64 }

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h countHandler) WithGroup(string) slog.Handler            { return h }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
