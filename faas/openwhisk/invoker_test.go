package openwhisk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
)

// seen is what the fake controller received.
type seen struct {
	method, uri, auth, body string
	header                  http.Header
}

// upstream is a fake OpenWhisk controller for the Invoker: it lists the
// actions of testdata/actions.json and answers invocations with answer.
type upstream struct {
	mu     sync.Mutex
	got    []seen
	answer func(w http.ResponseWriter, r *http.Request)
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.got = append(u.got, seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), string(body), r.Header.Clone()})
	answer := u.answer
	u.mu.Unlock()
	answer(w, r)
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) == 0 {
		t.Fatal("nothing reached the controller")
	}
	return u.got[len(u.got)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

// newInvoker returns an Invoker over a client of the fake controller that
// has listed testdata/actions.json (so thumbnail and resize.v2 are web
// actions), and the fake.
func newInvoker(t *testing.T, cfg InvokerConfig) (*Invoker, *upstream) {
	t.Helper()
	ctl := loadController(t)
	up := &upstream{answer: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}}
	// Invocations go to up: through the controller's key check for the
	// API, directly for web actions (which carry no key).
	ctl.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/actions/") {
			return false
		}
		up.ServeHTTP(w, r)
		return true
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/web/") {
			up.ServeHTTP(w, r)
			return
		}
		ctl.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	c := newClient(t, Config{URL: s.URL, Key: testKey})
	if _, err := c.Functions(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.Client = c
	iv, err := NewInvoker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return iv, up
}

func serve(iv http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	iv.ServeHTTP(w, r)
	return w
}

// TestInvokerAPI: a non-web action is invoked blocking, for its result,
// with the operator's key and not the user's, and with the query and a
// JSON body as parameters.
func TestInvokerAPI(t *testing.T) {
	iv, up := newInvoker(t, InvokerConfig{})
	w := serve(iv, "POST", "/function/figlet?name=Jane&n=1", `{"n":2,"text":"hi"}`,
		"Authorization", "Basic dXNlcjpwYXNz", "Cookie", "session=1", "DFaaS-Node-ID", "b", "X-Custom", "v")
	if w.Code != 200 || w.Body.String() != `{"ok":true}` || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	got := up.last(t)
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey.Auth()))
	if got.method != "POST" || got.uri != "/api/v1/namespaces/guest/actions/figlet?blocking=true&result=true" || got.auth != wantAuth {
		t.Errorf("request %s %s auth %q", got.method, got.uri, got.auth)
	}
	var params map[string]any
	if err := json.Unmarshal([]byte(got.body), &params); err != nil || params["name"] != "Jane" || params["n"] != 2.0 || params["text"] != "hi" {
		t.Errorf("parameters %s", got.body)
	}
	for _, h := range []string{"Cookie", "Dfaas-Node-Id", "X-Custom"} {
		if got.header.Get(h) != "" {
			t.Errorf("the user's %s reached the API", h)
		}
	}
	// A text body becomes __ow_body; the route's namespace is the one
	// listed, or the configured one for an action not listed.
	serve(iv, "POST", "/function/unlisted", "plain text")
	if got := up.last(t); got.uri != "/api/v1/namespaces/_/actions/unlisted?blocking=true&result=true" || got.body != `{"__ow_body":"plain text"}` {
		t.Errorf("unlisted: %s %s", got.uri, got.body)
	}
	if w := serve(iv, "POST", "/function/figlet", "\xff\xfe"); w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("binary body: %d", w.Code)
	}
}

