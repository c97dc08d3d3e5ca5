package embedded

import (
	"context"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var l limiter
	l.setLimit(1)
	ctx := context.Background()
	if !l.acquire(ctx, time.Millisecond) {
		t.Fatal("free slot not granted")
	}
	if l.acquire(ctx, 10*time.Millisecond) {
		t.Fatal("second slot granted with a limit of 1")
	}
	// A waiter is served when the limit grows, and in arrival order.
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			if l.acquire(ctx, 5*time.Second) {
				got <- i
			}
		}()
		waitWaiters(t, &l, i+1) // make the arrival order certain
	}
	l.setLimit(2)
	if first := <-got; first != 0 {
		t.Errorf("waiter %d served first, want 0", first)
	}
	l.release()
	if second := <-got; second != 1 {
		t.Errorf("waiter %d served second, want 1", second)
	}
	// Lowering the limit keeps slots in use until released.
	l.setLimit(0)
	l.release()
	l.release()
	if l.acquire(ctx, time.Millisecond) {
		t.Error("slot granted with a limit of 0")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	l.setLimit(0)
	if l.acquire(cctx, time.Second) {
		t.Error("slot granted to a cancelled request")
	}
	if len(l.waiters) != 0 || l.inUse != 0 {
		t.Errorf("left %d waiters, %d in use", len(l.waiters), l.inUse)
	}
}

// waitWaiters waits (polling, for at most 5 s) until l has n waiters.
func waitWaiters(t *testing.T, l *limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		got := len(l.waiters)
		l.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters after 5 s, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
