package dfaas

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// TestRestartLoopLogsBounded: a member that claims a new incarnation in
// every message (a restart loop, or a hostile member at its message rate)
// gets one "neighbour restarted" line per minute, then a summary, instead
// of one line per message. Every restart is still counted.
func TestRestartLoopLogsBounded(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	logs := &records{}
	n, reg, _ := newRulesNode(t, net, nil, func(c *Config) { c.Logger = slog.New(logs) })
	tok := strings.Repeat("ab", 32)
	const restarts = 500
	for inc := uint64(1); inc <= restarts+1; inc++ {
		n.handle(context.Background(), peer.Message{From: "b", Data: stateData(t, inc, 1, tok)}, time.Unix(1, 0), false)
	}
	lines := 0
	logs.mu.Lock()
	for _, l := range logs.lines {
		if strings.HasPrefix(l, "INFO neighbour restarted") {
			lines++
		}
	}
	logs.mu.Unlock()
	if lines != 1 {
		t.Errorf("%d log lines for %d restarts within a second, want 1", lines, restarts)
	}
	if got, want := series(t, reg, "dfaas_agent_neighbour_restarts_total"), fmt.Sprintf("dfaas_agent_neighbour_restarts_total{} %d", restarts); got != want {
		t.Errorf("restarts counted: %s, want %s", got, want)
	}
}
