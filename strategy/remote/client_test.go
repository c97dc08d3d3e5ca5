package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

func snapshot() strategy.Snapshot {
	return strategy.Snapshot{
		Self: "a", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Period: 5 * time.Second,
		Functions: []strategy.Function{{Name: "f", Deployed: true, Capacity: 100, Offered: 120, Forecast: 120, Latency: 40 * time.Millisecond}},
		Neighbours: []strategy.Neighbour{{ID: "b", RTT: 3 * time.Millisecond, Age: time.Second,
			Announcement: strategy.Announcement{Functions: []strategy.FunctionState{{Name: "f", Deployed: true, Capacity: 200}}}}},
		Prev: strategy.Decision{Routes: []strategy.Route{{Function: "f", Local: 0.8, Forward: []strategy.Share{{Node: "b", Share: 0.2}}}}},
	}
}

func TestAdvise(t *testing.T) {
	var got Observation
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"routes": {"f": {"local": 0.6, "reject": 0.1, "forward": {"b": 0.3}}}}`)
	}))
	defer srv.Close()
	c, err := New(srv.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.Advise(context.Background(), snapshot())
	if err != nil {
		t.Fatal(err)
	}
	a, err := strategy.ParseAdvice(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r := a.Routes["f"]; r.Local != 0.6 || r.Reject != 0.1 || r.Forward["b"] != 0.3 {
		t.Fatalf("advice %+v", a)
	}
	if got.Version != Version || got.Self != "a" || got.PeriodMs != 5000 || len(got.Functions) != 1 || got.Functions[0].LatencyMs != 40 ||
		len(got.Neighbours) != 1 || got.Neighbours[0].RTTMs != 3 || got.Applied["f"].Forward["b"] != 0.2 {
		t.Fatalf("observation %+v", got)
	}
	// The strategy applies what the advisor returned.
	s := snapshot()
	s.Advice = raw
	d, err := strategy.External{}.Decide(s)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := d.Route("f"); r.Local != 0.6 || r.ForwardShare("b") != 0.3 {
		t.Fatalf("route %+v", r)
	}
}

func TestAdviseErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"status", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "model down", http.StatusServiceUnavailable)
		}, "503"},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") }, "invalid advice"},
		{"shares", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"routes": {"f": {"local": 0.6, "reject": 0.6}}}`)
		}, "sum to"},
		{"unknown field", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"routes": {}, "extra": 1}`)
		}, "unknown field"},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"routes": {}, "x": "`+strings.Repeat("a", strategy.MaxAdviceLen)+`"}`)
		}, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, _ := New(srv.URL, Options{})
			_, err := c.Advise(context.Background(), snapshot())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrModel) {
				t.Fatalf("%v does not wrap ErrModel", err)
			}
		})
	}
}

func TestAdviseDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, _ := New(srv.URL, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Advise(ctx, snapshot()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "::"} {
		if _, err := New(u, Options{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// FuzzDecodeAdvice checks that the decoder of the model's answers never
// panics, and that what it accepts the strategy accepts too.
func FuzzDecodeAdvice(f *testing.F) {
	for _, s := range []string{
		`{"routes": {"f": {"local": 0.6, "reject": 0.1, "forward": {"b": 0.3}}}}`,
		`{"routes": {}}`, `{"routes": null}`, `{"routes": {"f": {}}}`, `nonsense`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := DecodeAdvice(data)
		if err != nil {
			if !errors.Is(err, ErrModel) {
				t.Fatalf("error %v does not wrap ErrModel", err)
			}
			return
		}
		if _, err := strategy.ParseAdvice(raw); err != nil {
			t.Fatalf("canonical advice %s rejected: %v", raw, err)
		}
	})
}

func ExampleNewObservation() {
	o := NewObservation(snapshot())
	b, _ := json.Marshal(o.Functions[0])
	fmt.Println(string(b))
	// Output:
	// {"name":"f","deployed":true,"capacity":100,"concurrency":0,"replicas":0,"offered":120,"forecast":120,"local":0,"from_neighbours":0,"forwarded":0,"rejected":0,"failed":0,"latency_ms":40}
}
