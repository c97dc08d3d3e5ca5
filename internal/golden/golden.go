package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the -update flag of every test binary that imports golden. A
// test flag has to be registered before package testing parses the
// command line, so it lives in a package variable, as testing's own flags
// do; nothing but Update reads it.
var update = flag.Bool("update", false, "rewrite the golden files instead of comparing with them")

// UpdateEnv is the environment variable that, set to 1, also rewrites the
// golden files: unlike -update it works for go test ./..., where packages
// that do not import golden would reject the flag.
const UpdateEnv = "UPDATE_GOLDEN"

// Update reports whether golden files are to be rewritten rather than
// compared: the test binary runs with -update, or UPDATE_GOLDEN=1.
func Update() bool { return *update || os.Getenv(UpdateEnv) == "1" }

// maxDiffLines bounds the lines Diff shows.
const maxDiffLines = 10

// Check compares got with the golden file at path (relative paths are
// relative to the package's directory, where go test runs) and fails t,
// showing the first lines that differ, when they differ. With Update it
// writes got to path instead, creating the directory, unless the file
// already holds exactly got: a file that did not change is not touched.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(path)
	if Update() {
		if err == nil && bytes.Equal(got, want) {
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("golden: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("golden: %v", err)
		}
		t.Logf("golden: rewrote %s", path)
		return
	}
	if err != nil {
		t.Fatalf("golden: %v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("golden: the output differs from %s (go test -update rewrites it; review the diff before committing):\n%s",
			path, Diff(string(want), string(got)))
	}
}

// Diff describes how got differs from want line by line: the first
// maxDiffLines lines that differ, each as "-want" and "+got" under its
// line number, and how many more differ.
func Diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown, more := 0, 0
	for i := range max(len(wl), len(gl)) {
		w, wok := line(wl, i)
		g, gok := line(gl, i)
		if w == g && wok == gok {
			continue
		}
		if shown == maxDiffLines {
			more++
			continue
		}
		shown++
		fmt.Fprintf(&b, "line %d:\n", i+1)
		if wok {
			fmt.Fprintf(&b, "  -%q\n", w)
		}
		if gok {
			fmt.Fprintf(&b, "  +%q\n", g)
		}
	}
	switch {
	case shown == 0:
		return "(no line differs)"
	case more > 0:
		fmt.Fprintf(&b, "... and %d more lines differ\n", more)
	}
	return b.String()
}

// line returns lines[i], and whether it exists.
func line(lines []string, i int) (string, bool) {
	if i < len(lines) {
		return lines[i], true
	}
	return "", false
}
