package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing; its
// Fatalf stops the check as the real one does (see run).
type recorder struct {
	testing.TB
	errors, fatals, logs []string
}

type fatal struct{}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}
func (r *recorder) Logf(format string, a ...any) { r.logs = append(r.logs, fmt.Sprintf(format, a...)) }
func (r *recorder) Fatalf(format string, a ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, a...))
	panic(fatal{})
}

// run runs Check with a recorder.
func run(t *testing.T, path string, got string) *recorder {
	t.Helper()
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(fatal); !ok {
					panic(v)
				}
			}
		}()
		Check(r, path, []byte(got))
	}()
	return r
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.golden")
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, got string
		errors, fatals  int
		want            string // in the message
	}{
		{name: "equal", path: path, got: "a\nb\nc\n"},
		{name: "differs", path: path, got: "a\nB\nc\n", errors: 1, want: "line 2:\n  -\"b\"\n  +\"B\"\n"},
		{name: "longer", path: path, got: "a\nb\nc\nd\n", errors: 1, want: "line 4:\n  -\"\"\n  +\"d\"\n"},
		{name: "missing", path: filepath.Join(dir, "none.golden"), got: "x", fatals: 1, want: "-update creates it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(UpdateEnv, "")
			r := run(t, c.path, c.got)
			if len(r.errors) != c.errors || len(r.fatals) != c.fatals {
				t.Fatalf("errors %q, fatals %q; want %d errors, %d fatals", r.errors, r.fatals, c.errors, c.fatals)
			}
			if msg := strings.Join(append(r.errors, r.fatals...), "\n"); !strings.Contains(msg, c.want) {
				t.Errorf("message %q does not contain %q", msg, c.want)
			}
		})
	}
}

func TestCheckUpdate(t *testing.T) {
	t.Setenv(UpdateEnv, "1")
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "out.golden")

	// Creates the file and its directory.
	if r := run(t, path, "one\n"); len(r.errors)+len(r.fatals) != 0 || len(r.logs) != 1 {
		t.Fatalf("create: errors %q, fatals %q, logs %q", r.errors, r.fatals, r.logs)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "one\n" {
		t.Fatalf("after create: %q, %v", b, err)
	}
	// Leaves an up-to-date file alone.
	if r := run(t, path, "one\n"); len(r.logs) != 0 {
		t.Errorf("rewrote an up-to-date file: %q", r.logs)
	}
	// Rewrites a file that differs.
	if r := run(t, path, "two\n"); len(r.errors)+len(r.fatals) != 0 || len(r.logs) != 1 {
		t.Fatalf("rewrite: errors %q, fatals %q, logs %q", r.errors, r.fatals, r.logs)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "two\n" {
		t.Fatalf("after rewrite: %q, %v", b, err)
	}
}

func TestDiff(t *testing.T) {
	cases := []struct{ name, want, got, out string }{
		{"same", "a\nb", "a\nb", "(no line differs)"},
		{"changed", "a\nb", "a\nc", "line 2:\n  -\"b\"\n  +\"c\"\n"},
		{"shorter", "a\nb", "a", "line 2:\n  -\"b\"\n"},
		{"many", strings.Repeat("x\n", 13), strings.Repeat("y\n", 13),
			"... and 3 more lines differ\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := Diff(c.want, c.got)
			if c.name == "many" {
				if strings.Count(out, "line ") != maxDiffLines || !strings.HasSuffix(out, c.out) {
					t.Errorf("Diff:\n%s", out)
				}
				return
			}
			if out != c.out {
				t.Errorf("Diff = %q, want %q", out, c.out)
			}
		})
	}
}
