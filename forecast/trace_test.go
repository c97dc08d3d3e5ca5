package forecast_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/dfaas-go/dfaas/forecast"
)

func TestReadTrace(t *testing.T) {
	tests := []struct {
		name, in string
		want     forecast.Trace
		err      string // substring of the error; "" for success
	}{
		{"plain", "time,rate\n0,1.5\n60,2\n", forecast.Trace{Times: []float64{0, 60}, Rates: []float64{1.5, 2}}, ""},
		{"swapped and extra columns", "rate,node,time\n3,a,10\n4,b,20\n", forecast.Trace{Times: []float64{10, 20}, Rates: []float64{3, 4}}, ""},
		{"BOM and spaces", "\ufefftime, rate\n 0 , 7 \n", forecast.Trace{Times: []float64{0}, Rates: []float64{7}}, ""},
		{"CRLF", "time,rate\r\n0,1\r\n1,2\r\n", forecast.Trace{Times: []float64{0, 1}, Rates: []float64{1, 2}}, ""},
		{"empty", "", forecast.Trace{}, "empty"},
		{"header only", "time,rate\n", forecast.Trace{}, "no samples"},
		{"no rate column", "time,value\n0,1\n", forecast.Trace{}, `lacks a "time" or "rate" column`},
		{"short row", "time,rate\n0\n", forecast.Trace{}, "line 2: 1 fields"},
		{"bad time", "time,rate\nzero,1\n", forecast.Trace{}, `line 2: bad time "zero"`},
		{"NaN time", "time,rate\nNaN,1\n", forecast.Trace{}, `bad time "NaN"`},
		{"bad rate", "time,rate\n0,1\n60,lots\n", forecast.Trace{}, `line 3: bad rate "lots"`},
		{"negative rate", "time,rate\n0,-1\n", forecast.Trace{}, `bad rate "-1"`},
		{"infinite rate", "time,rate\n0,+Inf\n", forecast.Trace{}, `bad rate "+Inf"`},
		{"time not increasing", "time,rate\n60,1\n60,2\n", forecast.Trace{}, "line 3: time 60 not after 60"},
		{"bad quoting", "time,rate\n\"0,1\n", forecast.Trace{}, "forecast: trace:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := forecast.ReadTrace(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got.Times, tt.want.Times) || !equal(got.Rates, tt.want.Rates) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := forecast.ReadTrace(iotest.ErrReader(boom))
		if !errors.Is(err, boom) {
			t.Fatalf("error %v, want it to wrap the reader's", err)
		}
	})
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEvaluateErrors(t *testing.T) {
	last, _ := forecast.ByName("last")
	tests := []struct {
		name string
		tr   forecast.Trace
		skip float64
		err  string
	}{
		{"empty", forecast.Trace{}, 0, "0 times and 0 rates"},
		{"mismatched", forecast.Trace{Times: []float64{0}, Rates: []float64{1, 2}}, 0, "1 times and 2 rates"},
		{"skip all", forecast.Trace{Times: []float64{0, 60}, Rates: []float64{1, 2}}, 120, "no sample after the first 120s"},
		{"negative skip", forecast.Trace{Times: []float64{0}, Rates: []float64{1}}, -1, "skip -1"},
		{"NaN skip", forecast.Trace{Times: []float64{0}, Rates: []float64{1}}, math.NaN(), "skip NaN"},
		{"all zero", forecast.Trace{Times: []float64{0, 60}, Rates: []float64{0, 0}}, 0, "every scored rate is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.tr.Evaluate(last, tt.skip)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func FuzzReadTrace(f *testing.F) {
	for _, s := range []string{
		"time,rate\n0,8\n60,4\n120,6\n",
		"rate,time\n1,0\n",
		"time,rate\n0,1e308\n1e308,0\n",
		"time,rate\n-5,0\n-4,0.5\n",
		"time,rate\n\"0\",\"1\"\n",
		"time\n0\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := forecast.ReadTrace(bytes.NewReader(b))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "forecast: trace") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if len(tr.Times) == 0 || len(tr.Times) != len(tr.Rates) {
			t.Fatalf("%d times, %d rates", len(tr.Times), len(tr.Rates))
		}
		for i := range tr.Times {
			if math.IsNaN(tr.Times[i]) || math.IsInf(tr.Times[i], 0) || i > 0 && tr.Times[i] <= tr.Times[i-1] {
				t.Fatalf("bad time %v at %d", tr.Times[i], i)
			}
			if r := tr.Rates[i]; math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
				t.Fatalf("bad rate %v at %d", r, i)
			}
		}
		// Whatever decodes can be scored without a panic.
		last, _ := forecast.ByName("auto")
		_, _ = tr.Evaluate(last, 0)
	})
}

// TestEvaluateRefuses: a trace Evaluate cannot score one step ahead
// (samples not evenly spaced) or a skip that leaves nothing to score.
func TestEvaluateRefuses(t *testing.T) {
	last, err := forecast.ByName("last")
	if err != nil {
		t.Fatal(err)
	}
	even := forecast.Trace{Times: []float64{0, 30, 60, 90}, Rates: []float64{1, 2, 2, 3}}
	for _, tc := range []struct {
		name    string
		tr      forecast.Trace
		skip    float64
		want    string
		nothing bool
	}{
		{"uneven", forecast.Trace{Times: []float64{0, 30, 60, 120}, Rates: []float64{1, 2, 2, 3}}, 0, "samples 3 and 4 are 60 s apart, the first two 30 s", false},
		{"skip past the end", even, 91, "the trace spans 90s, no sample after the first 91s", true},
		{"even", even, 0, "", false},
		{"two samples", forecast.Trace{Times: []float64{0, 7}, Rates: []float64{1, 2}}, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.tr.Evaluate(last, tc.skip)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Evaluate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, forecast.ErrNothingToScore) != tc.nothing {
				t.Errorf("Evaluate: %v, want one containing %q (ErrNothingToScore: %v)", err, tc.want, tc.nothing)
			}
		})
	}
}
