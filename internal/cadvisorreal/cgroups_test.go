package cadvisorreal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cgroupTree is a tree of cgroups this test owns, under root in every
// hierarchy that holds the cpu, cpuacct or memory controller (one
// hierarchy under cgroup v2).
type cgroupTree struct {
	root   string            // the tree's path in each hierarchy, and cAdvisor's name prefix
	mounts map[string]string // controller (cpuacct, memory, or "" for v2) → mount point
	v2     bool
	dirs   []string // created, relative to root
}

// integration fails t under DFAAS_INTEGRATION=1, else skips it.
func integration(t *testing.T, format string, a ...any) {
	t.Helper()
	if os.Getenv("DFAAS_INTEGRATION") == "1" {
		t.Fatalf(format+" (and DFAAS_INTEGRATION=1)", a...)
	}
	t.Skipf(format+" (set DFAAS_INTEGRATION=1 to make this a failure)", a...)
}

// newCgroupTree creates /dfaas-cadvisorreal-<pid> in each hierarchy, or
// skips t (fails it under DFAAS_INTEGRATION=1) when it cannot.
func newCgroupTree(t *testing.T) *cgroupTree {
	t.Helper()
	if os.Geteuid() != 0 {
		integration(t, "cgroups need root")
	}
	ct := &cgroupTree{root: fmt.Sprintf("/dfaas-cadvisorreal-%d", os.Getpid()), mounts: map[string]string{}}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		integration(t, "read /proc/self/mounts: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(mounts)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		switch {
		case f[2] == "cgroup2" && f[1] == "/sys/fs/cgroup":
			ct.v2 = true
			ct.mounts = map[string]string{"": f[1]}
		case f[2] == "cgroup" && !ct.v2:
			for _, o := range strings.Split(f[3], ",") {
				if o == "cpu" || o == "cpuacct" || o == "memory" {
					ct.mounts[o] = f[1]
				}
			}
		}
	}
	if !ct.v2 && (ct.mounts["cpuacct"] == "" || ct.mounts["memory"] == "") {
		integration(t, "no cgroup v2 at /sys/fs/cgroup and no cgroup v1 cpuacct and memory hierarchies: %v", ct.mounts)
	}
	if ct.v2 {
		// The controllers must be enabled down to the leaves.
		if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpu +memory"), 0); err != nil {
			integration(t, "enable the cpu and memory controllers of cgroup v2: %v", err)
		}
	}
	t.Cleanup(ct.remove)
	if err := ct.add(""); err != nil {
		integration(t, "create cgroup %s: %v", ct.root, err)
	}
	return ct
}

// hierarchies returns the distinct mount points of the tree.
func (ct *cgroupTree) hierarchies() []string {
	var out []string
	for _, m := range ct.mounts {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// add creates the cgroup at path (relative to root) and its parents.
func (ct *cgroupTree) add(path string) error {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	cur := ""
	for i := 0; i <= len(parts); i++ {
		if i > 0 {
			if parts[i-1] == "" {
				continue
			}
			cur += "/" + parts[i-1]
		}
		if slices.Contains(ct.dirs, cur) {
			continue
		}
		for _, m := range ct.hierarchies() {
			dir := filepath.Join(m, ct.root, cur)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			if ct.v2 && i < len(parts) {
				// Not a leaf: let its children use the controllers.
				if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0); err != nil {
					return fmt.Errorf("%s: enable controllers: %w", dir, err)
				}
			}
		}
		ct.dirs = append(ct.dirs, cur)
	}
	return nil
}

// place moves process pid into the cgroup at path in every hierarchy.
func (ct *cgroupTree) place(path string, pid int) error {
	for _, m := range ct.hierarchies() {
		f := filepath.Join(m, ct.root, path, "cgroup.procs")
		if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// file returns the path of a control file of the cgroup at path.
func (ct *cgroupTree) file(controller, path, name string) string {
	if ct.v2 {
		controller = ""
	}
	return filepath.Join(ct.mounts[controller], ct.root, path, name)
}

// cpuSeconds reads the CPU time the cgroup at path used, as the kernel
// counts it.
func (ct *cgroupTree) cpuSeconds(path string) (float64, error) {
	if ct.v2 {
		st, err := readStat(ct.file("", path, "cpu.stat"))
		if err != nil {
			return 0, err
		}
		return st["usage_usec"] / 1e6, nil
	}
	b, err := os.ReadFile(ct.file("cpuacct", path, "cpuacct.usage"))
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	return ns / 1e9, err
}

// workingSet computes the cgroup's working set as the kernel's files give
// it: memory in use minus inactive file pages.
func (ct *cgroupTree) workingSet(path string) (float64, error) {
	usageFile, inactive := "memory.usage_in_bytes", "total_inactive_file"
	if ct.v2 {
		usageFile, inactive = "memory.current", "inactive_file"
	}
	b, err := os.ReadFile(ct.file("memory", path, usageFile))
	if err != nil {
		return 0, err
	}
	usage, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0, err
	}
	st, err := readStat(ct.file("memory", path, "memory.stat"))
	if err != nil {
		return 0, err
	}
	return max(0, usage-st[inactive]), nil
}

// readStat reads a "key value" file.
func readStat(path string) (map[string]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			out[k] = f
		}
	}
	return out, nil
}

// remove deletes the tree, deepest first, once its processes are gone.
func (ct *cgroupTree) remove() {
	dirs := slices.Clone(ct.dirs)
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range dirs {
		for _, m := range ct.hierarchies() {
			p := filepath.Join(m, ct.root, d)
			for {
				err := os.Remove(p)
				if err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond) // a process that just exited may still hold it
			}
		}
	}
}
