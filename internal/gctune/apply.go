package gctune

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// Settings are what Apply sets: the GC percent (-1: off) and the soft
// memory limit in bytes (0: none).
type Settings struct {
	Percent int
	Limit   int64
	// LimitFrom says where Limit comes from: the flag, or what auto
	// derived it from (AutoLimit).
	LimitFrom string
}

// Settings resolves the flags: auto becomes AutoLimit of fsys (the root
// of the file system, os.DirFS("/")). Off with no memory limit is refused:
// the heap would grow without bound.
func (f *Flags) Settings(fsys fs.FS) (Settings, error) {
	s := Settings{Percent: int(f.Percent), Limit: int64(f.Limit), LimitFrom: "--" + LimitFlag}
	if f.Limit < 0 {
		s.Limit, s.LimitFrom = AutoLimit(fsys)
	}
	if s.Percent < 0 && s.Limit == 0 {
		return s, fmt.Errorf("--%s off needs a --%s (%s gave none): the heap would grow without bound", PercentFlag, LimitFlag, s.LimitFrom)
	}
	return s, nil
}

// Applied is what the collector runs with after Apply, read back from
// the runtime, and where each setting came from.
type Applied struct {
	Percent     int    `json:"gc_percent"` // -1: off
	PercentFrom string `json:"gc_percent_from"`
	// Limit is the soft memory limit in bytes, math.MaxInt64 for none.
	Limit     int64  `json:"memory_limit_bytes"`
	LimitFrom string `json:"memory_limit_from"`
}

// Apply sets the GC percent and the memory limit of this process from s,
// except each one whose variable (GOGC, GOMEMLIMIT) lookupEnv (os.LookupEnv)
// finds set: the environment wins. It returns what is in effect.
func Apply(s Settings, lookupEnv func(string) (string, bool)) Applied {
	a := Applied{PercentFrom: "--" + PercentFlag, LimitFrom: s.LimitFrom}
	if v, ok := lookupEnv("GOGC"); ok && v != "" {
		a.PercentFrom = "GOGC"
	} else {
		debug.SetGCPercent(s.Percent)
	}
	if v, ok := lookupEnv("GOMEMLIMIT"); ok && v != "" {
		a.LimitFrom = "GOMEMLIMIT"
	} else {
		lim := s.Limit
		if lim <= 0 {
			lim = math.MaxInt64
		}
		debug.SetMemoryLimit(lim)
	}
	a.Percent, a.Limit = Current()
	return a
}

// Current returns the GC percent (-1: off) and the memory limit in bytes
// (math.MaxInt64: none) this process runs with, from runtime/metrics.
func Current() (percent int, limit int64) {
	m := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(m)
	percent, limit = -1, math.MaxInt64
	if m[0].Value.Kind() == metrics.KindUint64 {
		if p := m[0].Value.Uint64(); p <= math.MaxInt32 { // off reads as a huge value
			percent = int(p)
		}
	}
	if m[1].Value.Kind() == metrics.KindUint64 {
		limit = int64(min(m[1].Value.Uint64(), math.MaxInt64))
	}
	return percent, limit
}

// Attrs describes a for a log line.
func (a Applied) Attrs() []any {
	limit := "none"
	if a.Limit < math.MaxInt64 {
		limit = FormatSize(a.Limit)
	}
	percent := "off"
	if a.Percent >= 0 {
		percent = strconv.Itoa(a.Percent)
	}
	return []any{"gc_percent", percent, "gc_percent_from", a.PercentFrom, "memory_limit", limit, "memory_limit_from", a.LimitFrom}
}

// String describes a in words: "GC percent 400 (--gc-percent), memory
// limit 6026 MiB (auto: a quarter of MemTotal)".
func (a Applied) String() string {
	limit := "none"
	if a.Limit < math.MaxInt64 {
		limit = fmt.Sprintf("%.0f MiB", float64(a.Limit)/(1<<20))
	}
	percent := "off"
	if a.Percent >= 0 {
		percent = strconv.Itoa(a.Percent)
	}
	return fmt.Sprintf("GC percent %s (%s), memory limit %s (%s)", percent, a.PercentFrom, limit, a.LimitFrom)
}

