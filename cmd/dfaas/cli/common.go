package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// envOr returns the environment variable key, or def when it is unset.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// newLogger returns a text logger at the named level writing to w.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// describeFlagError rewrites an error of package flag to name the flag as
// it is written (--period) and the form its value must take.
func describeFlagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	re := regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:]+): (.*)$`)
	if m := re.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s %s: %s", m[2], m[1], flagWant(fs.Lookup(m[2]), m[3]))
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "--" + name + " needs a value"
	}
	return msg
}

// flagWant says what form the value of f takes, or returns why the value
// was refused (the error of a flag of a type of its own).
func flagWant(f *flag.Flag, why string) string {
	if f == nil {
		return why
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return why
	}
	switch g.Get().(type) {
	case time.Duration:
		return "want a duration such as 500ms, 5s or 1m"
	case bool:
		return "want true or false"
	case int, int64:
		return "want an integer"
	case uint, uint64:
		return "want a non-negative integer"
	case float64:
		return "want a number"
	}
	return why
}

// loadScenario loads the scenario file at arg, or the scenario shipped
// with the simulator that arg names (sim.BuiltinScenarios).
func loadScenario(arg string) (*sim.Scenario, error) {
	if _, err := os.Stat(arg); err != nil {
		if sc, berr := sim.BuiltinScenario(arg); berr == nil {
			return sc, nil
		}
		return nil, fmt.Errorf("--scenario %q: neither a file (%v) nor a built-in scenario (%s)", arg, err, strings.Join(sim.BuiltinScenarios(), ", "))
	}
	sc, err := sim.LoadScenario(arg)
	if err != nil {
		return nil, fmt.Errorf("--scenario: %w", err)
	}
	return sc, nil
}
