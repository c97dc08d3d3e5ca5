package openwhisk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/promtest"
)

// suiteCase is one case of the suite that both the real JavaScript client
// (testdata/jsclient/drive.js) and this package's Client and Invoker run
// against the embedded FaaS's OpenWhisk API.
type suiteCase struct {
	name   string
	op     string // namespaces, list, get, invoke, invokeAsync (see drive.js)
	action string
	params map[string]any
	badKey bool
	// want is the value on success: compared exactly, except for get and
	// invokeAsync where it lists the fields that must match.
	want any
	// wantStatus, if not 0, is the HTTP status of the expected failure.
	wantStatus int
}

// pageSize makes the listing take several pages.
const suitePageSize = 2

func suiteCases() []suiteCase {
	return []suiteCase{
		{name: "namespaces", op: "namespaces", want: []any{"guest"}},
		{name: "list, paged", op: "list", want: []any{"echo", "figlet", "shasum", "sleep", "webecho"}},
		{name: "get one", op: "get", action: "figlet", want: map[string]any{
			"name": "figlet", "namespace": "guest",
			"annotations": map[string]any{"dfaas.maxrate": "40", "dfaas.timeout_ms": "31000"},
			"limits":      map[string]any{"timeout": 31000.0},
		}},
		{name: "get missing", op: "get", action: "nope", wantStatus: 404},
		{name: "invoke echo, blocking, result", op: "invoke", action: "echo",
			params: map[string]any{"x": 1, "s": "hi", "nested": map[string]any{"ok": true}},
			want:   map[string]any{"x": 1.0, "s": "hi", "nested": map[string]any{"ok": true}}},
		{name: "invoke shasum on a raw body", op: "invoke", action: "shasum",
			params: map[string]any{"__ow_body": "abc"},
			want: map[string]any{
				"body":    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n",
				"headers": map[string]any{"Content-Type": "text/plain; charset=utf-8"},
			}},
		{name: "invoke, application error", op: "invoke", action: "sleep", params: map[string]any{"d": "forever"}, wantStatus: 502},
		{name: "invoke missing", op: "invoke", action: "nope", wantStatus: 404},
		{name: "invoke non-blocking, fetch the activation", op: "invokeAsync", action: "echo",
			params: map[string]any{"n": 7},
			want: map[string]any{"idMatches": true, "name": "echo", "result": map[string]any{"n": 7.0},
				"success": true, "status": "success"}},
		{name: "wrong key, list", op: "list", badKey: true, wantStatus: 401},
		{name: "wrong key, invoke", op: "invoke", action: "echo", badKey: true, wantStatus: 401},
	}
}

// suiteFunctions are the suite's functions, as dfaas faas --function
// flags; suiteServer serves the same ones in this process. figlet's
// time-out is its queue time-out plus 30 s.
var suiteFunctions = []string{"echo,capacity=1000", "figlet,capacity=40,queue_timeout=1s", "shasum,capacity=1000",
	"sleep,capacity=1000", "webecho,handler=echo,capacity=1000,web=true"}

