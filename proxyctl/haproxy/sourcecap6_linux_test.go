package haproxy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/proxyctl"
)

// TestIntegrationSourceCapIPv6Prefix: an IPv6 client counts against the
// per-source cap by its /64, the prefix one host usually holds (as the
// embedded proxy counts it), not by its address: with a cap of 5, 40
// connections from 40 addresses of one /64 leave 5 open, and a client of
// another /64 still connects. HAProxy used to count each address apart,
// so that one host could hold every connection of the frontend. HAProxy
// runs in a network namespace of the test's, where the addresses are
// assigned to the loopback interface.
func TestIntegrationSourceCapIPv6Prefix(t *testing.T) {
	bin := haproxyBinary(t)
	ns := newNetns(t, "fd00::1/64", "fd01::1/64")
	var froms []string
	for i := range 40 {
		from := fmt.Sprintf("fd00::%x", 0x100+i)
		ns.must("ip", "-n", ns.name, "-6", "addr", "add", from+"/64", "dev", "lo", "nodad")
		froms = append(froms, from)
	}
	wrapper := filepath.Join(t.TempDir(), "haproxy")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns.name, bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := startNode(t, "http://127.0.0.1:1", func(cfg *Config) {
		cfg.Binary, cfg.ListenAddr, cfg.MaxConnPerSource = wrapper, "[fd00::1]:30080", 5
	})
	apply(t, c, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}})
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for _, from := range froms {
		if cn := ns.dial(t, from, "[fd00::1]:30080"); cn != nil {
			conns = append(conns, cn)
		}
	}
	if open := stillOpen(conns); open != 5 {
		t.Errorf("%d connections from 40 addresses of one /64 stay open, want 5 (the cap)", open)
	}
	other := ns.dial(t, "fd01::1", "[fd00::1]:30080")
	if other == nil || stillOpen([]net.Conn{other}) != 1 {
		t.Error("a client of another /64 was refused")
	}
	if other != nil {
		other.Close()
	}
}

// stillOpen counts the connections the server has not closed (within
// 100 ms each: 40 take less than HAProxy's header time-out).
func stillOpen(conns []net.Conn) int {
	open := 0
	for _, cn := range conns {
		cn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := cn.Read(make([]byte, 1)); err != nil && isTimeout(err) {
			open++
		}
	}
	return open
}

// netns is a network namespace made for a test, with its loopback
// interface up; it is deleted when the test ends.
type netns struct {
	t    *testing.T
	name string
}

func newNetns(t *testing.T, addrs ...string) *netns {
	t.Helper()
	promtest.RequireNetns(t)
	n := &netns{t: t, name: fmt.Sprintf("dfh%d", os.Getpid()%100000)}
	n.must("ip", "netns", "add", n.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.name).Run() })
	n.must("ip", "-n", n.name, "link", "set", "lo", "up")
	for _, a := range addrs {
		n.must("ip", "-n", n.name, "-6", "addr", "add", a, "dev", "lo", "nodad")
	}
	return n
}

func (n *netns) must(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// dial connects from address from to addr within the namespace; nil if
// the connection was refused.
func (n *netns) dial(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open("/run/netns/" + n.name)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{nil, err}
			return
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		done <- result{c, err}
	}()
	r := <-done
	if r.err != nil {
		if strings.Contains(r.err.Error(), "setns") || strings.Contains(r.err.Error(), "/run/netns") {
			t.Fatal(r.err)
		}
		return nil
	}
	return r.c
}
