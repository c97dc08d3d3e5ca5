package cli

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas/openwhisk"
	"github.com/dfaas-go/dfaas/internal/syncbuf"
)

// startFaaS runs dfaas faas with args until the test ends and returns its
// URL and output.
func startFaaS(t *testing.T, args ...string) (string, *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"faas", "--listen", "127.0.0.1:0", "--log-level", "error"}, args...), stdio{in: strings.NewReader(""), out: out, err: &syncbuf.Buffer{}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dfaas faas: %v", err)
		}
	})
	re := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], out
		}
		select {
		case err := <-done:
			t.Fatalf("dfaas faas ended: %v\n%s", err, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("dfaas faas did not listen:\n%s", out)
	return "", nil
}

// TestFaaSOpenWhiskAPI: dfaas faas --api openwhisk --auth-file serves its
// functions as OpenWhisk actions with that key; faas/openwhisk lists and
// invokes them, a wrong key gets 401.
func TestFaaSOpenWhiskAPI(t *testing.T) {
	key, _ := openwhisk.GenerateKey()
	file := filepath.Join(t.TempDir(), "auth")
	if err := openwhisk.WriteKeyFile(file, key); err != nil {
		t.Fatal(err)
	}
	url, _ := startFaaS(t, "--api", "openwhisk", "--auth-file", file, "--function", "echo,capacity=500", "--function", "page,handler=echo,web=true")
	ctx := context.Background()
	c, err := openwhisk.New(openwhisk.Config{URL: url, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fns, err := c.Functions(ctx)
	if err != nil || len(fns) != 2 || fns[0].Name != "echo" || fns[1].Name != "page" || fns[1].Annotations["web-export"] != "true" {
		t.Fatalf("functions %+v, %v", fns, err)
	}
	if cp, _ := fns[0].Capacity(); cp != 500 {
		t.Errorf("echo capacity %v, want 500", cp)
	}
	iv, _ := openwhisk.NewInvoker(openwhisk.InvokerConfig{Client: c})
	for _, tc := range []struct{ path, body, want string }{
		{"/function/echo", `{"a":1}`, "{\"a\":1}\n"},
		{"/function/page", "plain", "plain"},
	} {
		w := httptest.NewRecorder()
		iv.ServeHTTP(w, httptest.NewRequest("POST", tc.path, strings.NewReader(tc.body)))
		if w.Code != 200 || w.Body.String() != tc.want {
			t.Errorf("%s: %d %q, want %q", tc.path, w.Code, w.Body, tc.want)
		}
	}
	bad, _ := openwhisk.New(openwhisk.Config{URL: url, Key: openwhisk.Key{UUID: key.UUID, Secret: "wrong"}})
	var se *openwhisk.StatusError
	if err := bad.Health(ctx); !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Errorf("wrong key: %v, want 401", err)
	}
	// The OpenFaaS API is not served next to it.
	resp, err := http.Get(url + "/function/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/function/echo on the OpenWhisk API: %d, want 404", resp.StatusCode)
	}
}

// TestFaaSOpenWhiskGeneratedKey: without --auth-file a fresh key is written
// once to a new file, named in the output, readable by its owner only.
func TestFaaSOpenWhiskGeneratedKey(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	url, out := startFaaS(t, "--api", "openwhisk", "--function", "echo")
	m := regexp.MustCompile(`OpenWhisk API key written to (\S+)`).FindStringSubmatch(out.String())
	if m == nil || filepath.Dir(m[1]) != dir {
		t.Fatalf("no key file in %s named in the output:\n%s", dir, out)
	}
	key, err := openwhisk.ReadKeyFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), key.Secret) {
		t.Error("the output shows the key's secret")
	}
	c, _ := openwhisk.New(openwhisk.Config{URL: url, Key: key})
	if err := c.Health(context.Background()); err != nil {
		t.Errorf("the generated key: %v", err)
	}
}

func TestFaaSOpenWhiskBadFlags(t *testing.T) {
	open := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(open, []byte("u:k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--api", "openwhisk", "--auth-file", open}, "chmod 600 " + open},
		{[]string{"--api", "openwhisk", "--auth-file", filepath.Join(t.TempDir(), "none")}, "--auth-file"},
		{[]string{"--api", "openfaas", "--auth-file", open}, "--auth-file goes with --api openwhisk"},
		{[]string{"--api", "lambda"}, "--api"},
		{[]string{"--api", "openwhisk", "--basic-auth-user", "admin"}, "--basic-auth-user"},
		{[]string{"--function", "echo,web=maybe"}, "web"},
	} {
		_, _, err := runMain(t, append([]string{"faas", "--listen", "127.0.0.1:0"}, tc.args...)...)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
}
