package dataplane

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestLoadEndDuringDial: a run whose time ends while a connection is being
// dialled counts no error (the subject did not fail: the run ended), as a
// run ending during a request counts none. A listener whose accept queue
// is full leaves the dial hanging; on a loaded machine the same happened
// to a plain dial taking longer than a short run (TestRunLoadChild
// reported {Requests:0 Errors:2}).
func TestLoadEndDuringDial(t *testing.T) {
	addr := fullListener(t)
	r := load(context.Background(), addr, "/function/f", 1, 0, 200*time.Millisecond)
	if r.requests != 0 || r.errors != 0 {
		t.Errorf("run ended during the dial: %d requests, %d errors; want none", r.requests, r.errors)
	}
}

// fullListener returns the address of a loopback TCP listener with a
// backlog of 0 whose accept queue is full, so that a new dial hangs (its
// SYN dropped) until the dialler gives up.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the accept queue (backlog 0 holds one connection): dial until
	// one hangs.
	for i := range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
		if i == 7 {
			t.Skip("the listener's accept queue never filled")
		}
	}
	return addr
}
