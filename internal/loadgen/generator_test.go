package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// fixed arrives at the given offsets.
type fixed []time.Duration

func (f *fixed) Next() (time.Duration, bool) {
	if len(*f) == 0 {
		return 0, false
	}
	t := (*f)[0]
	*f = (*f)[1:]
	return t, true
}

func at(ms ...int) *fixed {
	f := fixed{}
	for _, m := range ms {
		f = append(f, time.Duration(m)*time.Millisecond)
	}
	return &f
}

// proxy answers like a node's proxy: /served 200 (forwarded to node-b),
// /rejected 429 with the rejection header, /broken 500.
func proxy(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/served":
			w.Header().Set(proxyctl.HeaderForwardedTo, "node-b")
			w.Header().Set(proxyctl.HeaderServedBy, "node-b")
		case "/rejected":
			w.Header().Set(proxyctl.HeaderRejected, "admission"+strings.Repeat("!", 100))
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestGenerator sends three streams and checks outcomes, names, counts
// and the summary.
func TestGenerator(t *testing.T) {
	srv := proxy(t)
	c := NewClient(nil, 5*time.Second, 16)
	var g Generator
	g.Name = func(id string) string { return strings.TrimPrefix(id, "node-") }
	var errs atomic.Int64
	g.OnDone = func(rec report.Record, err error) {
		if err != nil {
			errs.Add(1)
		}
	}
	g.Run(context.Background(), time.Now(), []Stream{
		{Node: "a", Function: "f", URL: srv.URL + "/served", Client: c, Arrivals: at(0, 10, 20)},
		{Node: "a", Function: "f", URL: srv.URL + "/rejected", Client: c, Arrivals: at(5)},
		{Node: "b", Function: "f", URL: srv.URL + "/broken", Client: c, Arrivals: at(15)},
		{Node: "b", Function: "f", URL: "http://127.0.0.1:1/refused", Client: c, Arrivals: at(25)},
	})
	recs := g.Records()
	if len(recs) != 6 || g.Offered.Load() != 6 || g.Served.Load() != 3 || g.Forwarded.Load() != 3 || g.Rejected.Load() != 1 || g.Failed.Load() != 2 {
		t.Fatalf("counts %d offered %d served %d forwarded %d rejected %d failed; %d records", g.Offered.Load(), g.Served.Load(),
			g.Forwarded.Load(), g.Rejected.Load(), g.Failed.Load(), len(recs))
	}
	for i, r := range recs {
		if i > 0 && r.At < recs[i-1].At {
			t.Fatal("records not sorted by time")
		}
	}
	// The reason is kept, bounded.
	if recs[1].Reason != "admission"+strings.Repeat("!", maxReason-9) || recs[0].Reason != "" || recs[3].Reason != "" {
		t.Errorf("reasons %q %q %q", recs[0].Reason, recs[1].Reason, recs[3].Reason)
	}
	if recs[0].ForwardedTo != "b" || recs[0].ServedBy != "b" || recs[1].Status != 429 || recs[5].Error == "" || errs.Load() != 1 {
		t.Errorf("records %+v (%d errors)", recs, errs.Load())
	}
	res := g.Result("s", "flow", "bench", []string{"a", "b"})
	if res.Offered != 6 || res.Served != 3 || res.Mode != "bench" || res.Nodes[1].Failed != 2 {
		t.Errorf("result %+v", res)
	}
}

// TestGeneratorPoissonRate: a Poisson stream of 200 req/s for 1 s sends
// about 200 requests, open-loop.
func TestGeneratorPoissonRate(t *testing.T) {
	srv := proxy(t)
	var g Generator
	l := sim.Load{Rates: []float64{200}}
	g.Run(context.Background(), time.Now(), []Stream{{Node: "a", URL: srv.URL + "/served", Client: NewClient(nil, 5*time.Second, 64),
		Arrivals: Poisson(l, time.Second, newRand(1))}})
	// The count is that of the arrivals drawn, whatever the timing.
	want := 0
	for a := Poisson(l, time.Second, newRand(1)); ; want++ {
		if _, ok := a.Next(); !ok {
			break
		}
	}
	if got := g.Offered.Load(); got != int64(want) || want < 150 || want > 250 {
		t.Fatalf("offered %d, arrivals drawn %d", got, want)
	}
}

// TestGeneratorMaxInFlight: arrivals beyond the bound fail without being
// sent.
func TestGeneratorMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent.Add(1)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	g := Generator{MaxInFlight: 2}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Run(context.Background(), time.Now(), []Stream{{URL: srv.URL, Client: NewClient(nil, 5*time.Second, 4), Arrivals: at(0, 0, 0, 0, 0)}})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for g.Failed.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if g.Failed.Load() != 3 {
		t.Fatalf("%d failed, want 3 beyond the bound of 2", g.Failed.Load())
	}
	release <- struct{}{}
	release <- struct{}{}
	<-done
	if sent.Load() != 2 || g.Served.Load() != 2 {
		t.Fatalf("sent %d, served %d", sent.Load(), g.Served.Load())
	}
	for _, r := range g.Records() {
		if r.Outcome == report.Failed && r.Error != TooManyInFlight {
			t.Errorf("record %+v", r)
		}
	}
}

