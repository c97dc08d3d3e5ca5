package dataplane

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPlanLayout(t *testing.T) {
	for _, c := range []struct {
		allowed       []int
		load, subject []int
	}{
		{nil, nil, nil},
		{[]int{3}, nil, nil},
		{[]int{0, 1}, []int{0}, []int{1}},
		{[]int{2, 5, 7}, []int{2}, []int{5}},
	} {
		l, err := planLayout(c.allowed)
		if (err != nil) != (c.load == nil) || !slices.Equal(l.Load, c.load) || !slices.Equal(l.Subject, c.subject) {
			t.Errorf("planLayout(%v) = %+v, %v; want load %v, subject %v", c.allowed, l, err, c.load, c.subject)
		}
	}
	var none *Layout
	if got := (&Layout{Load: []int{0}, Subject: []int{1, 2}}).String() + " / " + none.String(); got !=
		"pinned: load generator and backend on CPU 0, the proxies under test on CPU 1,2 / not pinned: the scheduler places every process" {
		t.Errorf("Layout.String: %s", got)
	}
}

// TestPinTree pins a process tree (a shell and its child) and a process
// with several threads (a Go child) to one CPU, and reads every thread's
// affinity back.
func TestPinTree(t *testing.T) {
	allowed, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) < 2 {
		t.Skip("one CPU: every thread is on it already")
	}
	cpu := []int{allowed[len(allowed)-1]}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tree := exec.CommandContext(ctx, "sh", "-c", "sleep 60 & wait")
	spec, _ := json.Marshal([]string{roleBackend, "127.0.0.1:0"})
	goChild := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	goChild.Env = append(os.Environ(), childEnv+"="+string(spec))
	for _, cmd := range []*exec.Cmd{tree, goChild} {
		in, err := cmd.StdinPipe() // the Go child stops at its end
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	}
	// Wait (with a deadline) for the shell's child and the Go child's
	// threads to exist.
	for deadline := time.Now().Add(30 * time.Second); ; {
		kids := childrenOf(tree.Process.Pid)
		if len(kids) == 1 && len(tasksOf(goChild.Process.Pid)) > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("children of the shell %v, %d threads of the Go child", kids, len(tasksOf(goChild.Process.Pid)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, cmd := range []*exec.Cmd{tree, goChild} {
		seen, err := pinTree(cmd.Process.Pid, cpu)
		if err != nil || !slices.Equal(seen, cpu) {
			t.Fatalf("pinTree(%d, %v) = %v, %v", cmd.Process.Pid, cpu, seen, err)
		}
		for _, p := range append([]int{cmd.Process.Pid}, childrenOf(cmd.Process.Pid)...) {
			for _, tid := range tasksOf(p) {
				var got unix.CPUSet
				if err := unix.SchedGetaffinity(tid, &got); err != nil {
					continue // gone
				}
				if !slices.Equal(setCPUs(&got), cpu) {
					t.Errorf("thread %d of process %d (of %d's tree) on CPU %v, want %v", tid, p, cmd.Process.Pid, setCPUs(&got), cpu)
				}
			}
		}
	}
	if _, err := pinTree(1<<30, cpu); err == nil {
		t.Error("pinTree of a missing process")
	}
}

// tasksOf returns the thread ids of process pid.
func tasksOf(pid int) []int {
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return nil
	}
	var tids []int
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// childrenOf returns the children of process pid's main thread, read from
// /proc independently of treePIDs.
func childrenOf(pid int) []int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(pid), "children"))
	if err != nil {
		return nil
	}
	var kids []int
	for _, f := range strings.Fields(string(b)) {
		if k, err := strconv.Atoi(f); err == nil {
			kids = append(kids, k)
		}
	}
	return kids
}
