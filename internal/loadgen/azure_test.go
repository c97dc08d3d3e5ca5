package loadgen

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

const azureSample = "testdata/azure2019/invocations.csv"

// TestParseAzureTrace reads the shipped rows (sampled column order) and a
// published-order file, and checks rates, order and names.
func TestParseAzureTrace(t *testing.T) {
	b, err := os.ReadFile(azureSample)
	if err != nil {
		t.Fatal(err)
	}
	if !IsAzureTrace(b) {
		t.Fatal("the shipped rows are not recognised as an Azure trace")
	}
	s, err := ParseAzureTrace(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Busiest first: 195064, 13017 and 62 invocations over 1440 minutes;
	// the busiest has 147 in its first minute.
	if len(s) != 3 || len(s[0].Rates) != 1440 || !strings.HasPrefix(s[0].Function, "e80f0c2ac8a3") || s[0].Rates[0] != 147.0/60 || s[0].Node != "" {
		t.Fatalf("streams: %d, first %.12s with %d rates, rate[0] %v", len(s), s[0].Function, len(s[0].Rates), s[0].Rates[0])
	}
	for i, want := range []float64{195064, 13017, 62} {
		sum := 0.0
		for _, r := range s[i].Rates {
			sum += r * 60
		}
		if d := sum - want; d > 1e-6 || d < -1e-6 {
			t.Errorf("stream %d: %v invocations, want %v", i, sum, want)
		}
	}
	published := "HashOwner,HashApp,HashFunction,Trigger,1,2,3\no,a,f1,http,0,6,0\no,a,f2,timer,60,120,180\no,a,f3,http,1,0,0\n"
	s, err = ParseAzureTrace([]byte(published), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || s[0].Function != "f2" || s[0].Rates[2] != 3 || s[1].Function != "f1" || s[1].Rates[0] != 0 || s[1].Rates[1] != 0.1 {
		t.Fatalf("published order, top 2: %+v", s)
	}
}

func TestParseAzureTraceErrors(t *testing.T) {
	const head = "HashOwner,HashApp,HashFunction,"
	bad := []struct{ in, want string }{
		{"", "empty file"},
		{"HashApp,1,2\na,1,2\n", "no column \"HashOwner\""},
		{head + "x\no,a,f,1\n", "no minute columns"},
		{head + "1,1\no,a,f,1,2\n", "where minute 2 was due"},
		{head + "1,3\no,a,f,1,2\n", "where minute 2 was due"},
		{head + "1,2\n", "no function rows"},
		{head + "1,2\no,a,f,1,-2\n", "line 2"},
		{head + "1,2\no,a,f,1,x\n", "count \"x\""},
		{head + "1,2\no,a,f,1,1e300\n", "not a number in"},
		{head + "1,2\no,a,f,1,6e9\n", "above"},
		{head + "1,2\no,a,f,1\n", "wrong number of fields"},
	}
	for _, b := range bad {
		_, err := ParseAzureTrace([]byte(b.in), 10)
		if err == nil || !errors.Is(err, ErrInvalidTrace) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want one mentioning %q", b.in, err, b.want)
		}
	}
}

func FuzzParseAzureTrace(f *testing.F) {
	for _, s := range []string{"HashOwner,HashApp,HashFunction,1,2\no,a,f,1,2\n", "HashOwner,HashApp,HashFunction,Trigger,1\no,a,f,http,3\n", "HashFunction,minute_1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseAzureTrace(b, 3)
		if err != nil {
			if !errors.Is(err, ErrInvalidTrace) {
				t.Fatalf("error %v does not wrap ErrInvalidTrace", err)
			}
			return
		}
		for _, st := range s {
			if st.Function == "" || checkRates(st.Rates) != nil {
				t.Fatalf("accepted stream %+v", st)
			}
		}
	})
}

// TestApplyAzureTrace replays the two busiest shipped functions on a
// scenario's nodes, a minute compressed to a second, and checks the
// errors of the Azure form of --trace-to.
func TestApplyAzureTrace(t *testing.T) {
	path, _ := filepath.Abs(azureSample)
	load := func() *sim.Scenario {
		sc, err := sim.ParseScenario([]byte(twoNodes))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	sc := load()
	if err := ApplyTrace(sc, TraceOptions{Path: path, To: "a/figlet, b/figlet", Stage: time.Second, Scale: 6}); err != nil {
		t.Fatal(err)
	}
	if sc.Duration.D() != 1440*time.Second || len(sc.Load) != 2 || sc.Load[0].Node != "a" || sc.Load[1].Node != "b" ||
		sc.Load[0].Step.D() != time.Second || math.Abs(sc.Load[0].Rates[0]-14.7) > 1e-9 {
		t.Fatalf("scenario after the Azure trace: %v %+v", sc.Duration.D(), sc.Load[0].Rates[:3])
	}
	sc = load()
	if err := ApplyTrace(sc, TraceOptions{Path: path, To: "a/figlet"}); err != nil {
		t.Fatal(err)
	}
	if sc.Duration.D() != 24*time.Hour || sc.Load[0].Step.D() != time.Minute {
		t.Fatalf("uncompressed: %v, step %v", sc.Duration.D(), sc.Load[0].Step.D())
	}
	for _, b := range []struct{ to, want string }{
		{"", "--trace-to is required"},
		{"a/figlet,b/figlet,a/figlet,b/figlet", "4 targets, the trace has 3"},
		{"a", "want NODE/FUNCTION"},
		{"zz/figlet", `node "zz"`},
	} {
		if err := ApplyTrace(load(), TraceOptions{Path: path, To: b.to}); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("--trace-to %q: error %v, want one mentioning %q", b.to, err, b.want)
		}
	}
}
