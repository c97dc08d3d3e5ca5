package deploy

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// flagInfo is one flag as "dfaas <command> -h" describes it.
type flagInfo struct {
	Name string
	// Type is the type word of the usage ("string", "duration", "int",
	// "uint", "float", "value", a back-quoted name) or "bool".
	Type string
	// Default is the default the usage states, "" for the zero value.
	Default string
	Usage   string
}

// usageLine matches the first line of a flag in the flag package's usage.
var usageLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_.-]*)(?: (\S+))?$`)

// parseUsage decodes the flags of a flag package usage text (as printed by
// FlagSet.PrintDefaults), in their order.
func parseUsage(text string) ([]flagInfo, error) {
	var flags []flagInfo
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "  -"):
			m := usageLine.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("usage line %d: %q is not a flag line", i+1, line)
			}
			if seen[m[1]] {
				return nil, fmt.Errorf("usage line %d: flag -%s twice", i+1, m[1])
			}
			seen[m[1]] = true
			typ := m[2]
			if typ == "" {
				typ = "bool"
			}
			flags = append(flags, flagInfo{Name: m[1], Type: typ})
		case strings.HasPrefix(line, "    \t"):
			if len(flags) == 0 {
				return nil, fmt.Errorf("usage line %d: text before the first flag", i+1)
			}
			f := &flags[len(flags)-1]
			if f.Usage != "" {
				f.Usage += "\n"
			}
			f.Usage += strings.TrimPrefix(line, "    \t")
		case strings.HasPrefix(line, "Usage") || strings.TrimSpace(line) == "":
		default:
			if len(flags) > 0 {
				return nil, fmt.Errorf("usage line %d: %q is neither a flag nor its usage", i+1, line)
			}
		}
	}
	for i := range flags {
		d, err := usageDefault(flags[i])
		if err != nil {
			return nil, err
		}
		flags[i].Default = d
	}
	return flags, nil
}

// usageDefault extracts the default the flag package appended to f's usage.
// Usage text that merely says "(default ...)" in words is not a default: the
// appended one is quoted for strings and parses as the flag's type for the
// others.
func usageDefault(f flagInfo) (string, error) {
	i := strings.LastIndex(f.Usage, " (default ")
	if i < 0 || !strings.HasSuffix(f.Usage, ")") {
		return "", nil
	}
	v := f.Usage[i+len(" (default ") : len(f.Usage)-1]
	switch f.Type {
	case "string":
		if !strings.HasPrefix(v, `"`) {
			return "", nil
		}
		s, err := strconv.Unquote(v)
		if err != nil {
			return "", fmt.Errorf("flag -%s: default %s: %v", f.Name, v, err)
		}
		return s, nil
	case "duration":
		if _, err := time.ParseDuration(v); err != nil {
			return "", nil
		}
	case "int":
		if _, err := strconv.ParseInt(v, 0, 64); err != nil {
			return "", nil
		}
	case "uint":
		if _, err := strconv.ParseUint(v, 0, 64); err != nil {
			return "", nil
		}
	case "float":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "", nil
		}
	case "bool":
		if _, err := strconv.ParseBool(v); err != nil {
			return "", nil
		}
	case "N": // --gc-percent: an integer or off
		if _, err := strconv.ParseInt(v, 10, 64); err != nil && v != "off" {
			return "", nil
		}
	case "size": // --memory-limit: a size (GOMEMLIMIT's units), auto or off
		if !regexp.MustCompile(`^(auto|off|[0-9]+(B|KiB|MiB|GiB|TiB)?)$`).MatchString(v) {
			return "", nil
		}
	default:
		// A Var flag: its default is whatever its String method says;
		// words in the usage cannot be told from it, so none is taken.
		return "", nil
	}
	return v, nil
}

// binaryFlags returns the flags of "dfaas <command>" from its -h output.
func binaryFlags(t *testing.T, command string) []flagInfo {
	t.Helper()
	bin := buildDfaas(t)
	cmd := exec.Command(bin, command, "-h")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("dfaas %s -h: %v\n%s", command, err, out.Bytes())
	}
	flags, err := parseUsage(out.String())
	if err != nil {
		t.Fatalf("dfaas %s -h: %v\n%s", command, err, out.Bytes())
	}
	if len(flags) == 0 {
		t.Fatalf("dfaas %s -h lists no flags:\n%s", command, out.Bytes())
	}
	return flags
}

