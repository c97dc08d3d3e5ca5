package embedded

import (
	"context"
	"sync"
	"time"
)

// limiter is a counting semaphore whose size can change: the slots of a
// function, Concurrency per replica. Waiters are served in arrival order.
type limiter struct {
	mu      sync.Mutex
	limit   int
	inUse   int
	waiters []*waiter
}

type waiter struct {
	ch      chan struct{}
	granted bool
}

// acquire waits for a slot for at most timeout, or until ctx is done. It
// reports whether it got one; the caller then calls release.
func (l *limiter) acquire(ctx context.Context, timeout time.Duration) bool {
	l.mu.Lock()
	if l.inUse < l.limit && len(l.waiters) == 0 {
		l.inUse++
		l.mu.Unlock()
		return true
	}
	w := &waiter{ch: make(chan struct{})}
	l.waiters = append(l.waiters, w)
	l.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		return true // granted while timing out: keep the slot
	}
	for i, x := range l.waiters {
		if x == w {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			break
		}
	}
	return false
}

// release frees a slot taken by acquire.
func (l *limiter) release() {
	l.mu.Lock()
	l.inUse--
	l.grant()
	l.mu.Unlock()
}

// setLimit changes the number of slots. Slots in use above a lower limit
// are kept until released.
func (l *limiter) setLimit(n int) {
	l.mu.Lock()
	l.limit = n
	l.grant()
	l.mu.Unlock()
}

// grant hands free slots to waiters in order. l.mu must be held.
func (l *limiter) grant() {
	for l.inUse < l.limit && len(l.waiters) > 0 {
		w := l.waiters[0]
		l.waiters = l.waiters[1:]
		w.granted = true
		l.inUse++
		close(w.ch)
	}
}
