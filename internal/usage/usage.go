// Package usage marks errors in how a command was invoked — a bad flag
// value, a missing flag — as opposed to failures while it runs. The
// command line (cmd/dfaas/cli) exits with status 2 on them, 1 on others.
// Messages name the flag at fault. It also holds the command line's flag
// helpers: flag errors reworded to name the flag and the form it wants
// (FlagError), flags set from environment variables (ApplyEnv,
// ApplyHostPortEnv), help text wrapping (Wrap), and a writer safe for
// concurrent use (LockedWriter).
package usage

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Error is an error in how a command was invoked.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with the formatted message.
func Errorf(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// Is reports whether err is or wraps an *Error.
func Is(err error) bool { return errors.As(err, new(*Error)) }

// LockedWriter serialises writes to W (a command's stream written from
// several goroutines).
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

// Write writes p to W, one call at a time.
func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}

// Unwrap returns the stream written to (for loadgen.IsTerminal).
func (l *LockedWriter) Unwrap() io.Writer { return l.W }
