package embedded

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas/openfaas"
)

// serveLimited serves s with its limits (Serve) on loopback until the test
// ends and returns its base URL.
func serveLimited(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// TestGeneratedCredentials: the management API of a FaaS started with
// GenerateCredentials refuses requests without them (401) and serves an
// OpenFaaS client that has them; invocation stays open.
func TestGeneratedCredentials(t *testing.T) {
	s, err := New(Config{Functions: []Function{{Name: "echo"}}, GenerateCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	url := serveLimited(t, s)
	user, pw := s.Credentials()
	if user != "admin" || len(pw) != 64 {
		t.Fatalf("credentials %q/%d characters", user, len(pw))
	}
	other, _ := New(Config{GenerateCredentials: true})
	if _, pw2 := other.Credentials(); pw2 == pw {
		t.Fatal("two servers generated the same password")
	}
	anon := faasCLI{t: t, url: url}
	if code, _ := anon.do(http.MethodPost, "/system/scale-function/echo", map[string]any{"serviceName": "echo", "replicas": 0}); code != http.StatusUnauthorized {
		t.Fatalf("scale without credentials: %d, want 401", code)
	}
	if code, _ := anon.do(http.MethodGet, "/system/functions", nil); code != http.StatusUnauthorized {
		t.Fatalf("list without credentials: %d, want 401", code)
	}
	if code, _ := call(t, url+"/function/echo", "hi"); code != 200 {
		t.Fatalf("invoke: %d", code)
	}
	c, err := openfaas.New(openfaas.Config{URL: url, Username: user, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	fns, err := c.Functions(context.Background())
	if err != nil || len(fns) != 1 || fns[0].Replicas != 1 {
		t.Fatalf("OpenFaaS client with the credentials: %+v, %v", fns, err)
	}
	given, _ := New(Config{GenerateCredentials: true, Username: "me", Password: "mine"})
	if u, p := given.Credentials(); u != "me" || p != "mine" {
		t.Fatalf("given credentials replaced: %q %q", u, p)
	}
}

// TestServeLimits attacks the FaaS listener: a slow body is cut with 408
// and its connection closed, an oversized body gets 413, bodies above the
// in-flight budget 503, and the refusals are in /metrics.
func TestServeLimits(t *testing.T) {
	s, err := New(Config{Functions: []Function{{Name: "echo"}, {Name: "sleep"}}, Limits: Limits{
		BodyTimeout: 300 * time.Millisecond, MaxBodyBytes: 1000, MaxInflightBodyBytes: 1000,
	}})
	if err != nil {
		t.Fatal(err)
	}
	url := serveLimited(t, s)
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body: %v %v, want 408", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("connection kept open after a cut body")
	}
	if code, _ := call(t, url+"/function/echo", strings.Repeat("x", 1001)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d, want 413", code)
	}
	held := make(chan int, 1)
	go func() {
		code, _ := call(t, url+"/function/sleep?d=2s", strings.Repeat("x", 600))
		held <- code
	}()
	waitFor(t, func() bool { return s.lim.Stats().InflightBodyBytes == 600 })
	if code, _ := call(t, url+"/function/echo", strings.Repeat("x", 600)); code != http.StatusServiceUnavailable {
		t.Fatalf("above the in-flight budget: %d, want 503", code)
	}
	resp, err = http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(b)
	for _, want := range []string{
		`dfaas_listener_refused_total{listener="faas",reason="body_timeout"} 1`,
		`dfaas_listener_refused_total{listener="faas",reason="body_too_large"} 1`,
		`dfaas_listener_refused_total{listener="faas",reason="body_inflight"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, metrics)
		}
	}
	if code := <-held; code != 200 {
		t.Fatalf("held request: %d", code)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
	}
}
