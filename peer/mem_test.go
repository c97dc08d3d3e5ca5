package peer

import (
	"context"
	"errors"
	"testing"
	"time"
)

func recvWithin(t *testing.T, tr *MemTransport, d time.Duration) (Message, bool) {
	t.Helper()
	select {
	case m := <-tr.Recv():
		return m, true
	case <-time.After(d):
		return Message{}, false
	}
}

func TestMemNetwork(t *testing.T) {
	ctx := context.Background()
	n := NewMemNetwork(MemNetworkOptions{Seed: 1, Buffer: 2, MaxMessageSize: 8})
	defer n.Close()
	a, _ := n.Join("a")
	b, _ := n.Join("b")
	if _, err := n.Join("a"); err == nil {
		t.Fatal("duplicate ID joined")
	}
	if err := a.Send(ctx, "b", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m, ok := recvWithin(t, b, time.Second); !ok || m.From != "a" || string(m.Data) != "hi" {
		t.Fatalf("got %+v %v", m, ok)
	}
	if err := a.Send(ctx, "z", nil); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to unknown: %v", err)
	}
	if err := a.Send(ctx, "b", make([]byte, 9)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	// Full receive channel: drop and count, never block.
	for range 5 {
		a.Send(ctx, "b", []byte("x"))
	}
	if st := b.Stats(); st.DroppedFull != 3 {
		t.Fatalf("dropped %d, want 3", st.DroppedFull)
	}
	for range 2 {
		<-b.Recv()
	}
	// Partition and heal.
	n.Partition("a", "b")
	a.Send(ctx, "b", []byte("lost"))
	if _, ok := recvWithin(t, b, 20*time.Millisecond); ok {
		t.Fatal("message crossed a partition")
	}
	if p := a.Peers(); len(p) != 1 || p[0].Up {
		t.Fatalf("peers during partition: %+v", p)
	}
	n.Heal()
	// Delay: delivered later, reported as RTT.
	n.SetDelay("a", "b", 30*time.Millisecond)
	n.SetDelay("b", "a", 10*time.Millisecond)
	start := time.Now()
	a.Send(ctx, "b", []byte("late"))
	if _, ok := recvWithin(t, b, time.Second); !ok || time.Since(start) < 30*time.Millisecond {
		t.Fatal("delayed message not delayed")
	}
	if p := a.Peers(); p[0].RTT != 40*time.Millisecond || !p[0].Up {
		t.Fatalf("peers %+v, want RTT 40ms", p)
	}
	// Random drops follow the seed.
	n.SetDelay("a", "b", 0)
	n.SetDrop("a", "b", 0.5)
	var got int
	for range 100 {
		a.Send(ctx, "b", []byte("d"))
		if _, ok := recvWithin(t, b, time.Millisecond*5); ok {
			got++
		}
	}
	if got < 30 || got > 70 {
		t.Fatalf("%d of 100 delivered with drop probability 0.5", got)
	}
	b.Close()
	b.Close()
	if _, ok := <-b.Recv(); ok {
		t.Fatal("Recv not closed by Close")
	}
	if err := b.Send(ctx, "a", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}
