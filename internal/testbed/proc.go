package testbed

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process of a run, in a process group of its own so
// that it and its children can be signalled together.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  *tail
	done chan struct{}
	err  error // valid after done
}

// Start starts argv as a child process named name. wg owns the goroutine
// that waits for it.
func Start(wg *sync.WaitGroup, name string, argv []string) (*Proc, error) {
	p := &Proc{name: name, out: &tail{max: 64 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	wg.Go(func() {
		p.err = p.cmd.Wait()
		close(p.done)
	})
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitError describes how the process ended, with the last lines of its
// output, wrapping ErrProcExited; call it once Exited.
func (p *Proc) ExitError() error {
	return fmt.Errorf("%w: %s: %v\n%s", ErrProcExited, p.name, p.err, p.out.lastLines(20))
}

// Stop asks the process group to terminate (SIGTERM), and kills it after
// grace. It returns once the process has ended.
func (p *Proc) Stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
	// The group may outlive its leader (a child that ignored SIGTERM).
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// lastLines returns the last n lines written.
func (t *tail) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimRight(t.b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// SweepDir kills every process whose command line mentions dir (such as
// an HAProxy whose agent was killed before it could stop it) and waits up
// to wait for them to end.
func SweepDir(dir string, wait time.Duration) {
	if dir == "" {
		return
	}
	deadline := time.Now().Add(wait)
	for {
		pids := PidsMentioning(dir)
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PidsMentioning returns the processes (other than this one) whose
// command line contains s.
func PidsMentioning(s string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), s) && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombie reports whether pid has ended and waits for its parent.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}
