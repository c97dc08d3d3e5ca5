package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenScenario(t *testing.T) {
	sc, err := OpenScenario("testbed-1-light-overload")
	if err != nil || sc.Name == "" {
		t.Fatalf("built-in by name: %v", err)
	}
	path := filepath.Join(t.TempDir(), "s.json")
	b, _ := os.ReadFile("testdata/testbed-1-light-overload.json")
	os.WriteFile(path, b, 0o600)
	if _, err := OpenScenario(path); err != nil {
		t.Errorf("file: %v", err)
	}
	if _, err := OpenScenario("no-such-scenario"); err == nil || !strings.Contains(err.Error(), "neither a file") || !strings.Contains(err.Error(), "testbed-1-light-overload") {
		t.Errorf("unknown name: %v, want an error listing the built-in scenarios", err)
	}
}
