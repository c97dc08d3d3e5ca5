package strategy_test

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeQuotesSpare: the strategy the README shows newcomers is the
// one Example_spare compiles and runs, to the byte.
func TestReadmeQuotesSpare(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_spare_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{"type Spare struct", "func (sp *Spare) Decide("} {
		quoted, ok := goBlock(string(readme), start)
		if !ok {
			t.Fatalf("README.md has no %q", start)
		}
		if !strings.Contains(string(example), quoted) {
			t.Errorf("README.md's %q is not example_spare_test.go's:\n%s", start, quoted)
		}
	}
}

// goBlock returns the declaration of s that starts with start: its first
// line if that line is complete, else up to the first line "}".
func goBlock(s, start string) (string, bool) {
	i := strings.Index(s, start)
	if i < 0 {
		return "", false
	}
	s = s[i:]
	line, _, _ := strings.Cut(s, "\n")
	if !strings.HasSuffix(line, "{") {
		return line, true
	}
	end := strings.Index(s, "\n}\n")
	if end < 0 {
		return "", false
	}
	return s[:end+2], true
}
