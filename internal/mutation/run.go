package mutation

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says what to run and how.
type Config struct {
	Packages   []string      // package patterns, as go list takes them
	Workers    int           // tests run at the same time
	MinTimeout time.Duration // a test's timeout is at least this
	Factor     float64       // and at least Factor times its unmutated run time
	Max        int           // at most this many covered mutants per package (0: all), spread evenly
	// Budget, if positive, bounds the whole run: each package gets an
	// equal share of the time left when it starts, and runs its mutants
	// in a fixed pseudo-random order until its share is spent (the rest
	// are reported as not sampled).
	Budget      time.Duration
	Work        string // a scratch directory
	Log         func(format string, args ...any)
	ModuleRoot  string // where go commands run
	GoFlags     []string
	Only        map[int]bool // run only these mutant IDs (tests of the tool; debugging)
	PackageOnly string       // with Only: the package they belong to
}

// Status is what became of a mutant.
type Status string

// The statuses.
const (
	Killed     Status = "killed"
	Survived   Status = "survived"
	TimedOut   Status = "timed out"
	NotCovered Status = "not covered"
	Skipped    Status = "not sampled"
)

// Result is one mutant's outcome.
type Result struct {
	Mutant
	Status Status
	Test   string // the test that killed it
}

// PackageResult is one package's outcomes.
type PackageResult struct {
	ImportPath string
	Dir        string
	Results    []Result
	Tests      int
	Elapsed    time.Duration
	Err        error
}

// Count returns how many results have the status.
func (p PackageResult) Count(s Status) int {
	n := 0
	for _, r := range p.Results {
		if r.Status == s {
			n++
		}
	}
	return n
}

// Efficacy is the share of covered, run mutants the tests detect (killed
// or timed out), in percent; -1 when none ran.
func (p PackageResult) Efficacy() float64 {
	k, t, s := p.Count(Killed), p.Count(TimedOut), p.Count(Survived)
	if k+t+s == 0 {
		return -1
	}
	return 100 * float64(k+t) / float64(k+t+s)
}

type listed struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	CgoFiles   []string
	Export     string
	DepOnly    bool
}

func (cfg *Config) goCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = cfg.ModuleRoot
	return cmd
}