// Apply resolves and applies the flags to this process (the environment's
// GOGC and GOMEMLIMIT winning) and logs what is in effect.
func (f *Flags) Apply(log *slog.Logger) (Applied, error) {
	s, err := f.Settings(os.DirFS("/"))
	if err != nil {
		return Applied{}, err
	}
	a := Apply(s, os.LookupEnv)
	log.Info("garbage collector", a.Attrs()...)
	return a, nil
}

// AutoLimit derives a soft memory limit from the file system fsys (rooted
// at /): 90% of the memory limit of the process's cgroup (v2, else v1) if
// it has one, else a quarter of the machine's memory (MemTotal), else
// none (0). It also says which.
func AutoLimit(fsys fs.FS) (int64, string) {
	if c := cgroupLimit(fsys); c > 0 {
		return c / 10 * 9, "auto: 90% of the cgroup's memory limit"
	}
	if m := memTotal(fsys); m > 0 {
		return m / 4, "auto: a quarter of MemTotal"
	}
	return 0, "auto: no cgroup memory limit or MemTotal found"
}

// noLimit is the smallest value a cgroup v1 limit file holds when there is
// no limit (the page-rounded maximum).
const noLimit = 1 << 60

// cgroupLimit returns the memory limit of the process's cgroup, 0 if none.
func cgroupLimit(fsys fs.FS) int64 {
	var paths []string
	if b, err := fs.ReadFile(fsys, "proc/self/cgroup"); err == nil {
		for line := range strings.Lines(string(b)) {
			f := strings.SplitN(strings.TrimSpace(line), ":", 3)
			switch {
			case len(f) != 3:
			case f[0] == "0" && f[1] == "":
				paths = append(paths, "sys/fs/cgroup"+strings.TrimSuffix(f[2], "/")+"/memory.max")
			case strings.Contains(","+f[1]+",", ",memory,"):
				paths = append(paths, "sys/fs/cgroup/memory"+strings.TrimSuffix(f[2], "/")+"/memory.limit_in_bytes")
			}
		}
	}
	paths = append(paths, "sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes")
	for _, p := range paths {
		b, err := fs.ReadFile(fsys, strings.TrimPrefix(p, "/"))
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err == nil && v > 0 && v < noLimit {
			return v
		}
		return 0 // "max", or v1's no-limit value: the first file found says
	}
	return 0
}

// memTotal returns MemTotal of /proc/meminfo in bytes, 0 if unknown.
func memTotal(fsys fs.FS) int64 {
	b, err := fs.ReadFile(fsys, "proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil && kb > 0 && kb < math.MaxInt64>>10 {
				return kb << 10
			}
		}
	}
	return 0
}

// FromEnv returns flags with their defaults, set from AGENT_GC_PERCENT and
// AGENT_MEMORY_LIMIT where lookupEnv (os.LookupEnv) finds them: the form
// in which a process that has no flags of its own (a child of dfaas
// dataplane) takes them. Env gives them in that form.
func FromEnv(lookupEnv func(string) (string, bool)) (*Flags, error) {
	f := defaults()
	if v, ok := lookupEnv(PercentEnv); ok {
		if err := f.Percent.Set(v); err != nil {
			return nil, fmt.Errorf("environment %s=%q (for --%s): %w", PercentEnv, v, PercentFlag, err)
		}
	}
	if v, ok := lookupEnv(LimitEnv); ok {
		if err := f.Limit.Set(v); err != nil {
			return nil, fmt.Errorf("environment %s=%q (for --%s): %w", LimitEnv, v, LimitFlag, err)
		}
	}
	return f, nil
}

// Environ returns f as the variables FromEnv reads ("KEY=value").
func (f *Flags) Environ() []string {
	return []string{PercentEnv + "=" + f.Percent.String(), LimitEnv + "=" + f.Limit.String()}
}
