package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// guidePath is the deployment guide, relative to this package.
const guidePath = "../docs/deploy.md"

// guideCommand is a command of the guide.
type guideCommand struct {
	Line int      // where it starts in the guide
	Args []string // the words, the program first
}

func (c guideCommand) String() string {
	return fmt.Sprintf("docs/deploy.md:%d: %s", c.Line, strings.Join(c.Args, " "))
}

// parseGuide returns the commands of the shell blocks (```sh or ```console
// fences) of a Markdown text: one per line, continuation lines joined, a
// leading "$ " prompt and comment lines dropped.
func parseGuide(md string) ([]guideCommand, error) {
	var cmds []guideCommand
	inFence, shell := false, false
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			if !inFence {
				lang := strings.TrimPrefix(t, "```")
				inFence, shell = true, lang == "sh" || lang == "console" || lang == "bash"
				continue
			}
			if cur.Len() > 0 {
				return nil, fmt.Errorf("line %d: the block ends in a continued line", i+1)
			}
			inFence, shell = false, false
			continue
		}
		if !shell {
			continue
		}
		if cur.Len() == 0 {
			t = strings.TrimPrefix(t, "$ ")
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			start = i + 1
		}
		if body, ok := strings.CutSuffix(t, `\`); ok {
			cur.WriteString(body)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(t)
		words, err := splitWords(cur.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		cur.Reset()
		if len(words) > 0 {
			cmds = append(cmds, guideCommand{Line: start, Args: words})
		}
	}
	if inFence {
		return nil, fmt.Errorf("a code block is not closed")
	}
	return cmds, nil
}

// splitWords splits a shell command line into words: blanks separate,
// '...' and "..." quote, a backslash escapes the next character, and an
// unquoted # starts a comment. Expansions are not performed.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("a backslash ends %q", s)
			}
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unclosed %c in %q", c, s)
			}
			w.WriteString(s[i+1 : i+1+end])
			i += 1 + end
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// guideHelmCommands returns the guide's helm commands.
func guideHelmCommands(t *testing.T) []guideCommand {
	t.Helper()
	data, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := parseGuide(string(data))
	if err != nil {
		t.Fatalf("%s: %v", guidePath, err)
	}
	var helm []guideCommand
	for _, c := range cmds {
		if c.Args[0] == "helm" {
			helm = append(helm, c)
		}
	}
	if len(helm) == 0 {
		t.Fatalf("%s has no helm commands", guidePath)
	}
	return helm
}

// releaseCommand is a helm install or template command of the guide.
type releaseCommand struct {
	guideCommand
	Verb        string   // install or template
	Release     string   // the release name
	Chart       string   // the chart: a path for the local chart
	Namespace   string   // --namespace, "default" if none
	ValuesFiles []string // -f/--values files, in order
	Local       bool     // the chart is in this repository
}

// parseRelease reads a helm install/template command's release, chart,
// namespace and values files. Other flags are kept in Args; --set is
// refused, so that the values of every command are in files the test can
// read.
func parseRelease(c guideCommand) (releaseCommand, error) {
	r := releaseCommand{guideCommand: c, Namespace: "default"}
	if len(c.Args) < 2 {
		return r, fmt.Errorf("%v: no verb", c)
	}
	r.Verb = c.Args[1]
	var pos []string
	for i := 2; i < len(c.Args); i++ {
		a := c.Args[i]
		name, value, hasValue := strings.Cut(a, "=")
		takesValue := map[string]bool{"--namespace": true, "-n": true, "-f": true, "--values": true, "--version": true, "--set": true, "--set-string": true, "--set-file": true, "--set-json": true, "--kube-version": true}
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		if takesValue[name] && !hasValue {
			if i+1 == len(c.Args) {
				return r, fmt.Errorf("%v: %s has no value", c, name)
			}
			i++
			value = c.Args[i]
		}
		switch name {
		case "--namespace", "-n":
			r.Namespace = value
		case "-f", "--values":
			r.ValuesFiles = append(r.ValuesFiles, value)
		case "--set", "--set-string", "--set-file", "--set-json":
			return r, fmt.Errorf("%v: %s is not supported by the test (put the values in a file)", c, name)
		}
	}
	if len(pos) != 2 || pos[0] == "" || pos[1] == "" {
		return r, fmt.Errorf("%v: want a release name and a chart, got %q", c, pos)
	}
	r.Release, r.Chart = pos[0], pos[1]
	if _, err := os.Stat(filepath.Join(repoRoot, r.Chart, "Chart.yaml")); err == nil {
		r.Local = true
	}
	return r, nil
}

func TestParseGuide(t *testing.T) {
	md := "text\n```sh\n# a comment\nhelm lint deploy/x\nhelm template a deploy/x \\\n    -f 'v 1.yaml' --namespace \"n\"\n$ echo hi # comment\n```\n" +
		"```yaml\nhelm: not a command\n```\n```console\n$ helm lint y\n```\n"
	got, err := parseGuide(md)
	if err != nil {
		t.Fatal(err)
	}
	want := []guideCommand{
		{4, []string{"helm", "lint", "deploy/x"}},
		{5, []string{"helm", "template", "a", "deploy/x", "-f", "v 1.yaml", "--namespace", "n"}},
		{7, []string{"echo", "hi"}},
		{13, []string{"helm", "lint", "y"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseGuide:\n got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"```sh\nhelm lint \\\n```\n", "```sh\nhelm 'x\n```\n", "```sh\nhelm lint\n"} {
		if _, err := parseGuide(bad); err == nil {
			t.Errorf("parseGuide(%q): no error", bad)
		}
	}
	r, err := parseRelease(guideCommand{1, []string{"helm", "install", "n1", "deploy/helm/dfaas", "-n", "ns", "--create-namespace", "--values=a.yaml", "-f", "b.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verb != "install" || r.Release != "n1" || r.Chart != "deploy/helm/dfaas" || r.Namespace != "ns" || fmt.Sprint(r.ValuesFiles) != "[a.yaml b.yaml]" || !r.Local {
		t.Errorf("parseRelease: %+v", r)
	}
	for _, bad := range [][]string{{"helm", "install", "x"}, {"helm", "install", "x", "c", "--set", "a=b"}, {"helm", "install", "x", "c", "-f"}} {
		if _, err := parseRelease(guideCommand{1, bad}); err == nil {
			t.Errorf("parseRelease(%q): no error", bad)
		}
	}
}
