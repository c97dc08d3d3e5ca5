package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runForecastCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"forecast"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), errb.String(), err
}

func TestForecastCommand(t *testing.T) {
	trace := filepath.Join("..", "..", "..", "forecast", "testdata", "trend.csv")
	out, _, err := runForecastCmd(t, "--trace", trace, "--method", "auto", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Trace  string  `json:"trace"`
		Method string  `json:"method"`
		WAPE   float64 `json:"wape"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if got.Trace != trace || got.Method != "auto" || got.WAPE <= 0.09 || got.WAPE >= 0.12 {
		t.Errorf("got %+v, want auto on %s with a WAPE near 0.105", got, trace)
	}
	if dec.More() {
		t.Errorf("more than one object for one method: %q", out)
	}

	out, _, err = runForecastCmd(t, "--trace", trace, "--trace", trace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+2*5 || !strings.HasPrefix(lines[0], "TRACE") {
		t.Errorf("table of all methods on two traces:\n%s", out)
	}
}

func TestForecastCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("time,rate\n0,1\n60,-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	uneven := filepath.Join(dir, "uneven.csv")
	if err := os.WriteFile(uneven, []byte("time,rate\n0,1\n30,2\n60,2\n120,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.csv")
	if err := os.WriteFile(short, []byte("time,rate\n0,1\n60,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		usage bool // a usage error (exit status 2)
		want  string
	}{
		{"no trace", nil, true, "--trace is required"},
		{"unknown method", []string{"--trace", short, "--method", "arima"}, true, `unknown method "arima"`},
		{"negative skip", []string{"--trace", short, "--skip", "-1h"}, true, "--skip -1h0m0s is negative"},
		{"positional", []string{"--trace", short, "extra"}, true, `unexpected argument "extra"`},
		{"missing file", []string{"--trace", filepath.Join(dir, "nope.csv")}, false, "no such file"},
		{"bad rate", []string{"--trace", bad}, false, `line 3: bad rate "-3"`},
		{"nothing to score", []string{"--trace", short}, true, "--skip 48h0m0s: trace " + short + ": forecast: no sample to score: the trace spans 60s, no sample after the first 172800s"},
		{"uneven", []string{"--trace", uneven, "--skip", "0"}, false, "--trace " + uneven + ": forecast: trace: samples 3 and 4 are 60 s apart, the first two 30 s: want even spacing"},
		{"skip beyond the trace", []string{"--trace", short, "--skip", "61s"}, true, "--skip 1m1s: trace " + short + ": forecast: no sample to score: the trace spans 60s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runForecastCmd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if got := isUsage(err); got != tt.usage {
				t.Errorf("usage error: %v, want %v", got, tt.usage)
			}
		})
	}
	for _, skip := range []string{"0s", "60s"} { // 60s: the last sample is still scored
		if _, _, err := runForecastCmd(t, "--trace", short, "--skip", skip, "--method", "last"); err != nil {
			t.Errorf("--skip %s on a trace of 60s: %v", skip, err)
		}
	}
}
