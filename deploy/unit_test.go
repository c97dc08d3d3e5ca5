package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// unitFile is a parsed systemd unit file.
type unitFile struct {
	// sections maps a section to its assignments, in order.
	sections map[string][]assignment
}

// assignment is one Key=Value line of a unit file.
type assignment struct {
	Line       int
	Key, Value string
}

// parseUnit decodes a systemd unit file: [Section] headers, Key=Value
// assignments (a trailing backslash continues a line, joined with a space),
// and # or ; comments.
func parseUnit(data string) (unitFile, error) {
	u := unitFile{sections: map[string][]assignment{}}
	section := ""
	var cur strings.Builder
	start := 0
	lines := strings.Split(data, "\n")
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 {
			if t == "" || t[0] == '#' || t[0] == ';' {
				continue
			}
			start = i + 1
			if t[0] == '[' {
				if !strings.HasSuffix(t, "]") || len(t) < 3 || strings.ContainsAny(t[1:len(t)-1], "[]") {
					return u, fmt.Errorf("line %d: bad section header %q", start, t)
				}
				section = t[1 : len(t)-1]
				if _, ok := u.sections[section]; ok {
					return u, fmt.Errorf("line %d: section [%s] twice", start, section)
				}
				u.sections[section] = nil
				continue
			}
		}
		if body, ok := strings.CutSuffix(t, `\`); ok {
			cur.WriteString(body)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(t)
		text := cur.String()
		cur.Reset()
		if section == "" {
			return u, fmt.Errorf("line %d: assignment outside a section", start)
		}
		k, v, ok := strings.Cut(text, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return u, fmt.Errorf("line %d: %q is not Key=Value", start, text)
		}
		u.sections[section] = append(u.sections[section], assignment{Line: start, Key: k, Value: strings.TrimSpace(v)})
	}
	if cur.Len() > 0 {
		return u, fmt.Errorf("line %d: the file ends in a continued line", start)
	}
	return u, nil
}

// values returns the values of a key in a section, in order; an empty
// assignment resets the list, as systemd's list settings do.
func (u unitFile) values(section, key string) []string {
	var out []string
	for _, a := range u.sections[section] {
		if a.Key != key {
			continue
		}
		if a.Value == "" {
			out = nil
			continue
		}
		out = append(out, a.Value)
	}
	return out
}

// value returns the last value of a key ("" if none).
func (u unitFile) value(section, key string) string {
	v := u.values(section, key)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// envVarName is a valid environment variable name.
var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envEntry is one assignment of an environment file.
type envEntry struct {
	Line       int
	Key, Value string
}

// parseEnvFile decodes a systemd EnvironmentFile: KEY=VALUE lines, # and ;
// comments, blanks around the key and the value dropped, a value in single
// or double quotes taken literally (with backslash escapes in double
// quotes), a trailing backslash continuing the line.
func parseEnvFile(data string) ([]envEntry, error) {
	var out []envEntry
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(data, "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 {
			if t == "" || t[0] == '#' || t[0] == ';' {
				continue
			}
			start = i + 1
		}
		if body, ok := strings.CutSuffix(t, `\`); ok && !strings.HasSuffix(body, `\`) {
			cur.WriteString(body)
			continue
		}
		cur.WriteString(t)
		text := cur.String()
		cur.Reset()
		k, v, ok := strings.Cut(text, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || !envVarName.MatchString(k) {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", start, text)
		}
		if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
			q := v[0]
			if len(v) < 2 || v[len(v)-1] != q {
				return nil, fmt.Errorf("line %d: unclosed %c in the value of %s", start, q, k)
			}
			inner := v[1 : len(v)-1]
			if q == '"' {
				var b strings.Builder
				for j := 0; j < len(inner); j++ {
					if inner[j] == '\\' && j+1 < len(inner) {
						j++
					} else if inner[j] == '"' {
						return nil, fmt.Errorf("line %d: unescaped \" in the value of %s", start, k)
					}
					b.WriteByte(inner[j])
				}
				inner = b.String()
			} else if strings.ContainsRune(inner, '\'') {
				return nil, fmt.Errorf("line %d: ' in the single-quoted value of %s", start, k)
			}
			v = inner
		}
		out = append(out, envEntry{Line: start, Key: k, Value: v})
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends in a continued line", start)
	}
	return out, nil
}

// specifiers maps the unit specifiers a command line may use to their
// values (without the %).
type specifiers map[byte]string

// expandSpecifiers replaces %X specifiers; %% is a literal %.
func expandSpecifiers(s string, spec specifiers) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q ends in %%", s)
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := spec[s[i]]
		if !ok {
			return "", fmt.Errorf("specifier %%%c in %q is not known to the test", s[i], s)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// commandLine expands an ExecStart= value as systemd does: specifiers, then
// words (blanks separate, "..." and '...' quote, backslash escapes), then
// variables: ${VAR} becomes its exact value within its word, a word that
// is exactly $VAR becomes the value split at blanks (zero or more words),
// $$ is a literal $. Prefixes (-, @, +, !, :) are not supported.
func commandLine(line string, spec specifiers, env map[string]string) ([]string, error) {
	s, err := expandSpecifiers(line, spec)
	if err != nil {
		return nil, err
	}
	if s != "" && strings.ContainsRune("-@+!:", rune(s[0])) {
		return nil, fmt.Errorf("command prefix %q is not supported by the test", s[0])
	}
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, w := range words {
		if name, ok := strings.CutPrefix(w, "$"); ok && envVarName.MatchString(name) {
			out = append(out, strings.Fields(env[name])...)
			continue
		}
		var b strings.Builder
		for i := 0; i < len(w); i++ {
			switch {
			case w[i] == '$' && i+1 < len(w) && w[i+1] == '$':
				b.WriteByte('$')
				i++
			case w[i] == '$' && i+1 < len(w) && w[i+1] == '{':
				end := strings.IndexByte(w[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("unclosed ${ in %q", w)
				}
				name := w[i+2 : i+end]
				if !envVarName.MatchString(name) {
					return nil, fmt.Errorf("bad variable name %q in %q", name, w)
				}
				b.WriteString(env[name])
				i += end
			case w[i] == '$':
				return nil, fmt.Errorf("$ inside the word %q: use ${NAME} there, or $NAME as a word of its own", w)
			default:
				b.WriteByte(w[i])
			}
		}
		out = append(out, b.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty command line %q", line)
	}
	return out, nil
}

// commandVariables returns the variables a command line refers to.
func commandVariables(line string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(line, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// readUnit parses a unit of deploy/systemd.
func readUnit(t *testing.T, name string) unitFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

// readEnvFile parses deploy/systemd/dfaas.env.
func readEnvFile(t *testing.T) []envEntry {
	t.Helper()
	data, err := os.ReadFile("systemd/dfaas.env")
	if err != nil {
		t.Fatal(err)
	}
	env, err := parseEnvFile(string(data))
	if err != nil {
		t.Fatalf("dfaas.env: %v", err)
	}
	return env
}

// units are the unit files of deploy/systemd.
var units = []string{"dfaas-faas.service", "dfaas-agent.service"}

// sourceEnvNames returns the environment variable names the dfaas command
// knows: the upper-case string literals of cmd/dfaas/cli, and the flags the
// literals of its env maps (flag name → variable) stand for.
func sourceEnvNames(t *testing.T) (names map[string]bool, flagOf map[string]string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(repoRoot, "cmd", "dfaas", "cli", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names, flagOf = map[string]bool{}, map[string]string{}
	upper := regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(x.Value); err == nil && x.Kind == token.STRING && upper.MatchString(s) {
					names[s] = true
				}
			case *ast.KeyValueExpr:
				k, ok1 := x.Key.(*ast.BasicLit)
				v, ok2 := x.Value.(*ast.BasicLit)
				if ok1 && ok2 {
					ks, err1 := strconv.Unquote(k.Value)
					vs, err2 := strconv.Unquote(v.Value)
					if err1 == nil && err2 == nil && upper.MatchString(vs) {
						flagOf[vs] = ks
					}
				}
			}
			return true
		})
	}
	return names, flagOf
}

// TestEnvFile checks the environment file against the dfaas command and the
// units: every variable is one the binary reads (and, for the agent's, the
// flag it sets exists) or one a unit's command line uses, every variable a
// command line uses is set, and dfaas faas listens where the agent looks for
// its gateway.
func TestEnvFile(t *testing.T) {
	env := readEnvFile(t)
	known, flagOf := sourceEnvNames(t)
	flags := map[string]bool{}
	for _, f := range binaryFlags(t, "agent") {
		flags[f.Name] = true
	}
	used := map[string]bool{}
	for _, name := range units {
		u := readUnit(t, name)
		for _, line := range u.values("Service", "ExecStart") {
			for _, v := range commandVariables(line) {
				used[v] = true
			}
		}
	}
	set := map[string]string{}
	for _, e := range env {
		if _, dup := set[e.Key]; dup {
			t.Errorf("dfaas.env:%d: %s set twice", e.Line, e.Key)
		}
		set[e.Key] = e.Value
		base := strings.TrimSuffix(strings.TrimSuffix(e.Key, "_HOST"), "_PORT")
		switch {
		case used[e.Key]:
		case known[e.Key]:
			if f, ok := flagOf[e.Key]; ok && strings.HasPrefix(e.Key, "AGENT_") && !flags[f] {
				t.Errorf("dfaas.env:%d: %s sets --%s, which dfaas agent does not have", e.Line, e.Key, f)
			}
		case base != e.Key && known[base]:
		default:
			t.Errorf("dfaas.env:%d: %s is read by neither dfaas nor a unit's command line", e.Line, e.Key)
		}
	}
	for v := range used {
		if _, ok := set[v]; !ok {
			t.Errorf("a unit's command line uses $%s, which dfaas.env does not set", v)
		}
	}
	if set["FAAS_LISTEN"] != set["AGENT_OPENFAAS_HOST"]+":"+set["AGENT_OPENFAAS_PORT"] || set["AGENT_FAAS"] != "openfaas" {
		t.Errorf("dfaas faas listens on %q, the agent uses --faas %q at %s:%s", set["FAAS_LISTEN"], set["AGENT_FAAS"], set["AGENT_OPENFAAS_HOST"], set["AGENT_OPENFAAS_PORT"])
	}
	if h := set["AGENT_HTTP_LISTEN"]; !strings.HasPrefix(h, "127.0.0.1:") {
		t.Errorf("AGENT_HTTP_LISTEN=%q: the admin server must stay on loopback", h)
	}
}

// TestUnits checks the units' command lines against the binary's flags,
// their credentials against the files they read, and runs systemd-analyze
// verify on them where it is installed.
func TestUnits(t *testing.T) {
	bin := buildDfaas(t)
	envList := readEnvFile(t)
	env := map[string]string{}
	for _, e := range envList {
		env[e.Key] = e.Value
	}
	spec := specifiers{'d': "/run/credentials/x", 't': "/run", 'S': "/var/lib"}
	for _, name := range units {
		u := readUnit(t, name)
		execStart := u.values("Service", "ExecStart")
		if len(execStart) != 1 {
			t.Fatalf("%s: %d ExecStart lines, want 1", name, len(execStart))
		}
		argv, err := commandLine(execStart[0], spec, env)
		if err != nil {
			t.Fatalf("%s: ExecStart: %v", name, err)
		}
		if argv[0] != "/usr/local/bin/dfaas" || len(argv) < 2 {
			t.Fatalf("%s: ExecStart runs %q, want /usr/local/bin/dfaas COMMAND", name, argv)
		}
		p, err := parseArgs(binaryFlags(t, argv[1]), argv[2:])
		if err != nil {
			t.Errorf("%s: dfaas %s refuses %q: %v", name, argv[1], argv[2:], err)
			continue
		}
		// Credential files are read from %d, the credentials directory.
		creds := map[string]bool{}
		for _, c := range u.values("Service", "LoadCredential") {
			id, src, ok := strings.Cut(c, ":")
			if !ok || !strings.HasPrefix(src, "/etc/dfaas/") {
				t.Errorf("%s: LoadCredential=%s: want ID:/etc/dfaas/FILE", name, c)
			}
			creds[id] = true
		}
		for flagName, vals := range p.values {
			for _, v := range vals {
				if id, ok := strings.CutPrefix(v, spec['d']+"/"); ok && !creds[id] {
					t.Errorf("%s: --%s %s: no LoadCredential=%s", name, flagName, v, id)
				}
			}
		}
		if u.value("Service", "EnvironmentFile") != "/etc/dfaas/dfaas.env" {
			t.Errorf("%s: EnvironmentFile=%q, want /etc/dfaas/dfaas.env", name, u.value("Service", "EnvironmentFile"))
		}
		if u.value("Service", "DynamicUser") != "yes" && u.value("Service", "User") == "" {
			t.Errorf("%s: runs as root (no DynamicUser= or User=)", name)
		}
		if argv[1] == "agent" {
			if get(p, "proxy") != "haproxy" {
				t.Errorf("%s: --proxy %q, want haproxy", name, get(p, "proxy"))
			}
			dir := get(p, "haproxy-dir")
			rd := u.value("Service", "RuntimeDirectory")
			if rd == "" || !strings.HasPrefix(dir, spec['t']+"/"+rd+"/") {
				t.Errorf("%s: --haproxy-dir %q is not in the RuntimeDirectory %q", name, dir, rd)
			}
			if u.value("Service", "KillMode") != "mixed" {
				t.Errorf("%s: KillMode=%q: the agent stops HAProxy itself (mixed)", name, u.value("Service", "KillMode"))
			}
		}
	}

	// The checks above hold; verifying the units needs systemd-analyze
	// (which .ci/run installs: its absence fails under DFAAS_INTEGRATION=1).
	sa := needBinary(t, "systemd-analyze")
	// Verify copies whose executable exists.
	dir := t.TempDir()
	var paths []string
	for _, name := range units {
		data, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/dfaas", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(sa, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestParseUnit(t *testing.T) {
	u, err := parseUnit("# c\n[Unit]\nDescription = a b\n\n[Service]\nExecStart=/bin/x \\\n  --y\nLoadCredential=a:/b\nLoadCredential=c:/d\n;c\n")
	if err != nil {
		t.Fatal(err)
	}
	if u.value("Unit", "Description") != "a b" || u.value("Service", "ExecStart") != "/bin/x  --y" || !slices.Equal(u.values("Service", "LoadCredential"), []string{"a:/b", "c:/d"}) {
		t.Errorf("parsed %+v", u)
	}
	for _, bad := range []string{"Key=v\n", "[Unit\n", "[Unit]\nnovalue\n", "[Unit]\n[Unit]\n", "[Unit]\nA=b \\", "[Unit]\nA B=c\n"} {
		if _, err := parseUnit(bad); err == nil {
			t.Errorf("parseUnit(%q): no error", bad)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	got, err := parseEnvFile("# c\nA=1\n B = two words \nC=\"q \\\" d\"\nD='s $x'\nE=\n;c\nF=a\\\nb\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []envEntry{{2, "A", "1"}, {3, "B", "two words"}, {4, "C", `q " d`}, {5, "D", "s $x"}, {6, "E", ""}, {8, "F", "ab"}}
	if !slices.Equal(got, want) {
		t.Errorf("parseEnvFile:\n got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"A\n", "1A=b\n", "A=\"x\n", "A='x'y'\n", "A=x\\", "A=\"a\"b\"\n"} {
		if _, err := parseEnvFile(bad); err == nil {
			t.Errorf("parseEnvFile(%q): no error", bad)
		}
	}
}

func TestCommandLine(t *testing.T) {
	env := map[string]string{"U": "admin", "F": "--a 1  --b", "E": ""}
	got, err := commandLine(`/bin/x --u ${U} --p %d/pw "a b" $F $E --dir %t/x/${U}-%% $$U`, specifiers{'d': "/c", 't': "/run"}, env)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/bin/x", "--u", "admin", "--p", "/c/pw", "a b", "--a", "1", "--b", "--dir", "/run/x/admin-%", "$U"}
	if !slices.Equal(got, want) {
		t.Errorf("commandLine:\n got %q\nwant %q", got, want)
	}
	if v := commandVariables(`x ${U} $F --y=$G`); !slices.Equal(v, []string{"U", "F", "G"}) {
		t.Errorf("commandVariables: %q", v)
	}
	for _, bad := range []string{"-/bin/x", "/bin/x %q", "/bin/x ${U", "/bin/x ${1}", "", "/bin/x %", "/bin/x --y=$U"} {
		if _, err := commandLine(bad, specifiers{}, env); err == nil {
			t.Errorf("commandLine(%q): no error", bad)
		}
	}
}
