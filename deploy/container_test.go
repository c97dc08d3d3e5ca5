package deploy

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// instruction is one instruction of a Containerfile.
type instruction struct {
	Line int
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string
}

// stage is one build stage.
type stage struct {
	name         string
	from         string
	instructions []instruction
}

// containerfile is a parsed Containerfile.
type containerfile struct {
	args   []instruction // ARGs before the first FROM
	stages []stage
}

// parseContainerfile decodes a Containerfile: instructions with their
// continuation lines joined, comments dropped, grouped into stages.
func parseContainerfile(data string) (containerfile, error) {
	var cf containerfile
	var cur strings.Builder
	start := 0
	lines := strings.Split(data, "\n")
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") || (t == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(t, `\`); ok {
			cur.WriteString(body)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(t)
		text := cur.String()
		cur.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		ins := instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		switch ins.Cmd {
		case "FROM":
			f := strings.Fields(ins.Args)
			st := stage{}
			switch {
			case len(f) == 1:
				st.from = f[0]
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.from, st.name = f[0], f[2]
			default:
				return cf, fmt.Errorf("line %d: FROM %q: want IMAGE [AS NAME]", start, ins.Args)
			}
			cf.stages = append(cf.stages, st)
		case "ARG", "RUN", "COPY", "ADD", "USER", "WORKDIR", "ENV", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL", "VOLUME", "SHELL", "STOPSIGNAL", "HEALTHCHECK", "ONBUILD":
			if len(cf.stages) == 0 {
				if ins.Cmd != "ARG" {
					return cf, fmt.Errorf("line %d: %s before the first FROM", start, ins.Cmd)
				}
				cf.args = append(cf.args, ins)
				continue
			}
			st := &cf.stages[len(cf.stages)-1]
			st.instructions = append(st.instructions, ins)
		default:
			return cf, fmt.Errorf("line %d: unknown instruction %q", start, cmd)
		}
	}
	if cur.Len() > 0 {
		return cf, fmt.Errorf("line %d: the file ends in a continued line", start)
	}
	if len(cf.stages) == 0 {
		return cf, fmt.Errorf("no FROM")
	}
	return cf, nil
}

// last returns the stage's last instruction cmd, if any.
func (s stage) last(cmd string) (instruction, bool) {
	for i := len(s.instructions) - 1; i >= 0; i-- {
		if s.instructions[i].Cmd == cmd {
			return s.instructions[i], true
		}
	}
	return instruction{}, false
}

// user returns the numeric user and group the stage runs as.
func (s stage) user() (uid, gid int64, err error) {
	u, ok := s.last("USER")
	if !ok {
		return 0, 0, fmt.Errorf("no USER: it would run as root")
	}
	us, gs, _ := strings.Cut(u.Args, ":")
	if uid, err = strconv.ParseInt(us, 10, 32); err != nil {
		return 0, 0, fmt.Errorf("line %d: USER %q is not numeric (Kubernetes' runAsNonRoot needs a numeric user)", u.Line, u.Args)
	}
	gid = uid
	if gs != "" {
		if gid, err = strconv.ParseInt(gs, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("line %d: USER %q: group is not numeric", u.Line, u.Args)
		}
	}
	return uid, gid, nil
}

// readContainerfile parses deploy/Containerfile.
func readContainerfile(t *testing.T) containerfile {
	t.Helper()
	data, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	cf, err := parseContainerfile(string(data))
	if err != nil {
		t.Fatalf("Containerfile: %v", err)
	}
	return cf
}