// flagSetOf returns a flag set that parses the flags the way the binary's
// does: the same names, each with a value of its type.
func flagSetOf(flags []flagInfo) *flag.FlagSet {
	fs := flag.NewFlagSet("dfaas", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range flags {
		switch f.Type {
		case "bool":
			fs.Bool(f.Name, false, f.Usage)
		case "duration":
			fs.Duration(f.Name, 0, f.Usage)
		case "int":
			fs.Int(f.Name, 0, f.Usage)
		case "uint":
			fs.Uint64(f.Name, 0, f.Usage)
		case "float":
			fs.Float64(f.Name, 0, f.Usage)
		case "value":
			var list repeated
			fs.Var(&list, f.Name, f.Usage)
		default:
			fs.String(f.Name, "", f.Usage)
		}
	}
	return fs
}

// repeated collects a repeatable flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// parsedArgs are command-line arguments parsed by a flag set.
type parsedArgs struct {
	values map[string][]string // every value given, in order, by flag name
}

// get returns the last value given for the flag, and whether it was given.
func (p parsedArgs) get(name string) (string, bool) {
	v := p.values[name]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// parseArgs parses args with the binary's flags and rejects positional
// arguments, as the dfaas commands do.
func parseArgs(flags []flagInfo, args []string) (parsedArgs, error) {
	fs := flagSetOf(flags)
	if err := fs.Parse(args); err != nil {
		return parsedArgs{}, err
	}
	if fs.NArg() > 0 {
		return parsedArgs{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	p := parsedArgs{values: map[string][]string{}}
	// Record every occurrence: walk the arguments again, now that they
	// are known to parse.
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		f := fs.Lookup(name)
		if f == nil {
			return parsedArgs{}, fmt.Errorf("flag %q vanished", name)
		}
		if !hasValue {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				value = "true"
			} else {
				i++
				value = args[i]
			}
		}
		p.values[name] = append(p.values[name], value)
	}
	return p, nil
}

func TestParseUsage(t *testing.T) {
	text := "Usage of dfaas agent:\n" +
		"  -attach\n    \tuse one that runs\n" +
		"  -expiry duration\n    \thow long it stays valid (default 3 periods)\n" +
		"  -period duration\n    \tcontrol period (default 5s)\n" +
		"  -dir string\n    \twork directory (default: a temporary one)\n" +
		"  -listen string\n    \taddress (default \":30080\")\n" +
		"  -fn value\n    \ta function;\n    \trepeatable (default: every built-in)\n" +
		"  -seed uint\n    \tseed (default 1)\n" +
		"  -forget duration\n    \tforget after (default 1m) (default 2m)\n"
	got, err := parseUsage(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []flagInfo{
		{"attach", "bool", "", "use one that runs"},
		{"expiry", "duration", "", "how long it stays valid (default 3 periods)"},
		{"period", "duration", "5s", "control period (default 5s)"},
		{"dir", "string", "", "work directory (default: a temporary one)"},
		{"listen", "string", ":30080", `address (default ":30080")`},
		{"fn", "value", "", "a function;\nrepeatable (default: every built-in)"},
		{"seed", "uint", "1", "seed (default 1)"},
		{"forget", "duration", "2m", "forget after (default 1m) (default 2m)"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseUsage:\n got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"    \tusage before any flag\n",
		"  -a string\nstray text\n",
		"  -a string\n  -a string\n",
		"  -a string extra\n",
	} {
		if _, err := parseUsage(bad); err == nil {
			t.Errorf("parseUsage(%q): no error", bad)
		}
	}
}

func TestParseArgs(t *testing.T) {
	flags := []flagInfo{{Name: "period", Type: "duration"}, {Name: "attach", Type: "bool"}, {Name: "fn", Type: "value"}, {Name: "seed", Type: "uint"}, {Name: "name", Type: "string"}}
	p, err := parseArgs(flags, []string{"--period=5s", "-attach", "--fn", "a,b", "--fn=c", "--seed", "7", "--name="})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{"period": {"5s"}, "attach": {"true"}, "fn": {"a,b", "c"}, "seed": {"7"}, "name": {""}} {
		if got := p.values[name]; !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	for _, bad := range [][]string{{"--nope=1"}, {"--period=5"}, {"--seed=-1"}, {"positional"}, {"--attach=maybe"}} {
		if _, err := parseArgs(flags, bad); err == nil {
			t.Errorf("parseArgs(%q): no error", bad)
		}
	}
	if _, err := parseArgs(flags, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("parseArgs(-h): %v, want flag.ErrHelp", err)
	}
}
