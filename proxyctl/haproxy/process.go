package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// checkConfig runs haproxy -c on the configuration file.
func checkConfig(ctx context.Context, o *settings) error {
	ctx, cancel := context.WithTimeout(ctx, o.start)
	defer cancel()
	out, err := exec.CommandContext(ctx, o.binary, "-c", "-f", o.configPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("haproxy: configuration %s rejected by %s -c: %w\n%s", o.configPath, o.binary, err, complaint(out))
	}
	return nil
}

// complaint returns what matters in HAProxy's output: its alerts, or, if
// it printed none, its last lines; at most 2 KB of it.
func complaint(out []byte) []byte {
	var alerts [][]byte
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for _, l := range lines {
		if bytes.Contains(l, []byte("[ALERT]")) {
			alerts = append(alerts, l)
		}
	}
	if len(alerts) == 0 {
		alerts = lines[max(0, len(lines)-5):]
	}
	c := bytes.Join(alerts, []byte("\n"))
	if len(c) > 2048 {
		c = append(c[:2048:2048], " ..."...)
	}
	return c
}

// supervisor runs HAProxy in master-worker mode and restarts it when it
// exits without being asked to, from the files in the work directory
// (which hold the latest state). Its goroutine is started by start and
// waited for by stop.
type supervisor struct {
	o   *settings
	ctx context.Context // canceled by stop

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	pid      int // master process running now
	restarts int
	lastErr  error
}

// logPath is the file that receives HAProxy's own output.
func (o *settings) logPath() string { return filepath.Join(o.dir, "haproxy.log") }

// startSupervisor starts HAProxy and the goroutine that keeps it running.
// It returns once the first process has started (its master CLI answers),
// or with an error (and nothing left running).
// The first process is started with the extra arguments and is ready when
// firstReady says so; later ones (restarts) when ready does.
func startSupervisor(ctx context.Context, o *settings, ready, firstReady func(context.Context) error, extra []string) (*supervisor, error) {
	cmd, exited, err := launch(o, extra...)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, o, exited, firstReady); err != nil {
		terminate(cmd, exited, time.Second)
		return nil, fmt.Errorf("%w%s", err, logTail(o))
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &supervisor{o: o, ctx: sctx, cancel: cancel, pid: cmd.Process.Pid}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(cmd, exited, ready)
	}()
	return s, nil
}

// launch starts one HAProxy master process. exited is closed when it has
// exited.
func launch(o *settings, extra ...string) (*exec.Cmd, <-chan struct{}, error) {
	logf, err := os.OpenFile(o.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("haproxy: log file: %w", err)
	}
	// A stale master socket from a killed process would make HAProxy's
	// bind fail.
	os.Remove(o.masterSocket)
	cmd := exec.Command(o.binary, append([]string{"-W", "-S", o.masterSocket + ",mode,600", "-f", o.configPath}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = o.dir
	// Its own process group, so that a signal to the agent's group does
	// not stop HAProxy before the agent does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("haproxy: start %s: %w", o.binary, err)
	}
	exited := make(chan struct{})
	go func() { // owned by whoever waits on exited; ends when the process does
		cmd.Wait()
		close(exited)
	}()
	return cmd, exited, nil
}

// waitReady waits until the new process answers on its runtime socket
// (ready returns nil), or it exits, or the start time-out passes.
func waitReady(ctx context.Context, o *settings, exited <-chan struct{}, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, o.start)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
	for {
		if err = ready(ctx); err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("haproxy: the process exited while starting")
		case <-ctx.Done():
			return fmt.Errorf("haproxy: not ready within %v: %w", o.start, err)
		case <-tick.C:
		}
	}
}

// logTail returns the end of HAProxy's log, for error messages.
func logTail(o *settings) string {
	b, err := os.ReadFile(o.logPath())
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\nhaproxy log (" + o.logPath() + "):\n" + string(bytes.TrimSpace(b))
}

// terminate stops a process gracefully (SIGUSR1: soft stop, connections
// finish), then with SIGTERM and SIGKILL after grace each.
func terminate(cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) {
	for _, sig := range []os.Signal{syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGKILL} {
		if err := cmd.Process.Signal(sig); err != nil {
			break // already gone
		}
		select {
		case <-exited:
			return
		case <-time.After(grace):
		}
	}
	<-exited
}

// run keeps HAProxy running until stop.
func (s *supervisor) run(cmd *exec.Cmd, exited <-chan struct{}, ready func(context.Context) error) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-s.ctx.Done():
			terminate(cmd, exited, 5*time.Second)
			return
		case <-exited:
		}
		err := fmt.Errorf("haproxy: process %d exited: %v", cmd.Process.Pid, cmd.ProcessState)
		s.o.log.Error("HAProxy exited; restarting it", "err", err, "log", logTail(s.o))
		s.note(err)
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			var lerr error
			cmd, exited, lerr = launch(s.o)
			if lerr == nil {
				if lerr = waitReady(s.ctx, s.o, exited, ready); lerr != nil {
					terminate(cmd, exited, time.Second)
				}
			}
			if lerr == nil {
				s.mu.Lock()
				s.pid = cmd.Process.Pid
				s.mu.Unlock()
				s.o.log.Info("HAProxy restarted", "pid", cmd.Process.Pid)
				backoff = 100 * time.Millisecond
				break
			}
			s.note(lerr)
			s.o.log.Error("HAProxy restart failed", "err", lerr)
		}
	}
}

// masterPID returns the PID of the master process running now.
func (s *supervisor) masterPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

func (s *supervisor) note(err error) {
	s.mu.Lock()
	s.restarts++
	s.lastErr = err
	s.mu.Unlock()
}

// stop stops HAProxy and waits for the supervisor goroutine.
func (s *supervisor) stop() {
	s.cancel()
	s.wg.Wait()
}
