package usage

import (
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// flagErrorRE matches package flag's "invalid value" errors.
var flagErrorRE = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:]+): (.*)$`)

// FlagError rewrites an error of package flag to name the flag as it is
// written (--period) and the form its value must take.
func FlagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := flagErrorRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s %s: %s", m[2], m[1], FlagWant(fs.Lookup(m[2]), m[3]))
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "--" + name + " needs a value"
	}
	return msg
}

// FlagWant says what form the value of f takes, or returns why the value
// was refused (the error of a flag of a type of its own).
func FlagWant(f *flag.Flag, why string) string {
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

// given returns the flags of fs set on the command line.
func given(fs *flag.FlagSet) map[string]bool {
	g := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { g[f.Name] = true })
	return g
}

// ApplyEnv sets every flag of fs that was not given on the command line
// from its environment variable in one of envs (flag name → variable), if
// that is set. AGENT_DEBUG=true, as in the original agent, sets
// --log-level debug when fs has that flag.
func ApplyEnv(fs *flag.FlagSet, envs ...map[string]string) error {
	set := given(fs)
	for _, env := range envs {
		for name, key := range env {
			v, ok := os.LookupEnv(key)
			if !ok || set[name] {
				continue
			}
			if err := fs.Set(name, v); err != nil {
				return Errorf("environment %s=%q (for --%s): %s", key, v, name, FlagWant(fs.Lookup(name), err.Error()))
			}
		}
	}
	if v, ok := os.LookupEnv("AGENT_DEBUG"); ok && !set["log-level"] && fs.Lookup("log-level") != nil {
		if b, err := strconv.ParseBool(v); err != nil {
			return Errorf("environment AGENT_DEBUG=%q: not a boolean", v)
		} else if b {
			fs.Set("log-level", "debug")
		}
	}
	return nil
}

// NoteEnv appends "(env KEY)" to the usage of every flag of fs that one of
// envs maps to a variable, so that -h names each flag's variable.
func NoteEnv(fs *flag.FlagSet, envs ...map[string]string) {
	for _, env := range envs {
		for name, key := range env {
			if f := fs.Lookup(name); f != nil {
				f.Usage += " (env " + key + ")"
			}
		}
	}
}

// ApplyHostPortEnv sets the URL flag name of fs, when it was not given on
// the command line, from the original agent's pair of variables
// PREFIX_HOST (default 127.0.0.1) and PREFIX_PORT (default defPort), when
// either is set: http://HOST:PORT.
func ApplyHostPortEnv(fs *flag.FlagSet, name, prefix, defPort string) error {
	h, okH := os.LookupEnv(prefix + "_HOST")
	port, okP := os.LookupEnv(prefix + "_PORT")
	if given(fs)[name] || (!okH && !okP) {
		return nil
	}
	if h == "" {
		h = "127.0.0.1"
	}
	if port == "" {
		port = defPort
	}
	if strings.ContainsAny(h, "/@?#") || strings.ContainsAny(port, "/@?#:") {
		return Errorf("environment %s_HOST=%q / %s_PORT=%q: not a host and a port", prefix, h, prefix, port)
	}
	return fs.Set(name, "http://"+net.JoinHostPort(h, port))
}

// Wrap breaks s at spaces into lines of at most width bytes, joined by
// sep.
func Wrap(s string, width int, sep string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines, line = append(lines, line), ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), sep)
}
