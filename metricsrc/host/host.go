package host

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dfaas-go/dfaas/metricsrc"
)

// userHZ is the unit of /proc/stat CPU times on every Linux architecture
// Go supports (USER_HZ = 100).
const userHZ = 100

// Reader reads /proc (or another root, for tests). It is safe for
// concurrent use.
type Reader struct {
	root string
}

// New returns a Reader of the /proc file system at root ("/proc" if empty).
func New(root string) *Reader {
	if root == "" {
		root = "/proc"
	}
	return &Reader{root: root}
}

// Totals implements metricsrc.TotalsReader; only Node is filled.
func (r *Reader) Totals(ctx context.Context) (metricsrc.Totals, error) {
	if err := ctx.Err(); err != nil {
		return metricsrc.Totals{}, err
	}
	stat, err := os.ReadFile(filepath.Join(r.root, "stat"))
	if err != nil {
		return metricsrc.Totals{}, fmt.Errorf("host: %w", err)
	}
	mem, err := os.ReadFile(filepath.Join(r.root, "meminfo"))
	if err != nil {
		return metricsrc.Totals{}, fmt.Errorf("host: %w", err)
	}
	var t metricsrc.Totals
	if t.Node.CPUSeconds, t.Node.CPUCores, err = ParseStat(stat); err != nil {
		return metricsrc.Totals{}, fmt.Errorf("host: %s/stat: %w", r.root, err)
	}
	if t.Node.Memory, t.Node.MemoryTotal, err = ParseMeminfo(mem); err != nil {
		return metricsrc.Totals{}, fmt.Errorf("host: %s/meminfo: %w", r.root, err)
	}
	return t, nil
}

// ParseStat returns the busy CPU seconds (all but idle and iowait, summed
// over cores) and the number of cores of a /proc/stat.
func ParseStat(data []byte) (busy, cores float64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	found := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cores++
			continue
		}
		// cpu user nice system idle iowait irq softirq steal guest guest_nice
		if len(f) < 5 {
			return 0, 0, fmt.Errorf("line %q: want at least 4 counters", sc.Text())
		}
		var ticks uint64
		for i, s := range f[1:min(len(f), 9)] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("cpu counter %d %q: %w", i+1, s, err)
			}
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			ticks += v
		}
		busy, found = float64(ticks)/userHZ, true
	}
	if !found {
		return 0, 0, fmt.Errorf("no cpu line")
	}
	return busy, cores, nil
}

// ParseMeminfo returns the memory in use (MemTotal - MemAvailable) and the
// total, in bytes, of a /proc/meminfo.
func ParseMeminfo(data []byte) (used, total float64, err error) {
	var avail float64
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "MemTotal" && k != "MemAvailable") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("%s: no value", k)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s %q: %w", k, f[0], err)
		}
		kb := float64(n) * 1024
		if k == "MemTotal" {
			total, haveTotal = kb, true
		} else {
			avail, haveAvail = kb, true
		}
	}
	if !haveTotal || !haveAvail {
		return 0, 0, fmt.Errorf("MemTotal or MemAvailable missing")
	}
	if avail > total {
		return 0, 0, fmt.Errorf("MemAvailable %v above MemTotal %v", avail, total)
	}
	return total - avail, total, nil
}

// Interface guards.
var _ metricsrc.TotalsReader = (*Reader)(nil)
