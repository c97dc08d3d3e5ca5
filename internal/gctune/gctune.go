// Package gctune sets the garbage collector of a long-running process (the
// agent, dfaas agent --gc-percent and --memory-limit) with
// runtime/debug.SetGCPercent and SetMemoryLimit: a GC target above Go's
// default 100 spends less CPU per request on collection (and so less tail
// latency in the data plane) at the cost of a larger heap, which the soft
// memory limit bounds so that a small edge node does not run out of
// memory.
//
// GOGC and GOMEMLIMIT in the environment win over the flags, as Go's own
// precedence has it: an operator who set them meant them. Each setting is
// applied, or left to the environment, on its own.
package gctune

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DefaultPercent is the agent's GC target: the heap may grow to 1 +
// DefaultPercent/100 times the live heap before a collection (Go's default
// is 100). docs/haproxy.md has the measurements behind it.
const DefaultPercent = 400

// MinLimit is the smallest memory limit accepted: below it the collector
// would run all the time.
const MinLimit = 16 << 20

// Names of the flags and of their environment variables.
const (
	PercentFlag = "gc-percent"
	LimitFlag   = "memory-limit"
	PercentEnv  = "AGENT_GC_PERCENT"
	LimitEnv    = "AGENT_MEMORY_LIMIT"
)

// Env maps the flags to their environment variables (for usage.ApplyEnv
// and usage.NoteEnv).
func Env() map[string]string {
	return map[string]string{PercentFlag: PercentEnv, LimitFlag: LimitEnv}
}

// Percent is the value of --gc-percent: an integer ≥ 1, or off (-1: no
// collection until the memory limit is near).
type Percent int

// String returns the value as the flag takes it.
func (p *Percent) String() string {
	if p == nil {
		return ""
	}
	if *p < 0 {
		return "off"
	}
	return strconv.Itoa(int(*p))
}

// Set parses an integer ≥ 1 or off.
func (p *Percent) Set(s string) error {
	if strings.EqualFold(s, "off") {
		*p = -1
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return errors.New("want an integer ≥ 1 (100 is Go's default) or off")
	}
	*p = Percent(v)
	return nil
}

// Limit is the value of --memory-limit: a size in bytes, 0 for none (off),
// or auto (negative): derived from the machine (AutoLimit).
type Limit int64

// String returns the value as the flag takes it.
func (l *Limit) String() string {
	switch {
	case l == nil:
		return ""
	case *l < 0:
		return "auto"
	case *l == 0:
		return "off"
	}
	return FormatSize(int64(*l))
}

// Set parses auto, off, or a size: an integer with an optional unit B,
// KiB, MiB, GiB or TiB (GOMEMLIMIT's syntax), at least MinLimit.
func (l *Limit) Set(s string) error {
	switch strings.ToLower(s) {
	case "auto":
		*l = -1
		return nil
	case "off":
		*l = 0
		return nil
	}
	v, err := ParseSize(s)
	if err != nil || v < MinLimit {
		return fmt.Errorf("want a size such as 512MiB or 2GiB (units B, KiB, MiB, GiB, TiB), at least %s, or auto or off", FormatSize(MinLimit))
	}
	*l = Limit(v)
	return nil
}

// unit is a size unit of ParseSize: 1<<shift bytes.
type unit struct {
	name  string
	shift uint
}

// units returns the size units of ParseSize, largest first.
func units() []unit {
	return []unit{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
}

// ParseSize parses a non-negative integer with an optional unit B, KiB,
// MiB, GiB or TiB.
func ParseSize(s string) (int64, error) {
	num, shift := s, uint(0)
	for _, u := range units() {
		if n, ok := strings.CutSuffix(s, u.name); ok {
			num, shift = n, u.shift
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %q: want an integer with an optional unit B, KiB, MiB, GiB or TiB", s)
	}
	return v << shift, nil
}

// FormatSize writes a size in the largest unit that divides it.
func FormatSize(v int64) string {
	for _, u := range units() {
		if v != 0 && v%(1<<u.shift) == 0 {
			return strconv.FormatInt(v>>u.shift, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10) + "B"
}

// Flags are the values of --gc-percent and --memory-limit.
type Flags struct {
	Percent Percent
	Limit   Limit
}

// defaults returns the agent's defaults: DefaultPercent, and an automatic
// memory limit.
func defaults() *Flags { return &Flags{Percent: DefaultPercent, Limit: -1} }

// Register defines --gc-percent (default DefaultPercent) and
// --memory-limit (default auto) on fs and returns their values.
func Register(fs *flag.FlagSet) *Flags {
	f := defaults()
	fs.Var(&f.Percent, PercentFlag, "garbage collector target: the heap may grow to 1 + `N`/100 times the live heap before a collection (100: Go's default; more spends less CPU per request, more memory); off: collect only near --memory-limit; GOGC in the environment wins")
	fs.Var(&f.Limit, LimitFlag, "soft memory limit of the process's Go heap and runtime, a `size` such as 512MiB (units B, KiB, MiB, GiB, TiB): the collector works harder near it; auto: 90% of the cgroup's memory limit, else a quarter of the machine's memory; off: none; GOMEMLIMIT in the environment wins")
	return f
}