// TestInvokerWeb: a web action is called at its web URL with the user's
// method, path, query and headers but without credentials, and its answer
// is relayed without the headers that could reveal credentials.
func TestInvokerWeb(t *testing.T) {
	iv, up := newInvoker(t, InvokerConfig{})
	up.answer = func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "image/png")
		h.Set("Set-Cookie", "a=1")
		h.Set("WWW-Authenticate", `Basic realm="whisk"`)
		h.Set("Authorization", "Basic eA==")
		h.Set(HeaderActivationID, "0123456789abcdef0123456789abcdef")
		h.Set("X-Leak", "key "+testKey.Secret)
		h.Set("X-Action", "kept")
		w.WriteHeader(201)
		w.Write([]byte("PNG"))
	}
	w := serve(iv, "PUT", "/function/resize.v2/a/b?w=10", "raw", "Authorization", "Basic dXNlcjpwYXNz",
		"Proxy-Authorization", "x", "DFaaS-Node-Token", "t", "X-Custom", "v")
	got := up.last(t)
	if got.method != "PUT" || got.uri != "/api/v1/web/guest/default/resize.v2.http/a/b?w=10" || got.auth != "" || got.body != "raw" {
		t.Errorf("request %s %s auth %q body %q", got.method, got.uri, got.auth, got.body)
	}
	if got.header.Get("Proxy-Authorization") != "" || got.header.Get("Dfaas-Node-Token") != "" || got.header.Get("X-Custom") != "v" {
		t.Errorf("request headers %v", got.header)
	}
	if w.Code != 201 || w.Body.String() != "PNG" || w.Header().Get("X-Action") != "kept" || w.Header().Get("Set-Cookie") != "a=1" {
		t.Errorf("answer %d %v %s", w.Code, w.Header(), w.Body)
	}
	for _, h := range []string{"WWW-Authenticate", "Authorization", HeaderActivationID, "X-Leak"} {
		if w.Header().Get(h) != "" {
			t.Errorf("answer header %s relayed", h)
		}
	}
	if w := serve(iv, "TRACE", "/function/resize.v2", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("TRACE: %d", w.Code)
	}
}

// TestInvokerStatuses: how OpenWhisk's answers map to the user's.
func TestInvokerStatuses(t *testing.T) {
	for _, tc := range []struct {
		name, fn   string
		status     int
		body       string
		want       int
		wantBody   string // a part of the answer
		notWanted  string // never in the answer
		retryAfter bool
	}{
		{"result", "figlet", 200, `{"x":1}`, 200, `{"x":1}`, "", false},
		{"blocking turned asynchronous", "figlet", 202, `{"activationId":"0123456789abcdef0123456789abcdef"}`, 504, "did not answer in time", "0123456789abcdef", false},
		{"application error", "figlet", 502, `{"error":"bad input"}`, 502, "bad input", "", false},
		{"whisk error", "figlet", 500, `{"error":"boom","code":"t"}`, 500, "boom", "", false},
		{"key refused", "figlet", 401, `{"error":"The supplied authentication is invalid","code":"t"}`, 502, "refused this node's credentials", "supplied authentication", false},
		{"key forbidden", "figlet", 403, `{"error":"not authorized","code":"t"}`, 502, "refused", "not authorized", false},
		{"missing", "figlet", 404, `{"error":"The requested resource does not exist.","code":"t"}`, 404, "not deployed", "", false},
		{"throttled", "figlet", 429, `{"error":"Too many concurrent requests in flight (count: 30, allowed: 30).","code":"t"}`, 429, "Too many concurrent", "", true},
		{"result holding the secret", "figlet", 200, `{"env":"` + testKey.Secret + `"}`, 502, "withheld", testKey.Secret, false},
		{"web answer holding the secret", "thumbnail", 200, "key=" + testKey.Secret, 502, "withheld", testKey.Secret, false},
		{"web wait ran out", "thumbnail", 202, `{"error":"Response not yet ready.","code":"t"}`, 504, "did not answer in time", "", false},
		{"web action's own 202", "thumbnail", 202, `accepted`, 202, "accepted", "", false},
		{"web action's own 401", "thumbnail", 401, `login first`, 401, "login first", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iv, up := newInvoker(t, InvokerConfig{})
			up.answer = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(HeaderActivationID, "0123456789abcdef0123456789abcdef")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}
			w := serve(iv, "POST", "/function/"+tc.fn, "{}")
			if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Errorf("%d %q, want %d with %q", w.Code, w.Body, tc.want, tc.wantBody)
			}
			if tc.notWanted != "" && strings.Contains(w.Body.String(), tc.notWanted) {
				t.Errorf("answer %q holds %q", w.Body, tc.notWanted)
			}
			if (w.Header().Get("Retry-After") != "") != tc.retryAfter {
				t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
			}
		})
	}
}

