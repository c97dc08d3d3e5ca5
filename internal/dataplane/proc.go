package dataplane

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on Linux).
const clockTicks = 100

// procStat is what /proc/PID/stat says of a process: its parent and CPU
// time.
type procStat struct {
	ppid int
	cpu  time.Duration // user + system
}

// parseStat parses the content of /proc/PID/stat. The command name (field
// 2) is in parentheses and may hold spaces, so fields are counted from the
// last ')'.
func parseStat(b string) (procStat, error) {
	i := strings.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("no command name in %.40q", b)
	}
	f := strings.Fields(b[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("%d fields after the command name", len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("bad numbers in %.80q", b)
	}
	return procStat{ppid: ppid, cpu: time.Duration(ut+st) * time.Second / clockTicks}, nil
}

// treeCPU returns the CPU time used so far by process pid and all its
// descendants (HAProxy's master and its worker).
func treeCPU(pid int) (time.Duration, error) {
	stats, err := allStats()
	if err != nil {
		return 0, err
	}
	if _, ok := stats[pid]; !ok {
		return 0, fmt.Errorf("process %d not found", pid)
	}
	var total time.Duration
	for p, s := range stats {
		if descends(stats, p, pid) {
			total += s.cpu
		}
	}
	return total, nil
}

// allStats reads /proc/PID/stat of every process.
func allStats() (map[int]procStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	stats := map[int]procStat{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone
		}
		if s, err := parseStat(string(b)); err == nil {
			stats[p] = s
		}
	}
	return stats, nil
}

// maxTreeDepth bounds the walk from a process up to an ancestor.
const maxTreeDepth = 16

// descends reports whether process p is pid or one of its descendants.
func descends(stats map[int]procStat, p, pid int) bool {
	for q, depth := p, 0; q > 0 && depth < maxTreeDepth; q, depth = stats[q].ppid, depth+1 {
		if q == pid {
			return true
		}
		if _, ok := stats[q]; !ok {
			return false
		}
	}
	return false
}

// ChildFunc returns the command that runs a child role of this package
// (RunChild) in a new process: dfaas dataplane --child <role> <args>.
type ChildFunc func(role string, args ...string) *exec.Cmd

// child is a running child process: it printed its address, and stops
// when its standard input closes.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
	node  string // its node port, if it printed one ("node <host:port>", before addr)
	gc    string // the garbage collector settings it printed ("gc <JSON>", before addr), if any
	done  chan struct{}
}

// startChild starts a child role and waits for the "addr <host:port>" line
// it prints once it listens.
func startChild(ctx context.Context, mk ChildFunc, role string, args ...string) (*child, error) {
	cmd := mk(role, args...)
	in, out, err := startPiped(cmd, role)
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: in, done: make(chan struct{})}
	addrs := make(chan string, 1)
	go func() { // ends when the child closes its standard output
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "node "); ok {
				c.node = a // before addr: read by the caller after it
			}
			if a, ok := strings.CutPrefix(sc.Text(), "gc "); ok {
				c.gc = a // the same
			}
			if a, ok := strings.CutPrefix(sc.Text(), "addr "); ok {
				select {
				case addrs <- a:
				default:
				}
			}
		}
		cmd.Wait()
		close(c.done)
	}()
	select {
	case c.addr = <-addrs:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("dataplane: %s exited before listening", role)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, fmt.Errorf("dataplane: %s not listening after 30s", role)
	}
}

// startPiped starts cmd (child role) with pipes to its standard input
// and from its standard output; its standard error is this process's.
func startPiped(cmd *exec.Cmd, role string) (io.WriteCloser, io.ReadCloser, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("dataplane: start %s: %w", role, err)
	}
	return in, out, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop closes the child's standard input (it exits), then kills it if it
// has not exited within 5 s, and waits for it.
func (c *child) stop() {
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// treeRunDelay returns the time the threads of process pid and of its
// descendants have spent so far runnable but waiting for a CPU (the
// second field of /proc/PID/task/TID/schedstat); threads that have
// exited are not counted.
func treeRunDelay(pid int) (time.Duration, error) {
	pids, err := treePIDs(pid)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, p := range pids {
		dir := filepath.Join("/proc", strconv.Itoa(p), "task")
		tasks, err := os.ReadDir(dir)
		if err != nil {
			continue // gone
		}
		for _, t := range tasks {
			b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
			if err != nil {
				continue // gone
			}
			if d, err := parseSchedstat(string(b)); err == nil {
				total += d
			}
		}
	}
	return total, nil
}

// parseSchedstat returns the run-queue wait of a schedstat line
// ("<on CPU ns> <waiting ns> <time slices>").
func parseSchedstat(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return 0, fmt.Errorf("schedstat %.40q: want 3 fields", s)
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("schedstat %.40q: bad wait", s)
	}
	return time.Duration(ns), nil
}

// runDelayOf sums treeRunDelay over pids.
func runDelayOf(pids []int) (time.Duration, error) {
	var t time.Duration
	for _, p := range pids {
		d, err := treeRunDelay(p)
		if err != nil {
			return 0, err
		}
		t += d
	}
	return t, nil
}

// peakRSS returns the sum of the peak resident set sizes (VmHWM in
// /proc/PID/status) of the processes of the trees of pids, in bytes.
func peakRSS(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		tree, err := treePIDs(pid)
		if err != nil {
			return 0, err
		}
		for _, p := range tree {
			b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "status"))
			if err != nil {
				continue // gone
			}
			v, _, err := parseVmHWM(string(b)) // none (a zombie): 0
			if err != nil {
				return 0, fmt.Errorf("process %d: %w", p, err)
			}
			total += v
		}
	}
	return total, nil
}

// parseVmHWM returns the VmHWM line of a /proc/PID/status in bytes, and
// whether there is one (a zombie has none).
func parseVmHWM(status string) (int64, bool, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, true, fmt.Errorf("status: VmHWM %q: want <n> kB", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return 0, true, fmt.Errorf("status: VmHWM %q: want <n> kB", strings.TrimSpace(rest))
		}
		return kb << 10, true, nil
	}
	return 0, false, nil
}
