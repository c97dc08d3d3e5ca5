package cadvisor_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
)

// kubeletServer serves the recorded page on /metrics/cadvisor over TLS,
// requiring token, and returns its URL and the files of its CA and token.
func kubeletServer(t *testing.T, token string, h http.HandlerFunc) (url, caFile, tokenFile string) {
	t.Helper()
	page, err := os.ReadFile(recorded)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			w.Write(page)
		}
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	caFile, tokenFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	return srv.URL + "/metrics/cadvisor", caFile, tokenFile
}

func TestKubelet(t *testing.T) {
	url, caFile, tokenFile := kubeletServer(t, "t0k3n", nil)
	k, err := cadvisor.NewKubelet(cadvisor.KubeletConfig{URL: url, CAFile: caFile, TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	rd, err := k.Read(context.Background(), time.Now(), 5*time.Second, "openfaas-fn")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range rd.Pods {
		names = append(names, p.Pod)
		if p.Memory <= 0 || p.CPU != 0 {
			t.Errorf("pod %+v: want its memory, and no CPU rate from one reading", p)
		}
	}
	if strings.Join(names, " ") != "figlet-5d7f8b9c4-q9zrt figlet-5d7f8b9c4-x7k2p shasum-7c9bd5f8f6-bq2zl worker-0" {
		t.Errorf("pods %v", names)
	}
	// The token file is read at every scrape: a rotated token is used.
	os.WriteFile(tokenFile, []byte("rotated"), 0o600)
	if _, _, err := k.Scrape(context.Background(), "openfaas-fn"); err == nil || !strings.Contains(err.Error(), "status 401 (no or bad token") {
		t.Errorf("after rotation: %v, want a 401 naming the token", err)
	}
}

func TestKubeletConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		cfg cadvisor.KubeletConfig
		err string
	}{
		{cadvisor.KubeletConfig{URL: "10.0.0.1:10250"}, "not an http(s) URL"},
		{cadvisor.KubeletConfig{URL: "https://u:p@10.0.0.1:10250/metrics/cadvisor"}, "not an http(s) URL"},
		{cadvisor.KubeletConfig{URL: "http://10.0.0.1:10255/metrics/cadvisor", TokenFile: "/tmp/token"}, "only sent over https"},
		{cadvisor.KubeletConfig{URL: "https://10.0.0.1:10250/metrics/cadvisor", Timeout: -1}, "negative kubelet Timeout"},
		{cadvisor.KubeletConfig{URL: "https://10.0.0.1:10250/metrics/cadvisor", CAFile: filepath.Join(dir, "missing")}, "CAFile"},
		{cadvisor.KubeletConfig{URL: "https://10.0.0.1:10250/metrics/cadvisor", CAFile: notPEM}, "no PEM certificate"},
		{cadvisor.KubeletConfig{URL: "http://127.0.0.1:4194/metrics"}, ""},
	}
	for _, tt := range tests {
		_, err := cadvisor.NewKubelet(tt.cfg)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("NewKubelet(%+v) = %v, want %q", tt.cfg, err, tt.err)
		}
	}
}

// TestKubeletHostile: every bad answer of the endpoint is an error that
// says what is wrong, within the time-out, and bounded.
func TestKubeletHostile(t *testing.T) {
	var hang atomic.Bool
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	url, caFile, tokenFile := kubeletServer(t, "tok", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		case "forbidden":
			http.Error(w, `Forbidden (user=system:serviceaccount:openfaas:dfaas, verb=get, resource=nodes, subresource=metrics)`, http.StatusForbidden)
		case "protobuf":
			w.Header().Set("Content-Type", "application/vnd.google.protobuf")
			w.Write([]byte{1, 2, 3})
		case "garbage":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "container_cpu_usage_seconds_total{namespace=\"openfaas-fn\" 12\n")
		case "huge":
			w.Header().Set("Content-Type", "text/plain")
			line := `container_memory_working_set_bytes{namespace="openfaas-fn",pod="f-5d7f8b9c4-x7k2p",container="f",id="/x"} 1` + "\n"
			for range 2000 {
				if _, err := io.WriteString(w, line); err != nil {
					return
				}
			}
		case "empty":
			w.Header().Set("Content-Type", "text/plain")
		case "slow":
			hang.Store(true)
			w.Header().Set("Content-Type", "text/plain")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	tests := []struct {
		name, query, err string
		lim              cadvisor.Limits
	}{
		{"forbidden", "forbidden", "status 403 (the service account needs get on the nodes/metrics resource)", cadvisor.Limits{}},
		{"protobuf", "protobuf", `content type "application/vnd.google.protobuf", want text/plain`, cadvisor.Limits{}},
		{"garbage", "garbage", "parse", cadvisor.Limits{}},
		{"huge", "huge", "more than 100 series", cadvisor.Limits{MaxSeries: 100}},
		{"slow", "slow", "context deadline exceeded", cadvisor.Limits{}},
		{"empty", "empty", "empty exposition", cadvisor.Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := cadvisor.NewKubelet(cadvisor.KubeletConfig{URL: url + "?case=" + tt.query, CAFile: caFile, TokenFile: tokenFile, Timeout: 300 * time.Millisecond, Limits: tt.lim})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			start := time.Now()
			_, err = k.Read(context.Background(), time.Now(), time.Second, "openfaas-fn")
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), url) {
				t.Errorf("error %v, want one naming the URL and containing %q", err, tt.err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	if !hang.Load() {
		t.Error("the slow case did not run")
	}
	// A cancelled context ends a scrape at once.
	k, _ := cadvisor.NewKubelet(cadvisor.KubeletConfig{URL: url + "?case=slow", CAFile: caFile, TokenFile: tokenFile, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := k.Read(ctx, time.Now(), time.Second, "openfaas-fn"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled: %v", err)
	}
}
