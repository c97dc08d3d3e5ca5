// Package usage marks errors in how a command was invoked — a bad flag
// value, a missing flag — as opposed to failures while it runs. The
// command line (cmd/dfaas/cli) exits with status 2 on them, 1 on others.
// Messages name the flag at fault. It also holds the command line's flag
// helpers: flag errors reworded to name the flag and the form it wants
// (FlagError), flags set from environment variables (ApplyEnv,
// ApplyHostPortEnv), and help text wrapping (Wrap).
package usage

import (
	"errors"
	"fmt"
)

// Error is an error in how a command was invoked.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with the formatted message.
func Errorf(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// Is reports whether err is or wraps an *Error.
func Is(err error) bool { return errors.As(err, new(*Error)) }
