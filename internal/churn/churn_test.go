package churn

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/heavytest"
	"github.com/dfaas-go/dfaas/internal/promtest"
)

func TestChurnEmbedded(t *testing.T) {
	heavytest.Lock(t)
	r, err := Measure(context.Background(), Options{Proxy: "embedded", Updates: 20, Rate: 200, Interval: 5 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 10 || r.Failed != 0 || r.Run.Updates != 20 || len(r.Run.EventMS) != 4 || r.Run.Reloads != 0 {
		t.Errorf("result %+v", r)
	}
	if r.UpdateMS.P50 <= 0 || r.UpdateMS.P99 < r.UpdateMS.P50 {
		t.Errorf("update_ms %+v", r.UpdateMS)
	}
	if r.Reload != nil || r.ReloadFailed != nil {
		t.Error("reload run reported without a baseline run")
	}
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil || !strings.Contains(b.String(), "embedded (in memory)") {
		t.Errorf("table: %v\n%s", err, b.String())
	}
}

// TestChurnLogsEvents: with Verbose, every event is logged with its time.
func TestChurnLogsEvents(t *testing.T) {
	var log bytes.Buffer
	_, err := Measure(context.Background(), Options{Proxy: "embedded", Updates: 8, Rate: 100, Interval: 5 * time.Millisecond, Verbose: &log})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"n3-leaves", "function-added", "n4-joins", "n3-joins"} {
		if !strings.Contains(log.String(), "event "+ev+" applied in") {
			t.Errorf("log lacks %s:\n%s", ev, log.String())
		}
	}
}

func TestChurnCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Measure(ctx, Options{Proxy: "embedded", Updates: 100, Rate: 100, Interval: 10 * time.Millisecond}); err == nil {
		t.Fatal("a canceled run succeeded")
	}
}

func TestChurnBadOptions(t *testing.T) {
	for _, o := range []Options{{Proxy: "embedded", Updates: 2, Rate: 1, Interval: time.Millisecond}, {Proxy: "embedded", Updates: 4, Interval: time.Millisecond}} {
		if _, err := Measure(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestIntegrationChurnHAProxy runs a short churn against a real HAProxy,
// with the reload-per-update baseline.
func TestIntegrationChurnHAProxy(t *testing.T) {
	bin := promtest.Binary(t, "haproxy")
	heavytest.Lock(t)
	r, err := Measure(context.Background(), Options{Proxy: "haproxy", Updates: 40, Rate: 200, Interval: 10 * time.Millisecond,
		Baseline: true, BaselineUpdates: 8, Binary: bin, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 20 || r.Failed != 0 || r.Run.Reloads != 1 || r.Run.Updates != 40 {
		t.Errorf("runtime run: %+v (want no failure and one reload: the function addition)", r.Run)
	}
	if r.UpdateMS.P50 <= 0 || r.UpdateMS.P99 < r.UpdateMS.P50 {
		t.Errorf("update_ms %+v", r.UpdateMS)
	}
	if r.Reload == nil || r.ReloadFailed == nil || r.ReloadUpdateMS == nil || r.ReloadRequests == nil || r.Reload.Reloads < 8 {
		t.Fatalf("baseline: %+v", r.Reload)
	}
	t.Logf("runtime API: %+v", r.Run)
	t.Logf("reload per update: %+v", *r.Reload)
}
