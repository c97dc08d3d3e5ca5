package usage

import (
	"errors"
	"fmt"
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
