//go:build !linux

package testbed

import (
	"fmt"
	"syscall"
)

// procAttr puts a child in a process group of its own.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// DefaultPrefix returns a prefix for namespace names.
func DefaultPrefix() string { return "dfb" }

// SweepStale does nothing: there are no namespaces.
func SweepStale() {}

// NetnsAvailable says that namespaces need Linux.
func NetnsAvailable() error {
	return fmt.Errorf("%w: network namespaces need Linux", ErrNetns)
}

// OpenNetns fails: namespaces need Linux.
func OpenNetns(string, int, []Link) (Network, error) {
	return nil, NetnsAvailable()
}
