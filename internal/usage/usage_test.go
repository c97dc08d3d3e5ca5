package usage

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestIs(t *testing.T) {
	err := Errorf("--period %q: want a duration", "5x")
	if !Is(err) || !Is(fmt.Errorf("agent: %w", err)) || err.Error() != `--period "5x": want a duration` {
		t.Fatalf("%v", err)
	}
	if Is(errors.New("listen: address in use")) || Is(nil) {
		t.Fatal("a plain error is a usage error")
	}
}

// TestLockedWriter writes from several goroutines at once: with -race, an
// unserialised writer to a bytes.Buffer is reported; every line arrives
// whole.
func TestLockedWriter(t *testing.T) {
	var b bytes.Buffer
	w := &LockedWriter{W: &b}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(w, "writer %d line\n", i)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 || w.Unwrap() != &b {
		t.Fatalf("%d lines, Unwrap %p; want 800 and %p", len(lines), w.Unwrap(), &b)
	}
	for _, l := range lines {
		var n int
		if _, err := fmt.Sscanf(l, "writer %d line", &n); err != nil {
			t.Fatalf("line %q is not whole: %v", l, err)
		}
	}
}
