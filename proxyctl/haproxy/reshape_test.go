package haproxy

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// TestReshapeFailures: each step of a reshape that fails (writing the
// files, checking them, reaching the master, the master's answer) makes
// Apply fail with the reason, forgets what HAProxy holds (so that the next
// Apply starts over) and counts no reload. The real HAProxy's refusals
// are in TestIntegrationReshapeFailures.
func TestReshapeFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, c *Controller)
		want  string
	}{
		{"work directory is a file", func(t *testing.T, c *Controller) {
			f := filepath.Join(t.TempDir(), "file")
			os.WriteFile(f, nil, 0o600)
			c.o.dir = f
		}, "work directory"},
		{"configuration refused", func(t *testing.T, c *Controller) { c.o.binary = "false" }, "rejected by false -c"},
		{"no master", func(t *testing.T, c *Controller) {
			c.o.binary = "true"
			c.o.masterSocket = filepath.Join(t.TempDir(), "none.sock")
		}, "master CLI"},
		{"master answers nonsense", func(t *testing.T, c *Controller) {
			c.o.binary = "true"
			c.o.masterSocket = fakeMaster(t, "what?\n")
		}, "master CLI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newFakeController(t, []string{"figlet"}, 2)
			c.o.start = 2 * time.Second
			tt.setup(t, c)
			s := nbState(strategy.Route{Function: "figlet", Local: 1})
			s.Functions = append(s.Functions, s.Functions[0])
			s.Functions[1].Name = "shasum" // a new backend: a reshape
			err := c.Apply(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
			if c.applied != nil || c.Stats().Reloads != 0 {
				t.Fatalf("after a failed reshape: applied %v, reloads %d", c.applied != nil, c.Stats().Reloads)
			}
			if c.lay.covers([]string{"shasum"}) {
				t.Fatal("the failed layout was recorded as in force")
			}
		})
	}
}

// fakeMaster serves a master CLI that answers every command with answer.
func fakeMaster(t *testing.T, answer string) string {
	p := filepath.Join(t.TempDir(), "master.sock")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			conn.Read(buf)
			conn.Write([]byte(answer))
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return p
}