// TestInvokerOnlyFunctions: nothing but /function/{valid name} reaches
// OpenWhisk; OpenWhisk's own paths are not served.
func TestInvokerOnlyFunctions(t *testing.T) {
	iv, up := newInvoker(t, InvokerConfig{})
	for _, tc := range []struct {
		target string
		want   int
	}{
		{"/api/v1/namespaces/_/actions", 404},
		{"/api/v1/namespaces/_/actions/figlet?blocking=true", 404},
		{"/api/v1/web/guest/default/thumbnail", 404},
		{"/system/functions", 404},
		{"/function/", 404},
		{"/function/thumbnail/../../../api/v1/namespaces", 404},
		{"/function/thumbnail/./x", 404},
		{"/function/thumbnail//x", 404},
		{"/function/bad%20name", 400},
		{"/function/..", 400},
		{"/functionfiglet", 404},
	} {
		if w := serve(iv, "GET", tc.target, ""); w.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.target, w.Code, w.Body, tc.want)
		}
	}
	if n := up.count(); n != 0 {
		t.Errorf("%d requests reached OpenWhisk: %+v", n, up.got)
	}
}

func TestInvokerLimits(t *testing.T) {
	iv, up := newInvoker(t, InvokerConfig{MaxBodySize: 10, MaxResponseSize: 100, Timeout: 100 * time.Millisecond})
	if w := serve(iv, "POST", "/function/figlet", strings.Repeat("x", 11)); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", w.Code)
	}
	up.answer = func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("x"), 101)) }
	if w := serve(iv, "POST", "/function/figlet", ""); w.Code != http.StatusBadGateway {
		t.Errorf("large answer: %d", w.Code)
	}
	up.answer = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}
	start := time.Now()
	if w := serve(iv, "POST", "/function/figlet", ""); w.Code != http.StatusGatewayTimeout || time.Since(start) > 4*time.Second {
		t.Errorf("slow action: %d after %v", w.Code, time.Since(start))
	}
	for _, cfg := range []InvokerConfig{{}, {Client: iv.c, Timeout: -1}, {Client: iv.c, MaxBodySize: -1}, {Client: iv.c, MaxResponseSize: -1}} {
		if _, err := NewInvoker(cfg); err == nil {
			t.Errorf("NewInvoker(%+v) succeeded", cfg)
		}
	}
}

