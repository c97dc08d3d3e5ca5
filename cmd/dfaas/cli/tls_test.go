package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/syncbuf"
)

// TestAgentDataPlaneSecurity runs an agent in-process with and without
// the lab flag: by default it announces an https node port and logs no
// warning; with --insecure-plain-data-plane it announces http and warns
// at start-up.
func TestAgentDataPlaneSecurity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  []string
		scheme string
		warn   bool
	}{
		{"default", nil, "https://", false},
		{"lab flag", []string{"--insecure-plain-data-plane"}, "http://", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := fedPort(t, "tcp")
			args := append([]string{"agent", "--peer-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0",
				"--node-listen", "127.0.0.1:0", "--http", admin, "--period", "200ms", "--log-level", "warn",
				"--function", "echo,capacity=5,concurrency=1"}, tc.flags...)
			var logs syncbuf.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, stdio{in: strings.NewReader(""), out: io.Discard, err: &logs}) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("agent: %v", err)
				}
			}()
			url := announced(t, admin, done)
			if !strings.HasPrefix(url, tc.scheme) {
				t.Errorf("announced %q, want %s", url, tc.scheme)
			}
			if got := strings.Contains(logs.String(), "insecure-plain-data-plane"); got != tc.warn {
				t.Errorf("warning logged: %v, want %v; log:\n%s", got, tc.warn, logs.String())
			}
		})
	}
}

// announced polls the agent's /status until it names its proxy URL.
func announced(t *testing.T, admin string, done <-chan error) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("agent stopped: %v", err)
		default:
		}
		resp, err := http.Get("http://" + admin + "/status")
		if err != nil {
			continue
		}
		var st struct {
			ProxyURL string `json:"proxy_url"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && st.ProxyURL != "" {
			return st.ProxyURL
		}
	}
	t.Fatal("the agent announced no proxy URL within 20s")
	return ""
}
