package flagenv

import (
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/internal/usage"
)

// Apply sets every flag of fs that was not given on the command line from
// its environment variable in the maps envs (flag name → variable), if
// that is set. A value the flag refuses is a usage error naming the
// variable and the flag.
func Apply(fs *flag.FlagSet, envs ...map[string]string) error {
	given := Given(fs)
	for _, env := range envs {
		for name, key := range env {
			v, ok := os.LookupEnv(key)
			if !ok || given[name] {
				continue
			}
			if err := fs.Set(name, v); err != nil {
				return usage.Errorf("environment %s=%q (for --%s): %s", key, v, name, Want(fs.Lookup(name), err.Error()))
			}
		}
	}
	return nil
}

// Given returns the names of the flags given on the command line.
func Given(fs *flag.FlagSet) map[string]bool {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return given
}

// Debug makes the boolean variable key, when true, set flag name to
// "debug" unless it was given (AGENT_DEBUG=true, as in the original
// agent, means debug logs).
func Debug(fs *flag.FlagSet, key, name string) error {
	v, ok := os.LookupEnv(key)
	if !ok || Given(fs)[name] {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return usage.Errorf("environment %s=%q: not a boolean", key, v)
	}
	if b {
		return fs.Set(name, "debug")
	}
	return nil
}

// HostPort sets flag name, unless given, to http://HOST:PORT from the
// variables prefix_HOST (default 127.0.0.1) and prefix_PORT (default
// defPort) when either is set.
func HostPort(fs *flag.FlagSet, name, prefix, defPort string) error {
	h, okH := os.LookupEnv(prefix + "_HOST")
	port, okP := os.LookupEnv(prefix + "_PORT")
	if Given(fs)[name] || (!okH && !okP) {
		return nil
	}
	if h == "" {
		h = "127.0.0.1"
	}
	if port == "" {
		port = defPort
	}
	if strings.ContainsAny(h, "/@?#") || strings.ContainsAny(port, "/@?#:") {
		return usage.Errorf("environment %s_HOST=%q / %s_PORT=%q: not a host and a port", prefix, h, prefix, port)
	}
	return fs.Set(name, "http://"+net.JoinHostPort(h, port))
}

// flagError matches the flag package's error about a value.
var flagError = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:]+): (.*)$`)

// Describe rewrites an error of package flag to name the flag as it is
// written (--period) and the form its value must take.
func Describe(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := flagError.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s %s: %s", m[2], m[1], Want(fs.Lookup(m[2]), m[3]))
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "--" + name + " needs a value"
	}
	return msg
}

// Want says what form the value of f takes, or returns why the value was
// refused (the error of a flag of a type of its own).
func Want(f *flag.Flag, why string) string {
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