// TestContainerfile checks the recipe and runs its build command: the
// binary is static, every image stage runs it as a non-root numeric user
// from where it was copied, and the final (default) stage has HAProxy for
// --proxy haproxy. No image is built: there is no container engine here.
func TestContainerfile(t *testing.T) {
	cf := readContainerfile(t)
	var build *stage
	for i := range cf.stages {
		if cf.stages[i].name == "build" {
			build = &cf.stages[i]
		}
	}
	if build == nil {
		t.Fatal("no build stage")
	}
	// The build command, run as the recipe runs it from the repository's
	// root (its WORKDIR holds the whole repository).
	var buildCmd string
	for _, ins := range build.instructions {
		if ins.Cmd == "RUN" && strings.Contains(ins.Args, "go build") {
			buildCmd = ins.Args
		}
	}
	words, err := splitWords(buildCmd)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(env) != 1 || env[0] != "CGO_ENABLED=0" || len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("build command %q: want CGO_ENABLED=0 go build ...", buildCmd)
	}
	out := ""
	for i, w := range words {
		if w == "-o" && i+1 < len(words) {
			out = words[i+1]
			words[i+1] = filepath.Join(t.TempDir(), "dfaas")
		}
	}
	if out == "" {
		t.Fatalf("build command %q: no -o", buildCmd)
	}
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", buildCmd, err, b)
	}
	bin := words[slicesIndex(words, "-o")+1]
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	if v, err := exec.Command(bin, "agent", "-h").CombinedOutput(); err != nil {
		t.Errorf("the static binary does not run: %v\n%s", err, v)
	}

	for _, st := range cf.stages {
		if st.name == "build" {
			continue
		}
		uid, _, err := st.user()
		if err != nil {
			t.Errorf("stage %s: %v", st.name, err)
		} else if uid == 0 {
			t.Errorf("stage %s runs as root", st.name)
		}
		cp, ok := st.last("COPY")
		if !ok || !strings.HasPrefix(cp.Args, "--from=build "+out+" ") {
			t.Errorf("stage %s: COPY %q does not copy the built %s", st.name, cp.Args, out)
			continue
		}
		dest := strings.Fields(cp.Args)[2]
		ep, ok := st.last("ENTRYPOINT")
		var epv []string
		if !ok || json.Unmarshal([]byte(ep.Args), &epv) != nil || len(epv) != 1 || epv[0] != dest {
			t.Errorf("stage %s: ENTRYPOINT %q is not [%q]", st.name, ep.Args, dest)
		}
	}
	final := cf.stages[len(cf.stages)-1]
	run, _ := final.last("RUN")
	if !strings.Contains(run.Args, "install") || !strings.Contains(run.Args, "haproxy") {
		t.Errorf("the default stage %s does not install HAProxy: %q", final.name, run.Args)
	}
	var cmdv []string
	c, _ := final.last("CMD")
	if err := json.Unmarshal([]byte(c.Args), &cmdv); err != nil || len(cmdv) == 0 || cmdv[0] != "agent" {
		t.Errorf("the default stage's CMD %q does not run the agent", c.Args)
	} else if _, err := parseArgs(binaryFlags(t, "agent"), cmdv[1:]); err != nil {
		t.Errorf("the default stage's CMD %q: %v", c.Args, err)
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestParseContainerfile(t *testing.T) {
	cf, err := parseContainerfile("ARG V=1\n# c\nFROM a:1 AS build\nRUN x \\\n  y\n\nFROM b\nUSER 10:20\nCOPY --from=build /o /p\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.args) != 1 || len(cf.stages) != 2 || cf.stages[0].name != "build" || cf.stages[1].from != "b" {
		t.Fatalf("parsed %+v", cf)
	}
	if r, _ := cf.stages[0].last("RUN"); r.Args != "x  y" || r.Line != 4 {
		t.Errorf("RUN %+v", r)
	}
	if uid, gid, err := cf.stages[1].user(); uid != 10 || gid != 20 || err != nil {
		t.Errorf("user %d:%d %v", uid, gid, err)
	}
	for _, bad := range []string{"", "RUN x\n", "FROM a b\n", "FROM a\nFOO x\n", "FROM a\nRUN x \\"} {
		if _, err := parseContainerfile(bad); err == nil {
			t.Errorf("parseContainerfile(%q): no error", bad)
		}
	}
	for _, bad := range []string{"FROM a\n", "FROM a\nUSER dfaas\n", "FROM a\nUSER 1:g\n"} {
		cf, err := parseContainerfile(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cf.stages[0].user(); err == nil {
			t.Errorf("user of %q: no error", bad)
		}
	}
}
