package mutation

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunSample mutates a small package whose outcome is known mutant by
// mutant: the boundary flips of Clamp are equivalent (at v == lo both
// branches return lo), Untested has no test, every other mutant breaks a
// test.
func TestRunSample(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Packages: []string{"./internal/mutation/testdata/sample"}, Workers: 2,
		MinTimeout: 30 * time.Second, Factor: 5, Work: t.TempDir(), ModuleRoot: root, Log: t.Logf}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("results %+v", res)
	}
	var got []string
	for _, r := range res[0].Results {
		got = append(got, r.Pos(res[0].Dir)+" "+string(r.Kind)+" "+r.Desc+": "+string(r.Status))
	}
	want := []string{
		"sample.go:6:2 remove removed if v < lo { …: killed",
		"sample.go:9:2 remove removed if v > hi { …: killed",
		"sample.go:6:7 boundary < → <=: survived",
		"sample.go:6:7 negation < → >=: killed",
		"sample.go:9:7 boundary > → >=: survived",
		"sample.go:9:7 negation > → <=: killed",
		"sample.go:19:5 incdec += → -=: killed",
		"sample.go:19:3 remove removed n += v: killed",
		"sample.go:25:38 logical && → ||: killed",
		"sample.go:28:38 negation == → !=: not covered",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := res[0].Efficacy(); int(e) != 77 {
		t.Errorf("efficacy %.1f, want 7 of 9", e)
	}
}