// TestInvokerEmbedded runs the Invoker against the embedded FaaS's
// OpenWhisk API: results, web actions, the blocking wait running out (its
// real 202) and the capacity model's refusals.
func TestInvokerEmbedded(t *testing.T) {
	srv, err := embedded.New(embedded.Config{Functions: []embedded.Function{
		{Name: "echo"},
		{Name: "sleep"},
		{Name: "web", Handler: embedded.HandlerEcho, Annotations: map[string]string{AnnotationWebExport: "true"}},
		{Name: "slow", Handler: embedded.HandlerEcho, Capacity: 20, Concurrency: 1, Queue: 1, QueueTimeout: 5 * time.Second, Deterministic: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ow, err := embedded.NewOpenWhisk(srv, embedded.OpenWhiskConfig{Key: testKey.Auth(), BlockingWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(ow.Handler())
	defer func() { hs.Close(); ow.Close(); srv.Close() }()
	c := newClient(t, Config{URL: hs.URL, Key: testKey})
	if _, err := c.Functions(context.Background()); err != nil {
		t.Fatal(err)
	}
	iv, err := NewInvoker(InvokerConfig{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(iv, "POST", "/function/echo?q=1", `{"a":[1,2]}`); w.Code != 200 || w.Body.String() != "{\"a\":[1,2],\"q\":\"1\"}\n" {
		t.Errorf("echo: %d %q", w.Code, w.Body)
	}
	if w := serve(iv, "POST", "/function/web", "hello", "Content-Type", "text/plain"); w.Code != 200 || w.Body.String() != "hello" {
		t.Errorf("web echo: %d %q", w.Code, w.Body)
	}
	if w := serve(iv, "POST", "/function/sleep?d=3s", ""); w.Code != http.StatusGatewayTimeout {
		t.Errorf("past the blocking wait: %d %s", w.Code, w.Body)
	}
	// One runs, one waits, the others are refused (8 at once against a
	// 50 ms service time).
	codes := make(chan int, 8)
	for range 8 {
		go func() { codes <- serve(iv, "POST", "/function/slow", "{}").Code }()
	}
	n := map[int]int{}
	for range 8 {
		n[<-codes]++
	}
	if n[429] == 0 || n[200] == 0 || n[200]+n[429] != 8 {
		t.Errorf("codes %v, want 200s and 429s", n)
	}
	// With a wrong key, the API refuses; the Invoker says so without
	// OpenWhisk's words.
	bad := newClient(t, Config{URL: hs.URL, Key: Key{UUID: testKey.UUID, Secret: "wrong"}})
	ivBad, _ := NewInvoker(InvokerConfig{Client: bad})
	if w := serve(ivBad, "POST", "/function/echo", "{}"); w.Code != http.StatusBadGateway || strings.Contains(w.Body.String(), "authentication") {
		t.Errorf("wrong key: %d %s", w.Code, w.Body)
	}
}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		q    string
		body string
		want string
		err  bool
	}{
		{"", "", `{}`, false},
		{"a=1&a=2&b=x", "", `{"a":"1","b":"x"}`, false},
		{"a=1", `{"a":2,"c":{"d":null}}`, `{"a":2,"c":{"d":null}}`, false},
		{"", `  {"x":true}  `, `{"x":true}`, false},
		{"", `[1,2]`, `{"__ow_body":"[1,2]"}`, false},
		{"", `{"x":`, `{"__ow_body":"{\"x\":"}`, false},
		{"a=1", "héllo", `{"__ow_body":"héllo","a":"1"}`, false},
		{"", "\xff", ``, true},
	} {
		q, _ := url.ParseQuery(tc.q)
		got, err := Params(q, []byte(tc.body))
		if (err != nil) != tc.err || (!tc.err && string(got) != tc.want) {
			t.Errorf("Params(%q, %q) = %s, %v; want %s", tc.q, tc.body, got, err, tc.want)
		}
	}
}

// FuzzInvoker sends arbitrary paths, methods and bodies through the Invoker
// and checks that whatever reaches OpenWhisk is an invocation of a valid
// function name (never another API path) and that the key goes to the
// authenticated API only.
func FuzzInvoker(f *testing.F) {
	f.Add("GET", "/function/figlet", []byte("x"))
	f.Add("POST", "/function/thumbnail/a/b?c=d", []byte(`{"a":1}`))
	f.Add("GET", "/function/thumbnail/..%2f..%2fapi", []byte(nil))
	f.Add("DELETE", "/api/v1/namespaces/_/actions/figlet", []byte(nil))
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		if !strings.HasPrefix(target, "/") || method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			return
		}
		req, err := http.NewRequest(method, "http://node"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		var mu sync.Mutex
		var reached []*http.Request
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			reached = append(reached, r)
			mu.Unlock()
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}"))}, nil
		})
		c, err := New(Config{URL: "http://openwhisk.test", Key: testKey, Transport: rt})
		if err != nil {
			t.Fatal(err)
		}
		routes := map[string]route{"thumbnail": {ns: "guest", web: true}}
		c.routes.Store(&routes)
		iv, _ := NewInvoker(InvokerConfig{Client: c})
		w := httptest.NewRecorder()
		iv.ServeHTTP(w, req)
		for _, r := range reached {
			p := r.URL.EscapedPath()
			switch {
			case strings.HasPrefix(p, "/api/v1/namespaces/guest/actions/") || strings.HasPrefix(p, "/api/v1/namespaces/_/actions/"):
				name := p[strings.LastIndex(p, "/")+1:]
				if strings.Count(p, "/") != 6 || name == "" || r.URL.RawQuery != "blocking=true&result=true" || r.Header.Get("Authorization") == "" {
					t.Fatalf("%s %s reached %s?%s", method, target, p, r.URL.RawQuery)
				}
			case strings.HasPrefix(p, "/api/v1/web/guest/default/thumbnail.http"):
				if r.Header.Get("Authorization") != "" {
					t.Fatalf("%s %s: the web action got credentials", method, target)
				}
				for _, seg := range strings.Split(r.URL.Path, "/") {
					if seg == ".." || seg == "." {
						t.Fatalf("%s %s reached %s", method, target, r.URL.Path)
					}
				}
			default:
				t.Fatalf("%s %s reached %s", method, target, p)
			}
		}
		if bytes.Contains(w.Body.Bytes(), []byte(testKey.Secret)) {
			t.Fatalf("%s %s: the answer holds the key", method, target)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