// list returns the packages the patterns name and the export data of
// every package they depend on.
func (cfg *Config) list(ctx context.Context) ([]listed, map[string]string, error) {
	args := append([]string{"list", "-e", "-export", "-deps", "-json=ImportPath,Dir,Name,GoFiles,CgoFiles,Export,DepOnly"}, cfg.Packages...)
	cmd := cfg.goCmd(ctx, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go list: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	exports := map[string]string{}
	var pkgs []listed
	for dec.More() {
		var l listed
		if err := dec.Decode(&l); err != nil {
			return nil, nil, fmt.Errorf("go list output: %w", err)
		}
		exports[l.ImportPath] = l.Export
		if !l.DepOnly {
			pkgs = append(pkgs, l)
		}
	}
	return pkgs, exports, nil
}

// Run mutates each package in turn and reports per package.
func Run(ctx context.Context, cfg Config) ([]PackageResult, error) {
	pkgs, exports, err := cfg.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []PackageResult
	end := time.Now().Add(cfg.Budget)
	var todo []*Package
	var errs []PackageResult
	for _, l := range pkgs {
		if len(l.CgoFiles) > 0 || len(l.GoFiles) == 0 {
			continue
		}
		p, err := Plant(l.ImportPath, l.Dir, l.Name, l.GoFiles, exports)
		if err != nil {
			errs = append(errs, PackageResult{ImportPath: l.ImportPath, Dir: l.Dir, Err: err})
			continue
		}
		todo = append(todo, p)
	}
	out = append(out, errs...)
	// A package's share of the budget: what it costs to build and cover
	// (about as long as 200 mutants) plus one unit per mutant.
	weight := func(p *Package) time.Duration { return time.Duration(200 + len(p.Mutants)) }
	var left time.Duration
	for _, p := range todo {
		left += weight(p)
	}
	for _, p := range todo {
		var deadline time.Time
		if cfg.Budget > 0 {
			deadline = time.Now().Add(time.Until(end) * weight(p) / left)
		}
		left -= weight(p)
		start := time.Now()
		pr := cfg.runPackage(ctx, p, deadline)
		pr.Elapsed = time.Since(start)
		out = append(out, pr)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}

func (cfg *Config) runPackage(ctx context.Context, p *Package, deadline time.Time) PackageResult {
	pr := PackageResult{ImportPath: p.ImportPath, Dir: p.Dir}
	work := filepath.Join(cfg.Work, strings.ReplaceAll(p.ImportPath, "/", "_"))
	if err := os.MkdirAll(work, 0o755); err != nil {
		pr.Err = err
		return pr
	}
	cov, mut, err := cfg.build(ctx, p, work)
	if errors.Is(err, errNoTests) {
		for _, m := range p.Mutants {
			pr.Results = append(pr.Results, Result{Mutant: m, Status: NotCovered})
		}
		return pr
	}
	if err != nil {
		pr.Err = err
		return pr
	}
	tests, err := cfg.coverage(ctx, p, cov, work)
	if err != nil {
		pr.Err = err
		return pr
	}
	pr.Tests = len(tests)
	cfg.Log("%s: %d mutants, %d tests", p.ImportPath, len(p.Mutants), len(tests))
	pr.Results = cfg.runMutants(ctx, p, mut, tests, deadline)
	return pr
}

// build compiles the package's test binary twice: unmutated with coverage,
// and with its mutants.
func (cfg *Config) build(ctx context.Context, p *Package, work string) (cov, mut string, err error) {
	ov := struct{ Replace map[string]string }{map[string]string{}}
	for path, src := range p.Overlay {
		dst := filepath.Join(work, "overlay", filepath.Base(path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(dst, src, 0o644); err != nil {
			return "", "", err
		}
		ov.Replace[path] = dst
	}
	ovPath := filepath.Join(work, "overlay.json")
	b, _ := json.Marshal(ov)
	if err := os.WriteFile(ovPath, b, 0o644); err != nil {
		return "", "", err
	}
	cov, mut = filepath.Join(work, "cover.test"), filepath.Join(work, "mutants.test")
	args := append([]string{"test", "-c", "-vet=off", "-cover", "-covermode=count", "-o", cov}, cfg.GoFlags...)
	if out, err := cfg.goCmd(ctx, append(args, p.ImportPath)...).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build %s with coverage: %w\n%s", p.ImportPath, err, out)
	}
	args = append([]string{"test", "-c", "-vet=off", "-overlay", ovPath, "-o", mut}, cfg.GoFlags...)
	if out, err := cfg.goCmd(ctx, append(args, p.ImportPath)...).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build %s with its mutants: %w\n%s", p.ImportPath, err, out)
	}
	if _, err := os.Stat(mut); err != nil {
		return "", "", fmt.Errorf("package %s: %w", p.ImportPath, errNoTests)
	}
	return cov, mut, nil
}

// units splits each top-level test that has subtests into its first-level
// subtests (as -test.run patterns), so that a mutant runs only the subtests
// that reach it: it runs the whole suite once, verbosely, to learn them.
func (cfg *Config) units(ctx context.Context, dir, bin string, tops []string) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.v", "-test.count=1", "-test.run", ".")
	cmd.Dir = dir
	out, _ := cmd.Output()
	return splitUnits(string(out), tops)
}

// splitUnits returns the -test.run patterns of tops, each split into its
// first-level subtests when it has more than one, from the verbose output
// of a run. A subtest's name may hold a slash ("HTTP/1.0 answer"): a RUN
// line is a nested subtest only when a line before it names its parent.
func splitUnits(out string, tops []string) []string {
	subs := map[string][]string{}
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "=== RUN")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		top, sub, ok := strings.Cut(name, "/")
		if !ok || seen[name] || nested(seen, top, sub) {
			continue
		}
		seen[name] = true
		subs[top] = append(subs[top], "^"+regexp.QuoteMeta(top)+"$/^"+regexp.QuoteMeta(sub)+"$")
	}
	var units []string
	for _, t := range tops {
		if len(subs[t]) > 1 {
			units = append(units, subs[t]...)
		} else {
			units = append(units, "^"+regexp.QuoteMeta(t)+"$")
		}
	}
	return units
}

// nested reports whether subtest sub of top is below a first-level subtest
// already seen.
func nested(seen map[string]bool, top, sub string) bool {
	for i := range len(sub) {
		if sub[i] == '/' && seen[top+"/"+sub[:i]] {
			return true
		}
	}
	return false
}

var errNoTests = errors.New("no tests")

// testRun is one top-level test on the unmutated code: how long it took
// and what it covers.
type testRun struct {
	name   string
	took   time.Duration
	blocks map[string][]block // by file base name
}

type block struct{ sl, sc, el, ec int }

func (t *testRun) covers(m Mutant) bool {
	for _, b := range t.blocks[filepath.Base(m.File)] {
		after := m.Line > b.sl || m.Line == b.sl && m.Col >= b.sc
		before := m.Line < b.el || m.Line == b.el && m.Col <= b.ec
		if after && before {
			return true
		}
	}
	return false
}