// suiteServer serves the embedded FaaS's OpenWhisk API with the suite's
// functions and returns its URL and key.
func suiteServer(t *testing.T) (string, Key) {
	t.Helper()
	srv, err := embedded.New(embedded.Config{Functions: []embedded.Function{
		{Name: "echo", Capacity: 1000},
		{Name: "figlet", Capacity: 40, QueueTimeout: time.Second},
		{Name: "shasum", Capacity: 1000},
		{Name: "sleep", Capacity: 1000},
		{Name: "webecho", Handler: embedded.HandlerEcho, Capacity: 1000, Annotations: map[string]string{AnnotationWebExport: "true"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ow, err := embedded.NewOpenWhisk(srv, embedded.OpenWhiskConfig{Key: key.Auth()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(ow.Handler())
	t.Cleanup(func() {
		hs.Close()
		ow.Close()
		srv.Close()
	})
	return hs.URL, key
}

var wrongKey = Key{UUID: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502", Secret: "not-the-key"}

// TestIntegrationJSClient runs the suite against dfaas faas --api openwhisk
// (the binary, built from this module) with the real JavaScript client,
// openwhisk 3.21.9 from npm (installed by `npm ci` in testdata/jsclient),
// and with this package's Client and Invoker against the same server.
func TestIntegrationJSClient(t *testing.T) {
	node := promtest.Binary(t, "node", "nodejs")
	dir, err := filepath.Abs(filepath.Join("testdata", "jsclient"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openwhisk", "package.json")); err != nil {
		if os.Getenv("DFAAS_INTEGRATION") == "1" {
			t.Fatalf("the npm package openwhisk is not installed (DFAAS_INTEGRATION=1): run npm ci in %s", dir)
		}
		t.Skipf("the npm package openwhisk is not installed: run npm ci in %s (%v)", dir, err)
	}
	url, key := dfaasFaaS(t)
	t.Run("javascript", func(t *testing.T) { runJSSuite(t, node, dir, url, key) })
	t.Run("go", func(t *testing.T) { runGoSuite(t, url, key) })
}

// dfaasFaaS builds dfaas and runs dfaas faas --api openwhisk with the
// suite's functions and a new key file until the test ends; it returns
// the server's URL and key.
func dfaasFaaS(t *testing.T) (string, Key) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "dfaas")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/dfaas-go/dfaas/cmd/dfaas").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "auth")
	if err := WriteKeyFile(keyFile, key); err != nil {
		t.Fatal(err)
	}
	args := []string{"faas", "--api", "openwhisk", "--auth-file", keyFile, "--listen", "127.0.0.1:0", "--log-level", "error"}
	for _, f := range suiteFunctions {
		args = append(args, "--function", f)
	}
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// The first line says where it listens; a timer bounds the wait.
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		url, ok := strings.CutPrefix(l, "dfaas faas listening on ")
		if !ok {
			t.Fatalf("dfaas faas printed %q\n%s", l, stderr.String())
		}
		return url, key
	case <-time.After(30 * time.Second):
		t.Fatalf("dfaas faas did not listen in 30 s\n%s", stderr.String())
	}
	return "", Key{}
}

// runJSSuite runs the suite's cases with the JavaScript client of dir
// against the server at url.
func runJSSuite(t *testing.T, node, dir, url string, key Key) {
	cases := suiteCases()
	type jsCase struct {
		Name     string         `json:"name"`
		Op       string         `json:"op"`
		Action   string         `json:"action,omitempty"`
		Params   map[string]any `json:"params,omitempty"`
		Key      string         `json:"key,omitempty"`
		PageSize int            `json:"pageSize"`
	}
	in := struct {
		APIHost string   `json:"apihost"`
		Key     string   `json:"key"`
		Cases   []jsCase `json:"cases"`
	}{APIHost: url, Key: key.Auth()}
	for _, c := range cases {
		jc := jsCase{Name: c.name, Op: c.op, Action: c.action, Params: c.params, PageSize: suitePageSize}
		if c.badKey {
			jc.Key = wrongKey.Auth()
		}
		in.Cases = append(in.Cases, jc)
	}
	input, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "drive.js"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node drive.js: %v\n%s", err, stderr.String())
	}
	var results []struct {
		Name   string          `json:"name"`
		OK     bool            `json:"ok"`
		Status int             `json:"status"`
		Value  json.RawMessage `json:"value"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(cases) {
		t.Fatalf("drive.js answered %d results (%v): %s", len(results), err, out)
	}
	for i, c := range cases {
		r := results[i]
		t.Run(c.name, func(t *testing.T) {
			if c.wantStatus != 0 {
				if r.OK || r.Status != c.wantStatus {
					t.Fatalf("ok %v status %d (%s), want status %d", r.OK, r.Status, r.Error, c.wantStatus)
				}
				return
			}
			if !r.OK {
				t.Fatalf("failed: status %d: %s", r.Status, r.Error)
			}
			checkValue(t, c, r.Value)
		})
	}
}

// TestSuiteGoClient runs the suite's cases with this package's Client (list,
// get, namespaces) and Invoker (invoke) against the embedded FaaS's
// OpenWhisk API in this process (TestIntegrationJSClient runs them against
// dfaas faas). The Invoker only invokes blocking, so invokeAsync has no
// counterpart here.
func TestSuiteGoClient(t *testing.T) {
	url, key := suiteServer(t)
	runGoSuite(t, url, key)
}

// runGoSuite runs the suite's cases with Client and Invoker against the
// server at url.
func runGoSuite(t *testing.T, url string, key Key) {
	ctx := context.Background()
	for _, c := range suiteCases() {
		if c.op == "invokeAsync" {
			continue // the JavaScript client's case only (see above)
		}
		t.Run(c.name, func(t *testing.T) {
			k := key
			if c.badKey {
				k = wrongKey
			}
			cl := newClient(t, Config{URL: url, Key: k, PageSize: suitePageSize})
			var value any
			var err error
			switch c.op {
			case "namespaces":
				value, err = cl.Namespaces(ctx)
			case "list":
				value, err = listNames(ctx, cl)
			case "get":
				value, err = getSummary(ctx, cl, c.action)
			case "invoke":
				value, err = invokeThrough(t, cl, key, c.action, c.params)
			default:
				t.Fatalf("op %s: no counterpart in the Go client", c.op)
			}
			if c.wantStatus != 0 {
				var se *StatusError
				if !errors.As(err, &se) || se.Status != c.wantStatus {
					t.Fatalf("err %v, want status %d", err, c.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(value)
			checkValue(t, c, raw)
		})
	}
}

func listNames(ctx context.Context, cl *Client) ([]string, error) {
	fns, err := cl.Functions(ctx)
	names := []string{}
	for _, f := range fns {
		names = append(names, f.Name)
	}
	return names, err
}

func getSummary(ctx context.Context, cl *Client, name string) (map[string]any, error) {
	a, err := cl.Action(ctx, name)
	if err != nil {
		return nil, err
	}
	ann := map[string]any{}
	for _, kv := range a.Annotations {
		ann[kv.Key] = annotationText(kv.Value)
	}
	return map[string]any{"name": a.Name, "namespace": a.Namespace, "annotations": ann,
		"limits": map[string]any{"timeout": a.Limits.Timeout}}, nil
}

// invokeThrough invokes an action as a proxy would: POST /function/{name}
// with the parameters as a JSON body, through an Invoker over cl. A
// failure comes back as a *StatusError with the Invoker's status; a wrong
// key, which the Invoker turns into 502, is reported as OpenWhisk's 401
// after checking that nothing else leaked.
func invokeThrough(t *testing.T, cl *Client, key Key, name string, params map[string]any) (any, error) {
	t.Helper()
	if _, err := cl.Functions(context.Background()); err != nil && !errors.Is(err, ErrUnauthorized) {
		return nil, err
	}
	iv, err := NewInvoker(InvokerConfig{Client: cl})
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(params)
	rec := httptest.NewRecorder()
	iv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/function/"+name, bytes.NewReader(body)))
	if bytes.Contains(rec.Body.Bytes(), []byte(key.Secret)) {
		t.Errorf("the answer holds the key: %s", rec.Body.String())
	}
	switch rec.Code {
	case http.StatusOK:
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("answer %q: %w", rec.Body.String(), err)
		}
		return v, nil
	case http.StatusBadGateway:
		if cl.key != key {
			return nil, &StatusError{Status: http.StatusUnauthorized, Message: rec.Body.String()}
		}
	}
	return nil, &StatusError{Status: rec.Code, Message: rec.Body.String()}
}

// checkValue compares a case's value with its want: exactly, or for get and
// invokeAsync the fields want lists.
func checkValue(t *testing.T, c suiteCase, raw json.RawMessage) {
	t.Helper()
	var got any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("value %s: %v", raw, err)
	}
	want := normalize(c.want)
	if c.op == "get" || c.op == "invokeAsync" {
		if !subset(want, got) {
			t.Errorf("value %s lacks %v", raw, want)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("value %s, want %v", raw, want)
	}
}

// normalize turns v into what JSON decoding gives.
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// subset reports whether every field of want (recursively for objects) is
// in got with the same value.
func subset(want, got any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, wv := range wm {
		if !subset(wv, gm[k]) {
			return false
		}
	}
	return true
}
