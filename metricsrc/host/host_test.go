package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	stat := []byte("cpu  100 20 30 400 50 6 7 8 9 10\ncpu0 50 10 15 200 25 3 3 4 0 0\ncpu1 50 10 15 200 25 3 4 4 0 0\nintr 1 2 3\n")
	busy, cores, err := ParseStat(stat)
	// user+nice+system+irq+softirq+steal = 100+20+30+6+7+8 = 171 ticks
	if err != nil || busy != 1.71 || cores != 2 {
		t.Errorf("ParseStat = %v, %v, %v; want 1.71 s over 2 cores", busy, cores, err)
	}
	used, total, err := ParseMeminfo([]byte("MemTotal:       8000 kB\nMemFree:  100 kB\nMemAvailable:   6000 kB\n"))
	if err != nil || used != 2000*1024 || total != 8000*1024 {
		t.Errorf("ParseMeminfo = %v, %v, %v", used, total, err)
	}
	for _, bad := range []string{"", "cpu 1 2\n", "cpu a b c d\n", "intr 1\n"} {
		if _, _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) succeeded", bad)
		}
	}
	for _, bad := range []string{"", "MemTotal: 10 kB\n", "MemTotal: x kB\nMemAvailable: 1 kB\n", "MemTotal: 1 kB\nMemAvailable: 2 kB\n", "MemTotal:\nMemAvailable: 1 kB\n"} {
		if _, _, err := ParseMeminfo([]byte(bad)); err == nil {
			t.Errorf("ParseMeminfo(%q) succeeded", bad)
		}
	}
}

func TestReader(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu 100 0 0 100 0 0 0 0\ncpu0 100 0 0 100 0 0 0 0\n"), 0o644)
	if _, err := New(dir).Totals(context.Background()); err == nil {
		t.Error("missing meminfo: no error")
	}
	os.WriteFile(filepath.Join(dir, "meminfo"), []byte("MemTotal: 4 kB\nMemAvailable: 1 kB\n"), 0o644)
	tot, err := New(dir).Totals(context.Background())
	if err != nil || tot.Node.CPUSeconds != 1 || tot.Node.CPUCores != 1 || tot.Node.Memory != 3072 {
		t.Errorf("Totals = %+v, %v", tot, err)
	}
	if _, err := os.Stat("/proc/stat"); err == nil {
		tot, err := New("").Totals(context.Background())
		if err != nil || tot.Node.CPUCores < 1 || tot.Node.MemoryTotal <= 0 {
			t.Errorf("this host: %+v, %v", tot, err)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("cpu  100 20 30 400 50 6 7 8 9 10\ncpu0 1 2 3 4 5\n"))
	f.Add([]byte("cpu 18446744073709551615 1 1 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		busy, cores, err := ParseStat(data)
		if err == nil && (busy < 0 || cores < 0) {
			t.Fatalf("negative result %v %v", busy, cores)
		}
		used, total, err := ParseMeminfo(data)
		if err == nil && (used < 0 || used > total) {
			t.Fatalf("used %v of %v", used, total)
		}
	})
}