// coverage runs each test alone on the unmutated code and keeps those that
// pass, with their coverage.
func (cfg *Config) coverage(ctx context.Context, p *Package, cov, work string) ([]*testRun, error) {
	cmd := exec.CommandContext(ctx, cov, "-test.list", ".")
	cmd.Dir = p.Dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list tests of %s: %w", p.ImportPath, err)
	}
	var tops []string
	for _, n := range strings.Fields(string(out)) {
		if !strings.HasPrefix(n, "Benchmark") {
			tops = append(tops, n)
		}
	}
	names := cfg.units(ctx, p.Dir, cov, tops)
	runs := make([]*testRun, len(names))
	var errs []error
	var mu sync.Mutex
	cfg.parallel(len(names), func(i int) {
		prof := filepath.Join(work, fmt.Sprintf("cover-%d.out", i))
		start := time.Now()
		res := cfg.exec(ctx, p.Dir, cov, names[i], 0, 10*time.Minute, "-test.coverprofile="+prof)
		if res != Survived { // the unmutated test failed or hung: leave it out
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %s on the unmutated code, left out", names[i], res))
			mu.Unlock()
			return
		}
		blocks, err := readProfile(prof)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return
		}
		runs[i] = &testRun{name: names[i], took: time.Since(start), blocks: blocks}
	})
	for _, e := range errs {
		cfg.Log("%s: %v", p.ImportPath, e)
	}
	var kept []*testRun
	for _, r := range runs {
		if r != nil {
			kept = append(kept, r)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].took < kept[j].took })
	return kept, nil
}

func readProfile(path string) (map[string][]block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]block{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		file, rest, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "mode:") {
			continue
		}
		var b block
		var stmts, count int
		if _, err := fmt.Sscanf(rest, "%d.%d,%d.%d %d %d", &b.sl, &b.sc, &b.el, &b.ec, &stmts, &count); err != nil {
			return nil, fmt.Errorf("coverage profile %s: %q: %w", path, line, err)
		}
		if count > 0 {
			base := filepath.Base(file)
			out[base] = append(out[base], b)
		}
	}
	return out, sc.Err()
}

// runMutants runs every covered mutant (or a sample of Max of them, or as
// many as the deadline allows).
func (cfg *Config) runMutants(ctx context.Context, p *Package, bin string, tests []*testRun, deadline time.Time) []Result {
	results := make([]Result, len(p.Mutants))
	var covered []int
	cover := make([][]*testRun, len(p.Mutants))
	for i, m := range p.Mutants {
		results[i] = Result{Mutant: m, Status: NotCovered}
		for _, t := range tests {
			if t.covers(m) {
				cover[i] = append(cover[i], t)
			}
		}
		if len(cover[i]) > 0 && (cfg.Only == nil || cfg.Only[m.ID]) {
			covered = append(covered, i)
		}
	}
	run := covered
	if cfg.Max > 0 && len(covered) > cfg.Max {
		run = nil
		for k := 0; k < cfg.Max; k++ {
			run = append(run, covered[k*len(covered)/cfg.Max])
		}
		for _, i := range covered {
			results[i].Status = Skipped
		}
	}
	if !deadline.IsZero() {
		// Any prefix of this order is spread over the package's files.
		sort.Slice(run, func(a, b int) bool { return scramble(run[a]) < scramble(run[b]) })
		for _, i := range run {
			results[i].Status = Skipped
		}
	}
	var mu sync.Mutex
	done := 0
	defer func() { cfg.Log("%s: %d mutants run", p.ImportPath, done) }()
	cfg.parallel(len(run), func(k int) {
		i := run[k]
		if !deadline.IsZero() && time.Now().After(deadline) {
			return
		}
		defer func() {
			mu.Lock()
			defer mu.Unlock()
			if done++; done%100 == 0 {
				cfg.Log("%s: %d of %d mutants run", p.ImportPath, done, len(run))
			}
		}()
		results[i].Status = Survived
		for _, t := range cover[i] {
			timeout := max(cfg.MinTimeout, time.Duration(cfg.Factor*float64(t.took)))
			st := cfg.exec(ctx, p.Dir, bin, t.name, p.Mutants[i].ID, timeout)
			if st != Survived {
				results[i].Status, results[i].Test = st, t.name
				return
			}
		}
		cfg.Log("survived %s %s %s (#%d)", p.Mutants[i].Pos(p.Dir), p.Mutants[i].Kind, p.Mutants[i].Desc, p.Mutants[i].ID)
	})
	return results
}

// scramble maps a mutant index to its place in a fixed pseudo-random order.
func scramble(i int) uint32 {
	x := uint32(i) * 2654435761
	return x ^ x>>16
}

// exec runs one test of a binary with a mutant active (0: none) and says
// whether it passed (Survived), failed (Killed) or ran out of time.
func (cfg *Config) exec(ctx context.Context, dir, bin, test string, id int, timeout time.Duration, extra ...string) Status {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"-test.run", test, "-test.count=1", "-test.failfast"}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DFAAS_MUTANT="+strconv.Itoa(id))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // children the test left behind
	}
	switch {
	case err == nil:
		return Survived
	case ctx.Err() != nil:
		return TimedOut
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return Killed
	}
	return Killed
}

// parallel calls f(0..n-1) on cfg.Workers goroutines and waits for them.
func (cfg *Config) parallel(n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < max(1, cfg.Workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Mutants plants the mutants of each package without running anything.
func Mutants(ctx context.Context, cfg Config) ([]*Package, error) {
	pkgs, exports, err := cfg.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Package
	for _, l := range pkgs {
		if len(l.CgoFiles) > 0 || len(l.GoFiles) == 0 {
			continue
		}
		p, err := Plant(l.ImportPath, l.Dir, l.Name, l.GoFiles, exports)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}
