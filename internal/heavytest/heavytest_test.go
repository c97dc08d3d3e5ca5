package heavytest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLockExcludes: two holders never overlap (flock locks are per open
// file, so two in one process exclude each other too).
func TestLockExcludes(t *testing.T) {
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			t.Run("holder", func(t *testing.T) {
				Lock(t)
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				time.Sleep(time.Duration(10+i) * time.Millisecond)
				inside.Add(-1)
			})
		})
	}
	wg.Wait()
	if overlaps.Load() > 0 {
		t.Fatalf("%d overlaps", overlaps.Load())
	}
}
