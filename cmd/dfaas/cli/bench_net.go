package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// benchNet connects the nodes of a bench run: each node's processes run
// in it, reach the others' proxies and peer ports at addr(i), and the
// bench reaches a node's local services (proxy, admin) through dialer(i).
type benchNet interface {
	// describe says how the nodes are connected, for the report.
	describe() string
	// addr is node i's IP address as its peers see it.
	addr(i int) string
	// ports are node i's listening ports.
	ports(i int) benchPorts
	// command returns the argv that runs argv inside node i's network.
	command(i int, argv []string) []string
	// dialer dials node i's local services (as a user of that node).
	dialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error)
	// sweep kills what is left in the network (after the processes were
	// stopped).
	sweep()
	// close tears the network down. It is idempotent.
	close() error
}

// benchPorts are the ports of one node's services.
type benchPorts struct {
	faas, proxy, admin, peer, metrics int
}

// benchLoopback runs every node on 127.0.0.1 with ports of its own: no
// links or RTTs are emulated, and every node can reach every other.
type benchLoopback struct {
	p      []benchPorts
	reason string
}

var _ benchNet = (*benchLoopback)(nil)

// newBenchLoopback picks free ports for n nodes.
func newBenchLoopback(n int, reason string) (*benchLoopback, error) {
	l := &benchLoopback{reason: reason}
	for range n {
		var p benchPorts
		for _, dst := range []*int{&p.faas, &p.proxy, &p.admin, &p.metrics} {
			port, err := benchFreePort("tcp")
			if err != nil {
				return nil, err
			}
			*dst = port
		}
		port, err := benchFreePort("udp")
		if err != nil {
			return nil, err
		}
		p.peer = port
		l.p = append(l.p, p)
	}
	return l, nil
}

// benchFreePort returns a port free on 127.0.0.1 now.
func benchFreePort(network string) (int, error) {
	var a net.Addr
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		a = c.LocalAddr()
		c.Close()
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		a = l.Addr()
		l.Close()
	}
	_, port, _ := net.SplitHostPort(a.String())
	return strconv.Atoi(port)
}

func (l *benchLoopback) describe() string {
	return "loopback (" + l.reason + "): every node on 127.0.0.1, links and RTTs not emulated, every node may forward to every other"
}
func (l *benchLoopback) addr(int) string                       { return "127.0.0.1" }
func (l *benchLoopback) ports(i int) benchPorts                { return l.p[i] }
func (l *benchLoopback) command(_ int, argv []string) []string { return argv }
func (l *benchLoopback) dialer(int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{Timeout: 5 * time.Second}).DialContext
}
func (l *benchLoopback) sweep()       {}
func (l *benchLoopback) close() error { return nil }

// benchProc is one child process of a bench run, in a process group of its
// own so that it and its children can be signalled together.
type benchProc struct {
	name string
	cmd  *exec.Cmd
	out  *benchTail
	done chan struct{}
	err  error // valid after done
}

// benchStart starts argv as a child process named name. wg owns the
// goroutine that waits for it.
func benchStart(wg *sync.WaitGroup, name string, argv []string) (*benchProc, error) {
	p := &benchProc{name: name, out: &benchTail{max: 64 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = benchProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	wg.Go(func() {
		p.err = p.cmd.Wait()
		close(p.done)
	})
	return p, nil
}

// exited reports whether the process has ended.
func (p *benchProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process group to terminate (SIGTERM), and kills it after
// grace. It returns once the process has ended.
func (p *benchProc) stop(grace time.Duration) {
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

// benchTail keeps the last max bytes written to it.
type benchTail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *benchTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// lastLines returns the last n lines written.
func (t *benchTail) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimRight(t.b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// benchSweepDir kills every process whose command line mentions dir (such
// as an HAProxy whose agent was killed before it could stop it) and waits
// up to wait for them to end.
func benchSweepDir(dir string, wait time.Duration) {
	if dir == "" {
		return
	}
	deadline := time.Now().Add(wait)
	for {
		pids := benchPidsMentioning(dir)
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// benchPidsMentioning returns the processes (other than this one) whose
// command line contains s.
func benchPidsMentioning(s string) []int {
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
		if strings.Contains(string(b), s) && !benchZombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// benchZombie reports whether pid has ended and waits for its parent.
func benchZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// errBenchNetns is returned when namespaces were asked for but cannot be
// used.
var errBenchNetns = errors.New("network namespaces unavailable")
