package cli

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"testing"
)

func TestChurnEmbedded(t *testing.T) {
	out, _, err := runMain(t, "churn", "--proxy", "embedded", "--updates", "20", "--rate", "200", "--interval", "5ms", "--baseline=false", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r["requests"].(float64) < 10 || r["failed"].(float64) != 0 {
		t.Errorf("requests %v failed %v", r["requests"], r["failed"])
	}
	if u, ok := r["update_ms"].(map[string]any); !ok || u["p50"] == nil || u["p99"] == nil {
		t.Errorf("update_ms %v", r["update_ms"])
	}
	if _, ok := r["reload_failed"]; ok {
		t.Error("reload_failed reported without a baseline run")
	}
}

func TestChurnFlags(t *testing.T) {
	for _, args := range [][]string{
		{"churn", "--proxy", "nginx"},
		{"churn", "--updates", "2"},
		{"churn", "--rate", "0"},
		{"churn", "--rate", "NaN"},
		{"churn", "--interval", "-1s"},
		{"churn", "--baseline-updates", "-3"},
		{"churn", "extra"},
	} {
		if _, _, err := runMain(t, args...); !errors.As(err, new(usageError)) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// TestIntegrationChurnHAProxy runs a short churn against a real HAProxy,
// with the reload-per-update baseline.
func TestIntegrationChurnHAProxy(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("DFAAS_INTEGRATION") == "1" {
			t.Fatalf("DFAAS_INTEGRATION=1 but haproxy is not installed: %v", err)
		}
		t.Skip("haproxy not installed")
	}
	out, _, err := runMain(t, "churn", "--proxy", "haproxy", "--updates", "40", "--rate", "200", "--baseline-updates", "8", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r churnResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
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
