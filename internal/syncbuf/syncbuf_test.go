package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestBuffer writes from several goroutines while reading: with -race, an
// unlocked buffer fails; every write arrives whole.
func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if n, err := b.Write([]byte("ab\n")); n != 3 || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
				_ = b.String()
			}
		})
	}
	wg.Wait()
	s := b.String()
	if got := strings.Count(s, "ab\n"); got != 800 || len(s) != 2400 {
		t.Errorf("%d whole writes in %d bytes, want 800 in 2400", got, len(s))
	}
}
