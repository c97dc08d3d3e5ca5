//go:build !linux

package cli

import (
	"fmt"
	"syscall"
	"time"
)

// benchProcAttr puts a child in a process group of its own.
func benchProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func benchDefaultPrefix() string { return "dfb" }

func benchSweepStale() {}

func benchNetnsAvailable() error {
	return fmt.Errorf("%w: network namespaces need Linux", errBenchNetns)
}

// benchLink is a directed link: packets from node a to node b wait delay.
type benchLink struct {
	a, b  int
	delay time.Duration
}

func benchOpenNetns(string, int, []benchLink) (benchNet, error) {
	return nil, benchNetnsAvailable()
}
