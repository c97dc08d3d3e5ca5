//go:build unix

package goproxy

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection still looks usable: the peer
// has not closed it and has sent nothing unasked. It peeks at the socket
// without blocking.
func alive(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		// Nothing to read is the only sign of health: EOF (0 bytes)
		// means closed, bytes mean an answer nobody asked for.
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && ok
}
