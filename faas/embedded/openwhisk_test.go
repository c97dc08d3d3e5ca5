package embedded

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "8d9f2c1e-1111-4a2b-9c3d-000000000001:s3cr3tKeyForTests"

// owServer serves the OpenWhisk API of a Server with fns.
func owServer(t *testing.T, fns []Function, cfg OpenWhiskConfig) (*OpenWhisk, string) {
	t.Helper()
	s, err := New(Config{Functions: fns})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Key == "" {
		cfg.Key = testKey
	}
	ow, err := NewOpenWhisk(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(ow.Handler())
	t.Cleanup(func() {
		hs.Close()
		ow.Close()
		s.Close()
	})
	return ow, hs.URL
}

// owCall sends a request with the given key ("" for none) and returns the
// status, headers and body.
func owCall(t *testing.T, method, url, key string, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		u, p, _ := strings.Cut(key, ":")
		req.SetBasicAuth(u, p)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

func TestNewOpenWhiskErrors(t *testing.T) {
	s, _ := New(Config{})
	for _, cfg := range []OpenWhiskConfig{
		{},
		{Key: "nocolon"},
		{Key: ":secret"},
		{Key: "uuid:"},
		{Key: "uu id:secret"},
		{Key: testKey, Namespace: "_"},
		{Key: testKey, Namespace: "a/b"},
		{Key: testKey, ConcurrentInvocations: -1},
		{Key: testKey, InvocationsPerMinute: -1},
		{Key: testKey, BlockingWait: -1},
		{Key: testKey, MaxActivations: -1},
	} {
		if _, err := NewOpenWhisk(s, cfg); err == nil {
			t.Errorf("NewOpenWhisk(%+v) succeeded", cfg)
		}
	}
	if _, err := NewOpenWhisk(nil, OpenWhiskConfig{Key: testKey}); err == nil {
		t.Error("nil server accepted")
	}
}

func TestOpenWhiskAuth(t *testing.T) {
	_, url := owServer(t, nil, OpenWhiskConfig{})
	for _, tc := range []struct {
		name, key string
		want      int
	}{
		{"none", "", 401},
		{"wrong secret", "8d9f2c1e-1111-4a2b-9c3d-000000000001:wrong", 401},
		{"wrong uuid", "x:s3cr3tKeyForTests", 401},
		{"right", testKey, 200},
	} {
		for _, path := range []string{"/api/v1/namespaces", "/api/v1/namespaces/_/actions", "/api/v1/namespaces/guest/actions/echo"} {
			code, h, body := owCall(t, "GET", url+path, tc.key, "")
			if code != tc.want {
				t.Errorf("%s %s: %d %s, want %d", tc.name, path, code, body, tc.want)
			}
			if code == 401 && (h.Get("WWW-Authenticate") == "" || !strings.Contains(body, "authentication is invalid")) {
				t.Errorf("%s %s: 401 without challenge or message: %v %s", tc.name, path, h, body)
			}
		}
	}
	if code, _, _ := owCall(t, "POST", url+"/api/v1/namespaces/_/actions/echo", "", "{}"); code != 401 {
		t.Errorf("anonymous invoke: %d", code)
	}
	if code, _, _ := owCall(t, "GET", url+"/api/v1/namespaces/other/actions", testKey, ""); code != 403 {
		t.Errorf("other namespace: %d, want 403", code)
	}
	if code, _, body := owCall(t, "PUT", url+"/api/v1/namespaces/_/actions/new", testKey, "{}"); code != 501 {
		t.Errorf("create action: %d %s, want 501", code, body)
	}
	if code, _, body := owCall(t, "GET", url+"/api/v1/namespaces", testKey, ""); code != 200 || strings.TrimSpace(body) != `["guest"]` {
		t.Errorf("namespaces: %d %s", code, body)
	}
}

func TestOpenWhiskListPaging(t *testing.T) {
	var fns []Function
	for i := range 45 {
		fns = append(fns, Function{Name: fmt.Sprintf("f%02d", i), Handler: HandlerEcho})
	}
	_, url := owServer(t, fns, OpenWhiskConfig{})
	names := func(q string) (int, []string) {
		code, _, body := owCall(t, "GET", url+"/api/v1/namespaces/_/actions"+q, testKey, "")
		if code != 200 {
			return code, nil
		}
		var out []string
		for _, a := range decode[[]owAction](t, body) {
			out = append(out, a.Name)
		}
		return code, out
	}
	for _, tc := range []struct {
		q           string
		code, n     int
		first, last string
	}{
		{"", 200, 30, "f00", "f29"},
		{"?limit=10&skip=40", 200, 5, "f40", "f44"},
		{"?limit=0", 200, 45, "f00", "f44"},
		{"?skip=50", 200, 0, "", ""},
		{"?limit=201", 400, 0, "", ""},
		{"?limit=-1", 400, 0, "", ""},
		{"?limit=x", 400, 0, "", ""},
		{"?skip=-1", 400, 0, "", ""},
	} {
		code, got := names(tc.q)
		if code != tc.code || len(got) != tc.n || (tc.n > 0 && (got[0] != tc.first || got[len(got)-1] != tc.last)) {
			t.Errorf("%q: %d %v, want %d, %d names %s..%s", tc.q, code, got, tc.code, tc.n, tc.first, tc.last)
		}
	}
	if code, _, body := owCall(t, "GET", url+"/api/v1/namespaces/_/actions?count=true&skip=5", testKey, ""); code != 200 || strings.TrimSpace(body) != `{"actions":40}` {
		t.Errorf("count: %d %s", code, body)
	}
}

func TestOpenWhiskGetAction(t *testing.T) {
	_, url := owServer(t, []Function{
		{Name: "figlet", Capacity: 40, Concurrency: 4, Replicas: 2, Annotations: map[string]string{"web-export": "true", "team": "edge"}},
	}, OpenWhiskConfig{})
	code, _, body := owCall(t, "GET", url+"/api/v1/namespaces/guest/actions/figlet?code=false", testKey, "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	a := decode[owAction](t, body)
	ann := map[string]any{}
	for _, kv := range a.Annotations {
		ann[kv.Key] = kv.Value
	}
	if a.Name != "figlet" || a.Namespace != "guest" || ann["dfaas.maxrate"] != "80" || ann["dfaas.concurrency"] != "8" ||
		ann["web-export"] != true || ann["team"] != "edge" || a.Exec.Kind != "blackbox" || a.Exec.Image != "dfaas/builtin-figlet" ||
		a.Limits.Timeout != 31000 || a.Limits.Concurrency != 4 || a.Limits.Memory != 256 {
		t.Errorf("action %+v (annotations %v)", a, ann)
	}
	for _, p := range []string{"nope", "utils/figlet"} {
		if code, _, body := owCall(t, "GET", url+"/api/v1/namespaces/_/actions/"+p, testKey, ""); code != 404 || !strings.Contains(body, "does not exist") {
			t.Errorf("%s: %d %s, want 404", p, code, body)
		}
	}
}

func TestOpenWhiskInvoke(t *testing.T) {
	_, url := owServer(t, []Function{{Name: "echo"}, {Name: "sleep"}, {Name: "figlet"}}, OpenWhiskConfig{})
	inv := url + "/api/v1/namespaces/_/actions/"

	code, h, body := owCall(t, "POST", inv+"echo?blocking=true&result=true", testKey, `{"a":1,"b":"two"}`)
	if code != 200 || strings.TrimSpace(body) != `{"a":1,"b":"two"}` || len(h.Get(headerActivationID)) != 32 {
		t.Errorf("blocking, result: %d %v %s", code, h, body)
	}
	code, _, body = owCall(t, "POST", inv+"echo?blocking=true", testKey, ``)
	rec := decode[owActivation](t, body)
	if code != 200 || rec.Name != "echo" || rec.Namespace != "guest" || !rec.Response.Success || rec.Response.Status != "success" ||
		string(rec.Response.Result) != "{}" || rec.End < rec.Start || len(rec.ActivationID) != 32 {
		t.Errorf("blocking, record: %d %s", code, body)
	}
	code, _, body = owCall(t, "POST", inv+"figlet?blocking=true&result=true", testKey, `{"__ow_body":"Hi"}`)
	if res := decode[map[string]any](t, body); code != 200 || !strings.Contains(res["body"].(string), "#   # ###") {
		t.Errorf("figlet: %d %s", code, body)
	}
	code, _, body = owCall(t, "POST", inv+"sleep?blocking=true&result=true", testKey, `{"d":"-1s"}`)
	if code != 502 || !strings.Contains(body, `"error"`) {
		t.Errorf("application error: %d %s", code, body)
	}
	code, _, body = owCall(t, "POST", inv+"sleep?blocking=true&result=true", testKey, `{"d":"1ms"}`)
	if code != 200 || !strings.Contains(body, "slept 1ms") {
		t.Errorf("sleep with a parameter: %d %s", code, body)
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"a":`, `{} {}`} {
		if code, _, body := owCall(t, "POST", inv+"echo?blocking=true", testKey, bad); code != 400 {
			t.Errorf("body %s: %d %s, want 400", bad, code, body)
		}
	}
	if code, _, _ := owCall(t, "POST", inv+"echo", testKey, `{"x":"`+strings.Repeat("a", MaxOpenWhiskPayload)+`"}`); code != 413 {
		t.Errorf("large body: %d, want 413", code)
	}
	if code, _, _ := owCall(t, "POST", inv+"echo?blocking=true&timeout=0", testKey, ``); code != 400 {
		t.Errorf("timeout=0: %d, want 400", code)
	}
	if code, _, _ := owCall(t, "POST", inv+"nope?blocking=true", testKey, ``); code != 404 {
		t.Errorf("missing action: %d", code)
	}
}

// fetchActivation polls GET .../activations/{id}[/part] until it is found
// (bounded).
func fetchActivation(t *testing.T, url, id, part string) (int, string) {
	t.Helper()
	p := url + "/api/v1/namespaces/_/activations/" + id + part
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, body := owCall(t, "GET", p, testKey, "")
		if code != 404 || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpenWhiskNonBlockingAndActivations(t *testing.T) {
	_, url := owServer(t, []Function{{Name: "echo"}}, OpenWhiskConfig{MaxActivations: 2})
	var ids []string
	for i := range 3 {
		code, h, body := owCall(t, "POST", url+"/api/v1/namespaces/_/actions/echo", testKey, fmt.Sprintf(`{"i":%d}`, i))
		id := decode[map[string]string](t, body)["activationId"]
		if code != 202 || len(id) != 32 || h.Get(headerActivationID) != id {
			t.Fatalf("non-blocking: %d %v %s", code, h, body)
		}
		if code, body := fetchActivation(t, url, id, ""); code != 200 || !strings.Contains(body, fmt.Sprintf(`"result":{"i":%d}`, i)) {
			t.Fatalf("activation %d: %d %s", i, code, body)
		}
		ids = append(ids, id)
	}
	if code, body := fetchActivation(t, url, ids[2], "/result"); code != 200 || !strings.Contains(body, `"success":true`) {
		t.Errorf("result: %d %s", code, body)
	}
	if code, body := fetchActivation(t, url, ids[2], "/logs"); code != 200 || strings.TrimSpace(body) != `{"logs":[]}` {
		t.Errorf("logs: %d %s", code, body)
	}
	if code, _, _ := owCall(t, "GET", url+"/api/v1/namespaces/_/activations/"+ids[2]+"/other", testKey, ""); code != 404 {
		t.Errorf("unknown part: %d", code)
	}
	// MaxActivations 2: the first record is forgotten.
	if code, _, _ := owCall(t, "GET", url+"/api/v1/namespaces/_/activations/"+ids[0], testKey, ""); code != 404 {
		t.Errorf("evicted activation: %d, want 404", code)
	}
	if code, _, _ := owCall(t, "GET", url+"/api/v1/namespaces/_/activations/"+ids[1], "", ""); code != 401 {
		t.Errorf("anonymous activation get: %d, want 401", code)
	}
}

// TestActivationStoreBounds: the store forgets the oldest records beyond
// its count and its bytes.
func TestActivationStoreBounds(t *testing.T) {
	st := activationStore{max: 3, maxBytes: 100}
	put := func(id string, size int) { st.put(&activation{id: id, result: make([]byte, size)}) }
	put("a", 40)
	put("b", 40)
	put("c", 10)
	if st.get("a") == nil || st.bytes != 90 {
		t.Fatalf("a evicted early, bytes %d", st.bytes)
	}
	put("d", 30) // bytes: a goes; count: 3 kept
	if st.get("a") != nil || st.get("b") == nil || st.bytes != 80 {
		t.Errorf("after d: a %v b %v bytes %d", st.get("a") != nil, st.get("b") != nil, st.bytes)
	}
	put("e", 1) // count: b goes
	if st.get("b") != nil || len(st.order) != 3 || st.bytes != 41 {
		t.Errorf("after e: order %v bytes %d", st.order, st.bytes)
	}
	put("huge", 500) // larger than the bound: kept alone
	if len(st.order) != 1 || st.get("huge") == nil {
		t.Errorf("after huge: order %v", st.order)
	}
}

// TestOpenWhiskBlockingWait: a blocking invocation that outlasts the wait
// answers 202 with the activation id, and the activation finishes later.
func TestOpenWhiskBlockingWait(t *testing.T) {
	_, url := owServer(t, []Function{{Name: "sleep"}}, OpenWhiskConfig{BlockingWait: 20 * time.Millisecond})
	code, h, body := owCall(t, "POST", url+"/api/v1/namespaces/_/actions/sleep?blocking=true&result=true", testKey, `{"d":"300ms"}`)
	id := decode[map[string]string](t, body)["activationId"]
	if code != 202 || id == "" || h.Get(headerActivationID) != id {
		t.Fatalf("outlasting the wait: %d %s", code, body)
	}
	if code, body := fetchActivation(t, url, id, "/result"); code != 200 || !strings.Contains(body, "slept 300ms") {
		t.Errorf("later: %d %s", code, body)
	}
}

// TestOpenWhiskActionTimeLimit: an action running past its time limit is an
// action developer error.
func TestOpenWhiskActionTimeLimit(t *testing.T) {
	_, url := owServer(t, []Function{{Name: "sleep", Labels: map[string]string{"dfaas.timeout_ms": "30"}}}, OpenWhiskConfig{})
	code, _, body := owCall(t, "POST", url+"/api/v1/namespaces/_/actions/sleep?blocking=true", testKey, `{"d":"5s"}`)
	rec := decode[owActivation](t, body)
	if code != 502 || rec.Response.Status != "action developer error" || !strings.Contains(string(rec.Response.Result), "exceeded its time limits of 30 milliseconds") {
		t.Errorf("%d %s", code, body)
	}
}

func TestOpenWhiskThrottling(t *testing.T) {
	ow, url := owServer(t, []Function{{Name: "sleep"}, {Name: "echo"}}, OpenWhiskConfig{ConcurrentInvocations: 1, InvocationsPerMinute: 3})
	now := time.Unix(6000, 0)
	var mu sync.Mutex
	ow.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	inv := url + "/api/v1/namespaces/_/actions/"
	code, _, body := owCall(t, "POST", inv+"sleep", testKey, `{"d":"1s"}`)
	if code != 202 {
		t.Fatalf("first: %d %s", code, body)
	}
	code, _, body = owCall(t, "POST", inv+"echo?blocking=true", testKey, ``)
	if code != 429 || !strings.Contains(body, "Too many concurrent requests in flight (count: 1, allowed: 1)") {
		t.Errorf("concurrent: %d %s", code, body)
	}
	// Wait for the sleeper to finish, then use up the minute.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, _ = owCall(t, "POST", inv+"echo?blocking=true", testKey, ``)
		if code == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code != 200 {
		t.Fatalf("after the sleeper: %d", code)
	}
	// A caller answered has its slot back already.
	ow.mu.Lock()
	inflight := ow.inflight
	ow.mu.Unlock()
	if inflight != 0 {
		t.Fatalf("answered, yet %d invocations in flight", inflight)
	}
	code, _, _ = owCall(t, "POST", inv+"echo?blocking=true", testKey, ``)
	if code != 200 {
		t.Fatalf("third of the minute: %d", code)
	}
	code, _, body = owCall(t, "POST", inv+"echo?blocking=true", testKey, ``)
	if code != 429 || !strings.Contains(body, "Too many requests in the last minute (count: 3, allowed: 3)") {
		t.Errorf("per minute: %d %s", code, body)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if code, _, body = owCall(t, "POST", inv+"echo?blocking=true", testKey, ``); code != 200 {
		t.Errorf("next minute: %d %s", code, body)
	}
	_, _, page := owCall(t, "GET", url+"/metrics", "", "")
	for _, want := range []string{
		`openwhisk_action_limit_concurrent_total{namespace="guest"} `,
		`openwhisk_action_limit_timed_total{namespace="guest"} `,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestOpenWhiskCapacityRefusal: a function whose queue is full refuses with
// 429 through the OpenWhisk API too, and the activation counts as a whisk
// internal error.
func TestOpenWhiskCapacityRefusal(t *testing.T) {
	_, url := owServer(t, []Function{{Name: "slow", Handler: HandlerEcho, Capacity: 5, Concurrency: 1, Queue: 1, QueueTimeout: 5 * time.Second, Deterministic: true}}, OpenWhiskConfig{})
	codes := make(chan int, 8)
	for range 8 {
		go func() {
			code, _, _ := owCall(t, "POST", url+"/api/v1/namespaces/_/actions/slow?blocking=true&result=true", testKey, `{}`)
			codes <- code
		}()
	}
	count := map[int]int{}
	for range 8 {
		count[<-codes]++
	}
	if count[429] == 0 || count[200] == 0 || count[200]+count[429] != 8 {
		t.Errorf("codes %v, want some 200 and some 429", count)
	}
	_, _, page := owCall(t, "GET", url+"/metrics", "", "")
	want := fmt.Sprintf(`openwhisk_action_status{action="slow",initiator="guest",namespace="guest",status="whisk_internal_error"} %d`, count[429])
	if !strings.Contains(page, want) {
		t.Errorf("metrics lack %s:\n%s", want, page)
	}
}

func TestOpenWhiskWebActions(t *testing.T) {
	_, url := owServer(t, []Function{
		{Name: "echo", Annotations: map[string]string{"web-export": "true"}},
		{Name: "my.fn", Handler: HandlerEcho, Annotations: map[string]string{"web-export": "true"}},
		{Name: "figlet", Annotations: map[string]string{"web-export": "true"}},
		{Name: "private", Handler: HandlerEcho},
		{Name: "guarded", Handler: HandlerEcho, Annotations: map[string]string{"web-export": "true", "require-whisk-auth": "letmein"}},
	}, OpenWhiskConfig{})
	web := url + "/api/v1/web/guest/default/"
	code, h, body := owCall(t, "POST", web+"echo", "", "hello", "Content-Type", "text/plain")
	if code != 200 || body != "hello" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || h.Get(headerActivationID) == "" {
		t.Errorf("text echo: %d %v %q", code, h, body)
	}
	code, _, body = owCall(t, "GET", web+"my.fn.json/sub/path?name=Jane", "", "", "X-Custom", "v")
	res := decode[map[string]any](t, body)
	hdrs, _ := res["__ow_headers"].(map[string]any)
	if code != 200 || res["name"] != "Jane" || res["__ow_method"] != "get" || res["__ow_path"] != "/sub/path" || hdrs["x-custom"] != "v" {
		t.Errorf(".json: %d %s", code, body)
	}
	code, _, body = owCall(t, "POST", web+"echo.json", "", `{"a":1}`, "Content-Type", "application/json")
	if res := decode[map[string]any](t, body); code != 200 || res["a"] != 1.0 {
		t.Errorf("JSON body: %d %s", code, body)
	}
	code, _, body = owCall(t, "POST", web+"echo.json", "", `a=1&b=2`, "Content-Type", "application/x-www-form-urlencoded")
	if res := decode[map[string]any](t, body); code != 200 || res["a"] != "1" || res["b"] != "2" {
		t.Errorf("form body: %d %s", code, body)
	}
	code, _, body = owCall(t, "POST", web+"echo.json", "", "\xff\xfe", "Content-Type", "application/octet-stream")
	if res := decode[map[string]any](t, body); code != 200 || res["body"] != "//4=" {
		t.Errorf("binary body: %d %s", code, body)
	}
	// A JSON object answer without body/statusCode/headers is an empty
	// .http answer.
	if code, _, body = owCall(t, "GET", web+"echo", "", ""); code != 204 || body != "" {
		t.Errorf(".http of an object: %d %q", code, body)
	}
	if code, h, body = owCall(t, "GET", web+"figlet.http?x=1", "", ""); code != 200 || body != figletHelloWorld(t) || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("figlet: %d %v %s", code, h, body)
	}
	for _, tc := range []struct {
		method, path, key, body string
		hdr                     []string
		want                    int
	}{
		{"GET", "private", "", "", nil, 404},
		{"GET", "nope", "", "", nil, 404},
		{"GET", "echo.json?__ow_method=x", "", "", nil, 400},
		{"POST", "echo.json", "", `{"__ow_path":"/x"}`, []string{"Content-Type", "application/json"}, 400},
		{"TRACE", "echo", "", "", nil, 405},
		{"GET", "echo.text", "", "", nil, 400},
		{"GET", "guarded.json", "", "", nil, 401},
		{"GET", "guarded.json", "", "", []string{"X-Require-Whisk-Auth", "letmein"}, 200},
	} {
		code, _, body := owCall(t, tc.method, web+tc.path, tc.key, tc.body, tc.hdr...)
		if code != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
	for _, p := range []string{"/api/v1/web/other/default/echo", "/api/v1/web/guest/pkg/echo", "/api/v1/web/_/default/echo"} {
		if code, _, _ := owCall(t, "GET", url+p, "", ""); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

// figletHelloWorld is figlet's answer to an empty body.
func figletHelloWorld(t *testing.T) string {
	t.Helper()
	s, _ := New(Config{})
	code, _ := s.builtin(HandlerFiglet)
	out, err := code(t.Context(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestHTTPAnswer(t *testing.T) {
	for _, tc := range []struct {
		result   string
		code     int
		ct, body string
		hdr      [2]string
	}{
		{`{"body":"<b>hi</b>"}`, 200, "text/html; charset=utf-8", "<b>hi</b>", [2]string{}},
		{`{"statusCode":302,"headers":{"location":"http://x"}}`, 302, "", "", [2]string{"Location", "http://x"}},
		{`{"body":{"a":1}}`, 200, "application/json", `{"a":1}`, [2]string{}},
		{`{"headers":{"Content-Type":"image/png"},"body":"aGk="}`, 200, "image/png", "hi", [2]string{}},
		{`{"headers":{"Content-Type":"image/png"},"body":"%%%"}`, 400, "", "", [2]string{}},
		{`{"headers":{"Set-Cookie":["a=1","b=2"],"X-N":3,"X-B":true}}`, 204, "", "", [2]string{"X-N", "3"}},
		{`{"statusCode":99}`, 400, "", "", [2]string{}},
		{`{"statusCode":"200"}`, 400, "", "", [2]string{}},
		{`{"headers":[1]}`, 400, "", "", [2]string{}},
		{`{}`, 204, "", "", [2]string{}},
	} {
		var res map[string]json.RawMessage
		json.Unmarshal([]byte(tc.result), &res)
		rec := httptest.NewRecorder()
		httpAnswer(rec, res)
		if rec.Code != tc.code || (tc.code < 400 && (rec.Header().Get("Content-Type") != tc.ct || rec.Body.String() != tc.body)) {
			t.Errorf("%s: %d %v %q", tc.result, rec.Code, rec.Header(), rec.Body.String())
		}
		if tc.hdr[0] != "" && rec.Header().Get(tc.hdr[0]) != tc.hdr[1] {
			t.Errorf("%s: header %s=%q", tc.result, tc.hdr[0], rec.Header().Get(tc.hdr[0]))
		}
	}
	rec := httptest.NewRecorder()
	var res map[string]json.RawMessage
	json.Unmarshal([]byte(`{"headers":{"Set-Cookie":["a=1","b=2"]}}`), &res)
	httpAnswer(rec, res)
	if got := rec.Header().Values("Set-Cookie"); len(got) != 2 {
		t.Errorf("multi-valued header: %v", got)
	}
}

// TestOpenWhiskMetrics: /metrics has the user-events series with the
// activations counted, by status.
func TestOpenWhiskMetrics(t *testing.T) {
	_, url := owServer(t, []Function{{Name: "echo"}, {Name: "sleep"}}, OpenWhiskConfig{})
	for range 3 {
		owCall(t, "POST", url+"/api/v1/namespaces/_/actions/echo?blocking=true", testKey, `{}`)
	}
	owCall(t, "POST", url+"/api/v1/namespaces/_/actions/sleep?blocking=true", testKey, `{"d":"x"}`)
	code, _, page := owCall(t, "GET", url+"/metrics", "", "")
	if code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{
		`openwhisk_action_activations_total{action="echo",initiator="guest",kind="blackbox",memory="256",namespace="guest"} 3`,
		`openwhisk_action_status{action="echo",initiator="guest",namespace="guest",status="success"} 3`,
		`openwhisk_action_status{action="sleep",initiator="guest",namespace="guest",status="application_error"} 1`,
		`openwhisk_action_duration_seconds_count{action="echo",initiator="guest",namespace="guest"} 3`,
		`dfaas_faas_queue_waiting{function_name="echo"} 0`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, _, body := owCall(t, "GET", url+"/ping", "", ""); code != 200 || body != "pong" {
		t.Errorf("ping: %d %s", code, body)
	}
}

// TestOpenWhiskClose: Close cancels running activations, waits for them,
// and makes invocations answer 503.
func TestOpenWhiskClose(t *testing.T) {
	ow, url := owServer(t, []Function{{Name: "sleep"}}, OpenWhiskConfig{})
	for range 3 {
		if code, _, _ := owCall(t, "POST", url+"/api/v1/namespaces/_/actions/sleep", testKey, `{"d":"10s"}`); code != 202 {
			t.Fatal(code)
		}
	}
	start := time.Now()
	ow.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if code, _, _ := owCall(t, "POST", url+"/api/v1/namespaces/_/actions/sleep?blocking=true", testKey, `{}`); code != 503 {
		t.Errorf("after Close: %d, want 503", code)
	}
}

// FuzzOpenWhiskHandler sends arbitrary requests, with and without the key,
// and checks that every answer is a known status with a bounded body.
func FuzzOpenWhiskHandler(f *testing.F) {
	s, err := New(Config{Functions: []Function{{Name: "echo", Capacity: 1e6, Annotations: map[string]string{"web-export": "true"}}}})
	if err != nil {
		f.Fatal(err)
	}
	ow, err := NewOpenWhisk(s, OpenWhiskConfig{Key: testKey, BlockingWait: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer ow.Close()
	h := ow.Handler()
	f.Add("POST", "/api/v1/namespaces/_/actions/echo?blocking=true&result=true", []byte(`{"a":1}`), true, "application/json")
	f.Add("GET", "/api/v1/namespaces/guest/actions?limit=2&skip=1", []byte(nil), true, "")
	f.Add("PUT", "/api/v1/web/guest/default/echo.json/x", []byte(`a=1`), false, "application/x-www-form-urlencoded")
	f.Add("GET", "/api/v1/namespaces/_/activations/0123/result", []byte(nil), true, "")
	f.Fuzz(func(t *testing.T, method, target string, body []byte, auth bool, ct string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(method, " \t\r\n") || method == "" {
			return
		}
		req, err := http.NewRequest(method, "http://x"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", ct)
		if auth {
			u, p, _ := strings.Cut(testKey, ":")
			req.SetBasicAuth(u, p)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 202, 204, 301, 307, 308, 400, 401, 403, 404, 405, 413, 415, 429, 500, 501, 502, 503:
		default:
			t.Fatalf("%s %s: status %d", method, target, rec.Code)
		}
		if rec.Body.Len() > 2*MaxOpenWhiskPayload+4096 {
			t.Fatalf("%s %s: answer of %d bytes", method, target, rec.Body.Len())
		}
	})
}
