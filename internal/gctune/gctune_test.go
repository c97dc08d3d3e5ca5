package gctune

import (
	"flag"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"testing/fstest"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		percent Percent
		limit   Limit
		bad     string // the flag an error names
	}{
		{nil, DefaultPercent, -1, ""},
		{[]string{"--gc-percent", "200"}, 200, -1, ""},
		{[]string{"--gc-percent", "OFF", "--memory-limit", "1GiB"}, -1, 1 << 30, ""},
		{[]string{"--memory-limit", "off"}, DefaultPercent, 0, ""},
		{[]string{"--memory-limit", "768MiB"}, DefaultPercent, 768 << 20, ""},
		{[]string{"--memory-limit", "17000000"}, DefaultPercent, 17000000, ""},
		{[]string{"--memory-limit", "auto"}, DefaultPercent, -1, ""},
		{[]string{"--gc-percent", "0"}, 0, 0, "gc-percent"},
		{[]string{"--gc-percent", "-5"}, 0, 0, "gc-percent"},
		{[]string{"--gc-percent", "lots"}, 0, 0, "gc-percent"},
		{[]string{"--gc-percent", "1.5"}, 0, 0, "gc-percent"},
		{[]string{"--memory-limit", "1MiB"}, 0, 0, "memory-limit"},
		{[]string{"--memory-limit", "512MB"}, 0, 0, "memory-limit"},
		{[]string{"--memory-limit", "-1GiB"}, 0, 0, "memory-limit"},
		{[]string{"--memory-limit", "99999999999TiB"}, 0, 0, "memory-limit"},
		{[]string{"--memory-limit", ""}, 0, 0, "memory-limit"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := Register(fs)
		err := fs.Parse(tc.args)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), "-"+tc.bad) || !strings.Contains(err.Error(), "want") {
				t.Errorf("%v: err %v; want one naming -%s and the form wanted", tc.args, err, tc.bad)
			}
			continue
		}
		if err != nil || f.Percent != tc.percent || f.Limit != tc.limit {
			t.Errorf("%v: percent %v, limit %v, err %v; want %v, %v", tc.args, f.Percent, f.Limit, err, tc.percent, tc.limit)
		}
		// String gives back what Set takes.
		g := Register(flag.NewFlagSet("u", flag.ContinueOnError))
		if g.Percent.Set(f.Percent.String()) != nil || g.Limit.Set(f.Limit.String()) != nil || *g != *f {
			t.Errorf("%v: %q, %q do not parse back", tc.args, f.Percent.String(), f.Limit.String())
		}
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1024", 1024, true}, {"1KiB", 1024, true}, {"3GiB", 3 << 30, true}, {"2TiB", 2 << 40, true},
		{"5B", 5, true}, {"1.5GiB", 0, false}, {"1GB", 0, false}, {"GiB", 0, false}, {"8388608TiB", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && tc.want > 0 {
			if back, err := ParseSize(FormatSize(tc.want)); err != nil || back != tc.want {
				t.Errorf("FormatSize(%d) = %q parses to %d, %v", tc.want, FormatSize(tc.want), back, err)
			}
		}
	}
}

func TestAutoLimit(t *testing.T) {
	meminfo := &fstest.MapFile{Data: []byte("MemTotal:        4000000 kB\nMemFree:  1 kB\n")}
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  int64
	}{
		{"cgroup v2 of the process", fstest.MapFS{
			"proc/self/cgroup":                          {Data: []byte("0::/kubepods/pod1/c1\n")},
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": {Data: []byte("1073741824\n")},
			"proc/meminfo":                              meminfo}, 1073741824 / 10 * 9},
		{"cgroup v2 at the root of a namespace", fstest.MapFS{
			"proc/self/cgroup":         {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("536870912\n")}}, 536870912 / 10 * 9},
		{"cgroup v2 without a limit", fstest.MapFS{
			"proc/self/cgroup":                    {Data: []byte("0::/user.slice\n")},
			"sys/fs/cgroup/user.slice/memory.max": {Data: []byte("max\n")},
			"proc/meminfo":                        meminfo}, 4000000 << 10 / 4},
		{"cgroup v1", fstest.MapFS{
			"proc/self/cgroup": {Data: []byte("12:cpu,cpuacct:/x\n4:memory:/docker/abc\n")},
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": {Data: []byte("268435456\n")}}, 268435456 / 10 * 9},
		{"cgroup v1 without a limit", fstest.MapFS{
			"proc/self/cgroup":                           {Data: []byte("4:memory:/\n")},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
			"proc/meminfo":                               meminfo}, 4000000 << 10 / 4},
		{"no cgroup", fstest.MapFS{"proc/meminfo": meminfo}, 4000000 << 10 / 4},
		{"nothing", fstest.MapFS{"proc/meminfo": {Data: []byte("MemTotal: lots\n")}}, 0},
	} {
		if got, from := AutoLimit(tc.files); got != tc.want || !strings.HasPrefix(from, "auto") {
			t.Errorf("%s: %d (%s); want %d", tc.name, got, from, tc.want)
		}
	}
}

func TestSettingsOffNeedsLimit(t *testing.T) {
	none := fstest.MapFS{}
	for _, tc := range []struct {
		f  Flags
		ok bool
	}{
		{Flags{Percent: -1, Limit: 0}, false},
		{Flags{Percent: -1, Limit: -1}, false}, // auto finds nothing here
		{Flags{Percent: -1, Limit: 64 << 20}, true},
		{Flags{Percent: 200, Limit: 0}, true},
	} {
		_, err := tc.f.Settings(none)
		if (err == nil) != tc.ok || err != nil && !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("%+v: err %v; want ok %v (an error naming --memory-limit)", tc.f, err, tc.ok)
		}
	}
}

