package loadgen

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// twoNodes: a is overloaded (60 req/s for a capacity of 40), b has room.
const twoNodes = `{
  "name": "two", "duration": "60s", "period": "500ms", "seed": 3,
  "nodes": [
    {"id": "a", "functions": [{"name": "figlet", "capacity": 40}]},
    {"id": "b", "functions": [{"name": "figlet", "capacity": 120}]}
  ],
  "links": [{"a": "a", "b": "b", "rtt": "20ms"}],
  "load": [{"node": "a", "function": "figlet", "rates": [60]}, {"node": "b", "function": "figlet", "rates": [10]}]
}`

func TestParseK6Trace(t *testing.T) {
	s, err := ParseK6Trace([]byte(`{"figlet": {"node_c": [10, 20.5], "node_d": [0]}, "0": {"node_c": [5]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 || s[0].Function != "0" || s[1].Node != "node_c" || s[1].Rates[1] != 20.5 || s[2].Node != "node_d" {
		t.Fatalf("streams %+v", s)
	}
	bad := []struct{ in, want string }{
		{``, "want"},
		{`null`, "null"},
		{`[]`, "want"},
		{`{}`, "no function"},
		{`{"f": null}`, "null"},
		{`{"f": {"n": []}}`, "no rates"},
		{`{"f": {"n": [-1]}}`, "rate[0]"},
		{`{"f": {"n": [1e300]}}`, "rate[0]"},
		{`{"f": {"n": ["x"]}}`, "want"},
		{`{"": {"n": [1]}}`, "empty function"},
		{`{"f": {"": [1]}}`, "empty node"},
		{`{"f": {"n": [1]}} {}`, "trailing"},
	}
	for _, b := range bad {
		_, err := ParseK6Trace([]byte(b.in))
		if err == nil || !errors.Is(err, ErrInvalidTrace) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want one mentioning %q", b.in, err, b.want)
		}
	}
}

func TestParseCSVTrace(t *testing.T) {
	rates, step, err := ParseCSVTrace([]byte("time,rate\n0,8\n60,4\n120,6.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if step != time.Minute || len(rates) != 3 || rates[2] != 6.5 {
		t.Fatalf("rates %v step %v", rates, step)
	}
	if _, step, err := ParseCSVTrace([]byte("time,rate\n0,8\n")); err != nil || step != 0 {
		t.Fatalf("one row: step %v, %v", step, err)
	}
	bad := []struct{ in, want string }{
		{"", "header"},
		{"t,r\n0,1\n", "header"},
		{"time,rate\n", "no rows"},
		{"time,rate\n0,1\n0,2\n", "does not increase"},
		{"time,rate\n0,1\n60,2\n90,3\n", "even spacing"},
		{"time,rate\n0,-1\n", "rate"},
		{"time,rate\nx,1\n", "time"},
		{"time,rate\n0,NaN\n", "rate"},
		{"time,rate\n0,1,2\n", "fields"},
	}
	for _, b := range bad {
		_, _, err := ParseCSVTrace([]byte(b.in))
		if err == nil || !errors.Is(err, ErrInvalidTrace) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want one mentioning %q", b.in, err, b.want)
		}
	}
}

func FuzzParseK6Trace(f *testing.F) {
	for _, s := range []string{`{"figlet": {"node_c": [10, 20.5]}}`, `{}`, `null`, `{"f": {"n": [1e300]}}`, `{"a":{"b":[0,0,0]},"c":{"d":[1]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseK6Trace(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidTrace) {
				t.Fatalf("error %v does not wrap ErrInvalidTrace", err)
			}
			return
		}
		for _, x := range s {
			if x.Function == "" || x.Node == "" || checkRates(x.Rates) != nil {
				t.Fatalf("accepted a bad stream %+v", x)
			}
		}
	})
}

func FuzzParseCSVTrace(f *testing.F) {
	for _, s := range []string{"time,rate\n0,8\n60,4\n", "time,rate\n", "time,rate\n0,1\n0,2\n", "\"time\",rate\n1e3,1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rates, step, err := ParseCSVTrace(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidTrace) {
				t.Fatalf("error %v does not wrap ErrInvalidTrace", err)
			}
			return
		}
		if len(rates) == 0 || step < 0 || checkRates(rates) != nil {
			t.Fatalf("accepted rates %v step %v", rates, step)
		}
	})
}

func TestApplyTrace(t *testing.T) {
	dir := t.TempDir()
	k6 := filepath.Join(dir, "trace.json")
	os.WriteFile(k6, []byte(`{"0": {"node_c": [10, 20, 30], "node_d": [5]}}`), 0o644)
	csvPath := filepath.Join(dir, "trace.csv")
	os.WriteFile(csvPath, []byte("time,rate\n0,8\n60,4\n"), 0o644)
	load := func() *sim.Scenario {
		sc, err := sim.ParseScenario([]byte(twoNodes))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	sc := load()
	err := ApplyTrace(sc, TraceOptions{Path: k6, Stage: 10 * time.Second, Nodes: map[string]string{"node_c": "a", "node_d": "b"}, Functions: map[string]string{"0": "figlet"}, Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Duration.D() != 30*time.Second || len(sc.Load) != 2 || sc.Load[0].Node != "a" || sc.Load[0].Function != "figlet" ||
		sc.Load[0].Rates[2] != 60 || sc.Load[0].Step.D() != 10*time.Second || sc.Load[1].Rates[0] != 10 {
		t.Fatalf("scenario after trace: %v %+v", sc.Duration.D(), sc.Load)
	}
	sc = load()
	if err := ApplyTrace(sc, TraceOptions{Path: csvPath, To: "b/figlet"}); err != nil {
		t.Fatal(err)
	}
	if sc.Duration.D() != 2*time.Minute || len(sc.Load) != 1 || sc.Load[0].Node != "b" || sc.Load[0].Step.D() != time.Minute {
		t.Fatalf("scenario after CSV trace: %v %+v", sc.Duration.D(), sc.Load)
	}
	bad := []struct {
		o    TraceOptions
		want string
	}{
		{TraceOptions{Path: k6}, "--trace-stage"},
		{TraceOptions{Path: k6, Stage: time.Second}, `node "node_c" is not in the scenario`},
		{TraceOptions{Path: k6, Stage: time.Second, To: "a/figlet"}, "--trace-to is for CSV"},
		{TraceOptions{Path: csvPath}, "--trace-to"},
		{TraceOptions{Path: csvPath, To: "zz/figlet"}, `node "zz"`},
		{TraceOptions{Path: csvPath, To: "a/figlet", Scale: -1}, "--trace-scale"},
		{TraceOptions{Path: filepath.Join(dir, "trace.txt")}, ".json (k6) or .csv"},
		{TraceOptions{Path: filepath.Join(dir, "missing.json")}, "no such file"},
		{TraceOptions{Path: k6, Stage: time.Second, Nodes: map[string]string{"node_c": "a", "node_d": "b"}, Functions: map[string]string{"0": "bad name!"}}, "load[0].function"},
	}
	for _, b := range bad {
		err := ApplyTrace(load(), b.o)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", b.o, err, b.want)
		}
	}
}
