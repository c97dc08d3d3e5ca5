package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Layout is where the processes of a pinned measurement run: the load
// generator and the backend on the CPUs Load, every proxy under test (the
// baseline as well as the others, one or two processes and their threads)
// on the CPUs Subject, the same for every subject and every round. Without
// it the scheduler places the one-thread HAProxies, the backend and the
// load generator as it likes, and whether two chained HAProxies share a
// core with the load generator changes from round to round.
type Layout struct {
	Load    []int `json:"load_cpus"`
	Subject []int `json:"subject_cpus"`
}

// String describes the layout for the text report.
func (l *Layout) String() string {
	if l == nil {
		return "not pinned: the scheduler places every process"
	}
	return fmt.Sprintf("pinned: load generator and backend on CPU %s, the proxies under test on CPU %s", cpuList(l.Load), cpuList(l.Subject))
}

func cpuList(cpus []int) string {
	s := ""
	for i, c := range cpus {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(c)
	}
	return s
}

// planLayout splits the CPUs this process may run on (sorted): the first
// for the load generator and the backend, the second for the proxies under
// test; any others are left to the rest of the machine.
func planLayout(allowed []int) (Layout, error) {
	if len(allowed) < 2 {
		return Layout{}, fmt.Errorf("pinning needs 2 CPUs, this process may run on %d", len(allowed))
	}
	return Layout{Load: []int{allowed[0]}, Subject: []int{allowed[1]}}, nil
}

// allowedCPUs returns the CPUs this process may run on, sorted.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	return setCPUs(&set), nil
}

func setCPUs(set *unix.CPUSet) []int {
	var cpus []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// maxPinPasses bounds the passes of pinTree over a process tree's threads:
// a thread started during one pass by a thread not yet pinned is pinned
// by the next.
const maxPinPasses = 5

// pinTree sets the CPU affinity of every thread of process pid and of
// its descendants (HAProxy's master and worker; threads started later
// inherit it from the thread that starts them, workers from the master)
// to cpus, and returns the CPUs those threads may then run on, read
// back. It fails if a pass still found a thread elsewhere after
// maxPinPasses.
func pinTree(pid int, cpus []int) ([]int, error) {
	var want unix.CPUSet
	for _, c := range cpus {
		want.Set(c)
	}
	for range maxPinPasses {
		moved, seen, err := pinPass(pid, &want)
		if err != nil {
			return nil, err
		}
		if !moved {
			if !slices.Equal(seen, cpus) {
				return nil, fmt.Errorf("process %d: threads read back on CPU %s, not %s", pid, cpuList(seen), cpuList(cpus))
			}
			return seen, nil
		}
	}
	return nil, fmt.Errorf("process %d: threads still off CPU %s after %d passes", pid, cpuList(cpus), maxPinPasses)
}

// pinPass pins every thread of pid's tree found off want; moved reports
// whether there was any, seen the union of the CPUs read back.
func pinPass(pid int, want *unix.CPUSet) (moved bool, seen []int, err error) {
	pids, err := treePIDs(pid)
	if err != nil {
		return false, nil, err
	}
	var union unix.CPUSet
	for _, p := range pids {
		tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(p), "task"))
		if err != nil {
			continue // gone
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			var got unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &got); err != nil {
				continue // gone
			}
			if got != *want {
				moved = true
				if err := unix.SchedSetaffinity(tid, want); err != nil && !errors.Is(err, unix.ESRCH) {
					return false, nil, fmt.Errorf("sched_setaffinity of thread %d of process %d: %w", tid, p, err)
				}
				continue
			}
			for _, c := range setCPUs(&got) {
				union.Set(c)
			}
		}
	}
	return moved, setCPUs(&union), nil
}

// treePIDs returns pid and its descendants.
func treePIDs(pid int) ([]int, error) {
	stats, err := allStats()
	if err != nil {
		return nil, err
	}
	if _, ok := stats[pid]; !ok {
		return nil, fmt.Errorf("process %d not found", pid)
	}
	var out []int
	for p := range stats {
		if descends(stats, p, pid) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// pinHarness plans the layout and pins the backend's and the load
// generator's processes to its Load CPUs.
func pinHarness(backend, load int) (*Layout, error) {
	allowed, err := allowedCPUs()
	if err != nil {
		return nil, err
	}
	l, err := planLayout(allowed)
	if err != nil {
		return nil, err
	}
	for _, pid := range []int{backend, load} {
		if _, err := pinTree(pid, l.Load); err != nil {
			return nil, err
		}
	}
	return &l, nil
}

// place pins the processes of s to the layout's Subject CPUs (nothing
// when not pinned) and records where they run.
func (e *env) place(s *subject) error {
	if e.layout == nil {
		return nil
	}
	s.cpus = nil
	for _, pid := range s.pids {
		seen, err := pinTree(pid, e.layout.Subject)
		if err != nil {
			return fmt.Errorf("dataplane: pin %s: %w", s.name, err)
		}
		for _, c := range seen {
			if !slices.Contains(s.cpus, c) {
				s.cpus = append(s.cpus, c)
			}
		}
	}
	slices.Sort(s.cpus)
	return nil
}