// TestGeneratorDetach: with Detach, a request in flight when the context
// ends completes; without, it is canceled.
func TestGeneratorDetach(t *testing.T) {
	for _, detach := range []bool{true, false} {
		started := make(chan struct{}, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			time.Sleep(200 * time.Millisecond)
		}))
		ctx, cancel := context.WithCancel(context.Background())
		g := Generator{Detach: detach}
		var wg sync.WaitGroup
		wg.Go(func() {
			g.Run(ctx, time.Now(), []Stream{{URL: srv.URL, Client: NewClient(nil, 5*time.Second, 4), Arrivals: Uniform(1, 0)}})
		})
		<-started
		cancel()
		wg.Wait()
		srv.Close()
		if served := g.Served.Load() == 1; served != detach || g.Offered.Load() != 1 {
			t.Errorf("detach %v: offered %d, served %d", detach, g.Offered.Load(), g.Served.Load())
		}
	}
}

// TestProgress: a file gets one line per update, no carriage return.
func TestProgress(t *testing.T) {
	var c Counts
	c.Offered.Store(7)
	c.Served.Store(5)
	f, err := os.Create(t.TempDir() + "/progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		Progress{W: f, Label: "flow", Total: 10 * time.Second, Counts: &c, FileEvery: 10 * time.Millisecond}.Run(time.Now(), done)
	})
	time.Sleep(60 * time.Millisecond)
	close(done)
	wg.Wait()
	b, _ := os.ReadFile(f.Name())
	lines := bytes.Count(b, []byte("\n"))
	if bytes.ContainsRune(b, '\r') || lines < 2 || !bytes.Contains(b, []byte("flow [")) || !bytes.Contains(b, []byte("offered 7  served 5")) {
		t.Fatalf("%d lines:\n%q", lines, b)
	}
	if IsTerminal(f) || IsTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer taken for a terminal")
	}
}

// unwrapper wraps a writer as the command line's serialising writer does.
type unwrapper struct{ w *os.File }

func (u unwrapper) Write(p []byte) (int, error) { return u.w.Write(p) }
func (u unwrapper) Unwrap() io.Writer           { return u.w }

// TestIsTerminal: a character device is one, also behind a wrapper with
// Unwrap; a regular file is not.
func TestIsTerminal(t *testing.T) {
	dev, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer dev.Close()
	f, err := os.Create(t.TempDir() + "/f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !IsTerminal(dev) || !IsTerminal(unwrapper{dev}) || IsTerminal(unwrapper{f}) {
		t.Fatal("IsTerminal")
	}
}
