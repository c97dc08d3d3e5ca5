package openwhisk

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/internal/syncbuf"
)

// haproxyOpenWhisk is the HAProxy configuration docs/openwhisk.md
// describes for a node whose proxy rewrites /function/{name} to OpenWhisk
// itself, without the Invoker (keep the two in step). The key comes from
// the environment variable DFAAS_OPENWHISK_AUTH (base64 of UUID:KEY), not
// from the file.
const haproxyOpenWhisk = `global
    log stderr format raw local0 warning
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 30s
    timeout server 70s

frontend public
    bind {{.Listen}}
    # Only /function/{name}[/...] with a DFaaS function name, no dot segments.
    http-request deny deny_status 404 unless { path_reg ^/function/[A-Za-z0-9][A-Za-z0-9._-]*(/|$) }
    http-request deny deny_status 400 if { path_reg /\.\.?(/|$) } || { path_sub -i %2e %2f }
    # The user's credentials never reach OpenWhisk.
    http-request del-header Authorization
    http-request del-header Proxy-Authorization
    use_backend openwhisk_web if { path_reg ^/function/({{.Web}})(/|$) }
    default_backend openwhisk_api

# Actions that are not web actions: the authenticated API, blocking, result only.
backend openwhisk_api
    http-request set-path "%[path,regsub('^/function/([^/]+).*\$','/api/v1/namespaces/{{.Namespace}}/actions/\1')]"
    http-request set-query blocking=true&result=true
    http-request set-header Content-Type application/json
    http-request set-header Authorization "Basic ${DFAAS_OPENWHISK_AUTH}"
    http-response set-status 504 if { status 202 }
    http-response del-header WWW-Authenticate
    http-response del-header X-Openwhisk-Activation-Id
    server openwhisk {{.OpenWhisk}}

# Web actions: their web URL, no credentials.
backend openwhisk_web
    http-request set-path "%[path,regsub('^/function/([^/]+)(.*)\$','/api/v1/web/{{.Namespace}}/default/\1.http\2')]"
    http-response set-status 504 if { status 202 }
    http-response del-header WWW-Authenticate
    http-response del-header X-Openwhisk-Activation-Id
    server openwhisk {{.OpenWhisk}}
`

// TestIntegrationHAProxyRewrite checks the HAProxy design of
// docs/openwhisk.md with a real HAProxy in front of the embedded FaaS's
// OpenWhisk API: functions are invoked with the operator's key (never the
// user's), web actions without one, a blocking call turned asynchronous
// answers 504, and no OpenWhisk path or credential gets through.
func TestIntegrationHAProxyRewrite(t *testing.T) {
	bin := promtest.Binary(t, "haproxy")
	srv, err := embedded.New(embedded.Config{Functions: []embedded.Function{
		{Name: "echo"}, {Name: "sleep"},
		{Name: "page", Handler: embedded.HandlerEcho, Annotations: map[string]string{AnnotationWebExport: "true"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ow, err := embedded.NewOpenWhisk(srv, embedded.OpenWhiskConfig{Key: testKey.Auth(), BlockingWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Record what reaches OpenWhisk's web actions: never credentials.
	var mu sync.Mutex
	var webAuth []string
	owh := ow.Handler()
	owSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/web/") {
			mu.Lock()
			webAuth = append(webAuth, r.Header.Get("Authorization")+r.Header.Get("Proxy-Authorization"))
			mu.Unlock()
		}
		owh.ServeHTTP(w, r)
	}))
	defer func() { owSrv.Close(); ow.Close(); srv.Close() }()

	listen := startHAProxy(t, bin, map[string]string{
		"Namespace": "guest", "Web": "page", "OpenWhisk": strings.TrimPrefix(owSrv.URL, "http://"),
	})
	for _, tc := range []struct {
		method, path, body, auth string
		want                     int
		wantBody                 string
	}{
		{"POST", "/function/echo", `{"a":1}`, "", 200, `{"a":1}`},
		{"POST", "/function/echo", `{"a":2}`, "Basic " + base64.StdEncoding.EncodeToString([]byte("someone:else")), 200, `{"a":2}`},
		{"POST", "/function/page/x?y=1", "hello", "", 200, "hello"},
		{"POST", "/function/page", "again", "Basic " + base64.StdEncoding.EncodeToString([]byte("someone:else")), 200, "again"},
		{"POST", "/function/sleep", `{"d":"2s"}`, "", 504, ""},
		{"POST", "/function/nope", `{}`, "", 404, ""},
		{"GET", "/api/v1/namespaces/_/actions", "", "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey.Auth())), 404, ""},
		{"GET", "/api/v1/namespaces", "", "", 404, ""},
		{"GET", "/api/v1/web/guest/default/page.http", "", "", 404, ""},
		{"GET", "/function/page/../../../namespaces/_/actions", "", "", 400, ""},
		{"GET", "/function/page/%2e%2e/%2e%2e/namespaces", "", "", 400, ""},
		{"GET", "/metrics", "", "", 404, ""},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+listen+tc.path, strings.NewReader(tc.body))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.wantBody != "" && strings.TrimSpace(string(body)) != tc.wantBody) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.want, tc.wantBody)
		}
		if strings.Contains(string(body), testKey.Secret) || resp.Header.Get("WWW-Authenticate") != "" || resp.Header.Get(HeaderActivationID) != "" {
			t.Errorf("%s %s: credentials or OpenWhisk headers leaked: %v %q", tc.method, tc.path, resp.Header, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(webAuth) != 2 || webAuth[0] != "" || webAuth[1] != "" {
		t.Errorf("web actions were called %d times with credentials %q, want 2 without", len(webAuth), webAuth)
	}
}

// startHAProxy runs bin with the configuration haproxyOpenWhisk renders
// for vars until the test ends, and returns its address once it listens.
func startHAProxy(t *testing.T, bin string, vars map[string]string) string {
	t.Helper()
	listen := promtest.FreePort(t)
	vars["Listen"] = listen
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	f, err := os.Create(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	err = template.Must(template.New("").Parse(haproxyOpenWhisk)).Execute(f, vars)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", cfgPath)
	cmd.Env = append(os.Environ(), "DFAAS_OPENWHISK_AUTH="+base64.StdEncoding.EncodeToString([]byte(testKey.Auth())))
	logs := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cancel(); <-exited })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return listen
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("haproxy exited: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not listen on %s: %v\n%s", listen, err, logs.String())
		}
	}
}
