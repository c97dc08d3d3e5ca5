package scrape

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/metricsrc"
)

// TestOpenWhiskPage reads testdata/openwhisk-user-events.txt, a page in the
// text format of the Java simpleclient 0.6 that OpenWhisk's user-events
// service exports with (labels each followed by a comma, Java doubles,
// buckets then _count then _sum), with the metric names and labels of its
// PrometheusRecorder. It was generated to that format, not captured from a
// running service (none can run here): two initiators of one action, an
// action in a package, another namespace, every status.
func TestOpenWhiskPage(t *testing.T) {
	f, err := os.Open("testdata/openwhisk-user-events.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fams, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for _, tc := range []struct {
		ns   string
		want []metricsrc.FunctionTotals
	}{
		{"guest", []metricsrc.FunctionTotals{
			// Two initiators summed; failed = application and developer errors.
			{Name: "figlet", Local: 150, Failed: 5, LatencySeconds: 4.84, LatencyCount: 150},
			{Name: "thumbnail", Local: 7, Failed: 1, LatencySeconds: 8.4, LatencyCount: 7},
		}},
		{"_", []metricsrc.FunctionTotals{
			{Name: "figlet", Local: 159, Failed: 5, LatencySeconds: 4.93, LatencyCount: 159},
			{Name: "thumbnail", Local: 7, Failed: 1, LatencySeconds: 8.4, LatencyCount: 7},
		}},
		{"whisk.system", []metricsrc.FunctionTotals{
			{Name: "figlet", Local: 9, LatencySeconds: 0.09, LatencyCount: 9},
		}},
		{"other", nil},
	} {
		got := OpenWhiskTotals(fams, tc.ns).Functions
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %+v, want %+v", tc.ns, got, tc.want)
		}
		for i, w := range tc.want {
			g := got[i]
			if g.Name != w.Name || g.Local != w.Local || g.Failed != w.Failed || g.LatencyCount != w.LatencyCount || !near(g.LatencySeconds, w.LatencySeconds) {
				t.Errorf("%s: %+v, want %+v", tc.ns, g, w)
			}
		}
	}
	// The OpenFaaS reading of the same page finds nothing, and the other
	// way round.
	if got := GatewayTotals(fams, ""); len(got.Functions) != 0 {
		t.Errorf("OpenFaaS series in a user-events page: %+v", got)
	}
}

// TestOpenWhiskLive scrapes the user-events series of dfaas faas's
// OpenWhisk API after invocations, through NewFaaS, and feeds them to a
// Source.
func TestOpenWhiskLive(t *testing.T) {
	srv, err := embedded.New(embedded.Config{Functions: []embedded.Function{{Name: "echo", Capacity: 1e6}, {Name: "sleep", Capacity: 1e6}}})
	if err != nil {
		t.Fatal(err)
	}
	const key = "u:k"
	ow, err := embedded.NewOpenWhisk(srv, embedded.OpenWhiskConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(ow.Handler())
	defer func() { hs.Close(); ow.Close(); srv.Close() }()
	invoke := func(action, body string) {
		req, _ := http.NewRequest("POST", hs.URL+"/api/v1/namespaces/_/actions/"+action+"?blocking=true", strings.NewReader(body))
		req.SetBasicAuth("u", "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	tg, err := NewTarget(hs.URL+"/metrics", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewFaaS(tg, "guest", SeriesOpenWhisk)
	if err != nil {
		t.Fatal(err)
	}
	proxy := metricsrc.NewCounters()
	src, err := NewSource(proxy, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	if _, err := src.Sample(context.Background(), now, time.Second); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		invoke("echo", "{}")
	}
	invoke("sleep", `{"d":"20ms"}`)
	invoke("sleep", `{"d":"bad"}`)
	tot, err := r.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tot.Functions) != 2 || tot.Functions[0].Local != 4 || tot.Functions[1].Local != 2 || tot.Functions[1].Failed != 1 ||
		tot.Functions[1].LatencySeconds < 0.02 || tot.Functions[1].LatencyCount != 2 {
		t.Errorf("totals %+v", tot.Functions)
	}
	s, err := src.Sample(context.Background(), now.Add(2*time.Second), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The source takes Local and Latency from the page (Failed stays the
	// proxy's); sleep's mean is of a 20 ms run and a refused one.
	sleep, ok := s.Function("sleep")
	if echo, _ := s.Function("echo"); echo.Local <= 0 || !ok || sleep.Local <= 0 || sleep.Latency < 5*time.Millisecond {
		t.Errorf("sample %+v", s.Functions)
	}
	if _, err := NewFaaS(tg, "", "lambda"); err == nil {
		t.Error("an unknown series accepted")
	}
}

func FuzzOpenWhiskTotals(f *testing.F) {
	data, err := os.ReadFile("testdata/openwhisk-user-events.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, "guest")
	f.Add([]byte("openwhisk_action_activations_total{action=\"a\"} -1\nopenwhisk_action_status{action=\"a\",status=\"x\"} NaN\n"), "")
	f.Add([]byte("# TYPE openwhisk_action_duration_seconds histogram\nopenwhisk_action_duration_seconds_sum{action=\"a\",initiator=\"x\"} 1e308\nopenwhisk_action_duration_seconds_count{action=\"a\",initiator=\"x\"} 1\nopenwhisk_action_duration_seconds_sum{action=\"a\",initiator=\"y\"} 1e308\nopenwhisk_action_duration_seconds_count{action=\"a\",initiator=\"y\"} 1\n"), "")
	f.Fuzz(func(t *testing.T, page []byte, ns string) {
		fams, err := Parse(strings.NewReader(string(page)))
		if err != nil {
			return
		}
		for _, fn := range OpenWhiskTotals(fams, ns).Functions {
			if fn.Name == "" || strings.Contains(fn.Name, "/") || math.IsNaN(fn.LatencySeconds) || math.IsInf(fn.LatencySeconds, 0) || fn.LatencySeconds < 0 {
				t.Fatalf("totals %+v", fn)
			}
		}
	})
}
