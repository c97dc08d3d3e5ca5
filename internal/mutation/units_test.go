package mutation

import (
	"slices"
	"testing"
)

// TestSplitUnits: a top-level test with several subtests runs as its
// first-level subtests; nested subtests are left to their parent, and a
// subtest whose own name holds a slash is still a unit of its own.
func TestSplitUnits(t *testing.T) {
	out := `=== RUN   TestA
=== RUN   TestA/plain
=== RUN   TestA/HTTP/1.0_closes
=== RUN   TestA/parent
=== RUN   TestA/parent/child
--- PASS: TestA (0.00s)
=== RUN   TestB
=== RUN   TestB/only
=== RUN   TestC
`
	got := splitUnits(out, []string{"TestA", "TestB", "TestC"})
	want := []string{
		`^TestA$/^plain$`, `^TestA$/^HTTP/1\.0_closes$`, `^TestA$/^parent$`,
		`^TestB$`, `^TestC$`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("units %q, want %q", got, want)
	}
}
