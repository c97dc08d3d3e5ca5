package deploy

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// seedFiles adds the contents of files to a fuzzer's corpus.
func seedFiles(f *testing.F, paths ...string) {
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
}

// quoteWord writes w so that splitWords reads it back as one word.
func quoteWord(w string) string {
	if w == "" {
		return "''"
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		b.WriteByte('\\')
		b.WriteByte(w[i])
	}
	return b.String()
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{`helm template a deploy/x -f 'v 1.yaml' --namespace "n"`, `a\ b # c`, `'x`, `"`, `\`, ``, `a''b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords(s)
		if err != nil {
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = quoteWord(w)
		}
		again, err := splitWords(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("%q: words %q, quoted and split again %q (%v)", s, words, again, err)
		}
	})
}

func FuzzParseGuide(f *testing.F) {
	seedFiles(f, guidePath)
	f.Add("```sh\nhelm lint \\\n  x\n```\n```yaml\na: b\n```\n")
	f.Fuzz(func(t *testing.T, md string) {
		cmds, err := parseGuide(md)
		if err != nil {
			return
		}
		for _, c := range cmds {
			if len(c.Args) == 0 || c.Line < 1 {
				t.Fatalf("command %+v", c)
			}
			if r, err := parseRelease(c); err == nil && (r.Release == "" || r.Chart == "") {
				t.Fatalf("release %+v", r)
			}
		}
	})
}

func FuzzParseUsage(f *testing.F) {
	f.Add("Usage of dfaas agent:\n  -period duration\n    \tcontrol period (default 5s)\n  -listen string\n    \taddress (default \":30080\")\n  -attach\n    \tattach\n")
	f.Add("  -x value\n    \ta (default: b)\n    \tmore\n")
	f.Fuzz(func(t *testing.T, text string) {
		flags, err := parseUsage(text)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, fl := range flags {
			if fl.Name == "" || seen[fl.Name] || fl.Type == "" {
				t.Fatalf("flags %+v", flags)
			}
			seen[fl.Name] = true
		}
		// A flag set of these flags parses their defaults.
		var args []string
		for _, fl := range flags {
			if fl.Default != "" {
				args = append(args, "--"+fl.Name+"="+fl.Default)
			}
		}
		if _, err := parseArgs(flags, args); err != nil {
			t.Fatalf("defaults %q do not parse: %v", args, err)
		}
	})
}

func FuzzParseContainerfile(f *testing.F) {
	seedFiles(f, "Containerfile")
	f.Add("FROM a AS b\nRUN x \\\n y\nUSER 1:2\n")
	f.Fuzz(func(t *testing.T, data string) {
		cf, err := parseContainerfile(data)
		if err != nil {
			return
		}
		if len(cf.stages) == 0 {
			t.Fatal("no stage and no error")
		}
		for _, st := range cf.stages {
			if st.from == "" {
				t.Fatalf("stage %+v without image", st)
			}
			st.user()
		}
	})
}

func FuzzParseUnit(f *testing.F) {
	seedFiles(f, "systemd/dfaas-agent.service", "systemd/dfaas-faas.service")
	f.Add("[A]\nB=c \\\n d\n;x\n")
	f.Fuzz(func(t *testing.T, data string) {
		u, err := parseUnit(data)
		if err != nil {
			return
		}
		for s, as := range u.sections {
			for _, a := range as {
				if a.Key == "" || strings.ContainsAny(a.Key, " \t=") || a.Value != strings.TrimSpace(a.Value) {
					t.Fatalf("[%s] %+v", s, a)
				}
			}
		}
	})
}

func FuzzParseEnvFile(f *testing.F) {
	seedFiles(f, "systemd/dfaas.env")
	f.Add("A=\"x \\\" y\"\nB='z'\nC=a\\\nb\n")
	f.Fuzz(func(t *testing.T, data string) {
		entries, err := parseEnvFile(data)
		if err != nil {
			return
		}
		// Written back quoted, the entries read the same.
		var b strings.Builder
		for _, e := range entries {
			if !envVarName.MatchString(e.Key) {
				t.Fatalf("bad key %q", e.Key)
			}
			if strings.ContainsAny(e.Value, "\n\r") {
				return // not representable on one line
			}
			v := strings.ReplaceAll(strings.ReplaceAll(e.Value, `\`, `\\`), `"`, `\"`)
			b.WriteString(e.Key + "=\"" + v + "\"\n")
		}
		again, err := parseEnvFile(b.String())
		if err != nil || len(again) != len(entries) {
			t.Fatalf("written back %q: %v %v", b.String(), again, err)
		}
		for i := range again {
			if again[i].Key != entries[i].Key || again[i].Value != entries[i].Value {
				t.Fatalf("entry %d: %+v, read back %+v", i, entries[i], again[i])
			}
		}
	})
}

func FuzzCommandLine(f *testing.F) {
	f.Add("/usr/local/bin/dfaas agent --key %d/node.pem $DFAAS_AGENT_FLAGS --u ${U}", "--a 1")
	f.Add("x %% $$ ${", "")
	f.Fuzz(func(t *testing.T, line, flags string) {
		env := map[string]string{"DFAAS_AGENT_FLAGS": flags, "U": "admin"}
		argv, err := commandLine(line, specifiers{'d': "/c", 't': "/run"}, env)
		if err == nil && len(argv) == 0 {
			t.Fatalf("%q: no words and no error", line)
		}
	})
}

func FuzzExpandVars(f *testing.F) {
	f.Add("--http=$(POD_IP):8081", "10.0.0.1")
	f.Add("$$(X) $(Y $(", "")
	f.Fuzz(func(t *testing.T, s, v string) {
		got := expandVars(s, map[string]string{"POD_IP": v})
		if !strings.Contains(s, "$") && got != s {
			t.Fatalf("%q without $ expanded to %q", s, got)
		}
		if !strings.Contains(v, "$") && !strings.Contains(s, "$(POD_IP)") && !strings.Contains(s, "$$") && got != s {
			t.Fatalf("%q expanded to %q without a reference", s, got)
		}
	})
}

func FuzzDecodeManifests(f *testing.F) {
	seedFiles(f, "testdata/node-a.golden.yaml")
	f.Add("---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {typo: 1}\n")
	f.Fuzz(func(t *testing.T, data string) {
		ms, err := decodeManifests([]byte(data))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Object == nil {
				t.Fatal("nil object")
			}
		}
		sortNode(ms)
	})
}
