package usage

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestFlagError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--period", "soon"}, `--period "soon": want a duration such as 500ms, 5s or 1m`},
		{[]string{"--n", "x"}, `--n "x": want an integer`},
		{[]string{"--on=maybe"}, `--on "maybe": want true or false`},
		{[]string{"--nope"}, "unknown flag --nope"},
		{[]string{"--period"}, "--period needs a value"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Duration("period", time.Second, "")
		fs.Int("n", 0, "")
		fs.Bool("on", false, "")
		err := fs.Parse(tc.args)
		if err == nil {
			t.Fatalf("%v parsed", tc.args)
		}
		if got := FlagError(fs, err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.Duration("period", time.Second, "")
		fs.String("url", "", "")
		fs.String("log-level", "info", "")
		return fs
	}
	t.Setenv("T_PERIOD", "2s")
	t.Setenv("AGENT_DEBUG", "true")
	t.Setenv("T_HOST", "gw")
	fs := newFS()
	fs.Parse(nil)
	if err := ApplyEnv(fs, map[string]string{"period": "T_PERIOD"}); err != nil {
		t.Fatal(err)
	}
	if err := ApplyHostPortEnv(fs, "url", "T", "8080"); err != nil {
		t.Fatal(err)
	}
	if p, u, l := fs.Lookup("period").Value.String(), fs.Lookup("url").Value.String(), fs.Lookup("log-level").Value.String(); p != "2s" || u != "http://gw:8080" || l != "debug" {
		t.Errorf("from the environment: period %s url %s log level %s", p, u, l)
	}
	// A flag given on the command line wins; bad values name the variable.
	fs = newFS()
	fs.Parse([]string{"--period", "3s", "--url", "http://x"})
	t.Setenv("T_PORT", "80/x")
	if err := ApplyEnv(fs, map[string]string{"period": "T_PERIOD"}); err != nil || fs.Lookup("period").Value.String() != "3s" {
		t.Errorf("flag over env: %v %s", err, fs.Lookup("period").Value)
	}
	if err := ApplyHostPortEnv(fs, "url", "T", "8080"); err != nil {
		t.Errorf("given --url: %v", err)
	}
	fs = newFS()
	fs.Parse(nil)
	if err := ApplyHostPortEnv(fs, "url", "T", "8080"); err == nil || !Is(err) {
		t.Errorf("T_PORT=80/x: %v, want a usage error", err)
	}
	t.Setenv("T_PERIOD", "soon")
	if err := ApplyEnv(fs, map[string]string{"period": "T_PERIOD"}); err == nil || err.Error() != `environment T_PERIOD="soon" (for --period): want a duration such as 500ms, 5s or 1m` {
		t.Errorf("T_PERIOD=soon: %v", err)
	}
}

// TestNoteEnv: -h names each mapped flag's variable, and only those.
func TestNoteEnv(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Duration("period", time.Second, "control period")
	fs.String("url", "", "where")
	NoteEnv(fs, map[string]string{"period": "T_PERIOD", "absent": "T_ABSENT"})
	if got := fs.Lookup("period").Usage; got != "control period (env T_PERIOD)" {
		t.Errorf("period usage %q", got)
	}
	if got := fs.Lookup("url").Usage; got != "where" {
		t.Errorf("url usage %q", got)
	}
}
