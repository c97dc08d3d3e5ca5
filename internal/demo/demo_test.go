package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/heavytest"
	"github.com/dfaas-go/dfaas/internal/syncbuf"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestDemoForwards runs a short demo on each API of the embedded FaaS
// (with openwhisk the nodes list and invoke the functions through
// OpenWhisk's API): the overloaded node forwards, every request is
// accounted for exactly once, and the progress says what the demo waits
// for, in lines (no carriage return into a non-terminal).
func TestDemoForwards(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	heavytest.Lock(t)
	for _, api := range []string{"openfaas", "openwhisk"} {
		t.Run(api, func(t *testing.T) { checkDemo(t, api) })
	}
}

func checkDemo(t *testing.T, api string) {
	var progress syncbuf.Buffer
	r, err := Run(context.Background(), Options{
		Strategy: "flow", Registry: strategy.Builtin(), Duration: 4 * time.Second, Period: 250 * time.Millisecond, Seed: 1,
		FaaS: api, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "demo" || len(r.Nodes) != 3 || r.Offered == 0 || r.OracleSuccessRate != 1 {
		t.Fatalf("result %+v", r)
	}
	if r.Served+r.Rejected+r.Failed != r.Offered {
		t.Errorf("served %d + rejected %d + failed %d != offered %d", r.Served, r.Rejected, r.Failed, r.Offered)
	}
	if r.Nodes[0].Forwarded == 0 {
		t.Errorf("the overloaded node forwarded nothing: %+v", r.Nodes[0])
	}
	// Served at all, through the API under test. The success rates of the
	// two APIs are compared by dfaas demo --json runs (docs/openwhisk.md),
	// not here: on a loaded machine they depend on the load.
	if r.Served == 0 {
		t.Errorf("nothing served: %+v", r)
	}
	out := progress.String()
	for _, want := range []string{"waiting for the federation to form", "federation formed in", "demo [", "offered "} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("carriage returns in progress written to a buffer:\n%q", out)
	}
}

// TestDemoInterrupted: a demo canceled during the load says so.
func TestDemoInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	heavytest.Lock(t)
	ctx, cancel := context.WithCancel(context.Background())
	var progress syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{
			Strategy: "alllocal", Registry: strategy.Builtin(), Duration: time.Minute, Period: 250 * time.Millisecond, Seed: 1,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Progress: &progress,
		})
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(progress.String(), "sending load"); {
		if time.Now().After(deadline) {
			t.Fatalf("no load after 30 s:\n%s", progress.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("error %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s of the cancellation")
	}
}

// TestDemoParams: the strategy of every node is built with Options.Params
// (dfaas demo --params), here parameters its factory refuses.
func TestDemoParams(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	reg := strategy.NewRegistry()
	refuse := func(params json.RawMessage) (strategy.Strategy, error) {
		if string(params) == `{"refuse": true}` {
			return nil, errors.New("refused these parameters")
		}
		return strategy.AllLocal{}, nil
	}
	if err := reg.Register("probe", "refuses some parameters", refuse); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{
		Strategy: "probe", Registry: reg, Params: json.RawMessage(`{"refuse": true}`),
		Duration: 500 * time.Millisecond, Period: 250 * time.Millisecond, Seed: 1, FormTimeout: time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err == nil || !strings.Contains(err.Error(), "refused these parameters") {
		t.Fatalf("error %v, want the factory's", err)
	}
}
