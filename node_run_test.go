package dfaas

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/peer"
)

// TestRunCyclesAndReceives: Run steps every period and handles peer
// messages between cycles; a second Run while the first runs is refused,
// and one after it returned is not; Run returns ErrClosed when the node is
// closed under it.
func TestRunCyclesAndReceives(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	n, _, _ := newInternalNode(t, net, "a", faas.NewStatic(faas.Function{Name: "f", AvailableReplicas: 1}))
	n.period = 10 * time.Millisecond
	b, err := net.Join("b")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := EncodeMessage(StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://b:1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, "Run to start", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.running
	})
	if err := n.Run(ctx); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run: %v", err)
	}
	if err := b.Send(ctx, "a", msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three cycles and the message", func() bool {
		st := n.Status(time.Now())
		return st.Cycles >= 3 && st.Received == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { done <- n.Run(ctx2) }()
	before := n.Status(time.Now()).Cycles
	waitFor(t, "a cycle of the second Run", func() bool { return n.Status(time.Now()).Cycles > before })
	n.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
