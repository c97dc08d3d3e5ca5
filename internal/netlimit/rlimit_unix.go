//go:build unix

package netlimit

import "syscall"

// FDLimit returns the process's soft limit on open file descriptors, or 0
// if it cannot be read.
func FDLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