// restore puts back this process's GC settings at the end of a test.
func restore(t *testing.T) {
	p, l := Current()
	t.Cleanup(func() { debug.SetGCPercent(p); debug.SetMemoryLimit(l) })
}

func noEnv(string) (string, bool) { return "", false }

func TestApply(t *testing.T) {
	restore(t)
	for _, s := range []Settings{{Percent: 250, Limit: 300 << 20}, {Percent: 100, Limit: 0}, {Percent: -1, Limit: 64 << 20}} {
		a := Apply(s, noEnv)
		p, l := Current()
		wantL := s.Limit
		if wantL == 0 {
			wantL = math.MaxInt64
		}
		if p != s.Percent || l != wantL || a.Percent != p || a.Limit != l || a.PercentFrom != "--gc-percent" {
			t.Errorf("Apply(%+v) = %+v; the runtime has %d, %d", s, a, p, l)
		}
		want := map[int64]string{300 << 20: "GC percent 250 (--gc-percent), memory limit 300 MiB", 0: "GC percent 100 (--gc-percent), memory limit none",
			64 << 20: "GC percent off (--gc-percent), memory limit 64 MiB"}[s.Limit]
		if !strings.HasPrefix(a.String(), want) {
			t.Errorf("Apply(%+v): %q, want %q...", s, a, want)
		}
	}
}

func TestApplyEnvironmentWins(t *testing.T) {
	restore(t)
	debug.SetGCPercent(77)
	debug.SetMemoryLimit(500 << 20)
	env := map[string]string{"GOGC": "77", "GOMEMLIMIT": "500MiB"}
	a := Apply(Settings{Percent: 400, Limit: 100 << 20}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if p, l := Current(); p != 77 || l != 500<<20 || a.PercentFrom != "GOGC" || a.LimitFrom != "GOMEMLIMIT" {
		t.Errorf("with GOGC and GOMEMLIMIT set: runtime %d, %d, applied %+v; want 77, 500MiB from the environment", p, l, a)
	}
	// Each on its own: GOGC set, GOMEMLIMIT not.
	delete(env, "GOMEMLIMIT")
	a = Apply(Settings{Percent: 400, Limit: 100 << 20}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if p, l := Current(); p != 77 || l != 100<<20 || a.LimitFrom == "GOMEMLIMIT" {
		t.Errorf("with GOGC set only: runtime %d, %d, applied %+v; want 77 and the flag's 100MiB", p, l, a)
	}
}

func TestFlagsApplyReadsTheEnvironment(t *testing.T) {
	restore(t)
	debug.SetGCPercent(77)
	t.Setenv("GOGC", "77") // as if the process had started with it
	t.Setenv("GOMEMLIMIT", "")
	f := &Flags{Percent: 300, Limit: 200 << 20}
	a, err := f.Apply(slog.New(slog.DiscardHandler))
	if p, l := Current(); err != nil || p != 77 || l != 200<<20 || a.PercentFrom != "GOGC" {
		t.Errorf("GOGC=77 in the environment: runtime %d, %d, applied %+v, err %v; want 77 and 200MiB", p, l, a, err)
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want Flags
		bad  string
	}{
		{nil, Flags{DefaultPercent, -1}, ""},
		{map[string]string{PercentEnv: "150", LimitEnv: "2GiB"}, Flags{150, 2 << 30}, ""},
		{map[string]string{PercentEnv: "off", LimitEnv: "auto"}, Flags{-1, -1}, ""},
		{map[string]string{PercentEnv: "x"}, Flags{}, "AGENT_GC_PERCENT"},
		{map[string]string{LimitEnv: "1"}, Flags{}, "AGENT_MEMORY_LIMIT"},
	} {
		f, err := FromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%v: err %v; want one naming %s", tc.env, err, tc.bad)
			}
			continue
		}
		if err != nil || *f != tc.want {
			t.Errorf("%v: %+v, %v; want %+v", tc.env, f, err, tc.want)
			continue
		}
		// Environ gives back what FromEnv reads.
		env := map[string]string{}
		for _, kv := range f.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		if g, err := FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil || *g != *f {
			t.Errorf("%v: Environ %v reads back as %+v, %v", tc.env, f.Environ(), g, err)
		}
	}
}
