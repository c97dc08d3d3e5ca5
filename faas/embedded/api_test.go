package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"
)

// faasCLI sends requests the way faas-cli does: JSON bodies of the
// faas-provider types, basic auth when given.
type faasCLI struct {
	t          *testing.T
	url        string
	user, pass string
}

func (c faasCLI) do(method, path string, body any) (int, string) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c faasCLI) list() []types.FunctionStatus {
	c.t.Helper()
	code, body := c.do(http.MethodGet, "/system/functions", nil)
	if code != 200 {
		c.t.Fatalf("list: %d %s", code, body)
	}
	var out []types.FunctionStatus
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c faasCLI) get(name string) types.FunctionStatus {
	c.t.Helper()
	code, body := c.do(http.MethodGet, "/system/function/"+name, nil)
	if code != 200 {
		c.t.Fatalf("get %s: %d %s", name, code, body)
	}
	var st types.FunctionStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

func labelsOf(st types.FunctionStatus) map[string]string {
	if st.Labels == nil {
		return nil
	}
	return *st.Labels
}

func TestDeployScaleDelete(t *testing.T) {
	s, hs := serve(t, Config{Functions: []Function{{Name: "echo"}}, Namespace: "openfaas-fn"})
	cli := faasCLI{t: t, url: hs.URL}
	labels := map[string]string{"dfaas.maxrate": "40", "team": "edge"}
	ann := map[string]string{"topic": "demo"}
	code, body := cli.do(http.MethodPost, "/system/functions", types.FunctionDeployment{
		Service: "figlet", Image: "ghcr.io/openfaas/figlet:latest", Namespace: "openfaas-fn",
		Labels: &labels, Annotations: &ann, EnvVars: map[string]string{"max_inflight": "4"},
	})
	if code != http.StatusAccepted {
		t.Fatalf("deploy: %d %s", code, body)
	}
	st := cli.get("figlet")
	if st.Image != "ghcr.io/openfaas/figlet:latest" || st.EnvProcess != "figlet" || st.Namespace != "openfaas-fn" || st.Replicas != 1 {
		t.Errorf("status after deploy: %+v", st)
	}
	if l := labelsOf(st); l["dfaas.maxrate"] != "40" || l["dfaas.maxrate_per_replica"] != "40" || l["dfaas.concurrency"] != "4" || l["team"] != "edge" {
		t.Errorf("labels after deploy: %v", l)
	}
	if code, out := call(t, hs.URL+"/function/figlet", "hi"); code != 200 || !strings.Contains(out, "#") {
		t.Errorf("invoke: %d %q", code, out)
	}

	// Scale to 3: capacity and concurrency follow.
	if code, body := cli.do(http.MethodPost, "/system/scale-function/figlet", types.ScaleServiceRequest{ServiceName: "figlet", Replicas: 3}); code != http.StatusAccepted {
		t.Fatalf("scale: %d %s", code, body)
	}
	st = cli.get("figlet")
	if l := labelsOf(st); st.Replicas != 3 || st.AvailableReplicas != 3 || l["dfaas.maxrate"] != "120" || l["dfaas.concurrency"] != "12" {
		t.Errorf("after scale: replicas %d/%d labels %v", st.Replicas, st.AvailableReplicas, l)
	}
	fns, _ := s.Functions(context.Background())
	for _, f := range fns {
		if f.Name == "figlet" {
			if c, err := f.Capacity(); err != nil || c != 120 || f.AvailableReplicas != 3 {
				t.Errorf("in-process view after scale: %+v", f)
			}
		}
	}

	// Update with the labels read back: the capacity per replica stays.
	l := labelsOf(st)
	l["team"] = "core"
	if code, body := cli.do(http.MethodPut, "/system/functions", types.FunctionDeployment{
		Service: "figlet", Image: st.Image, Labels: &l, EnvVars: st.EnvVars,
	}); code != http.StatusAccepted {
		t.Fatalf("update: %d %s", code, body)
	}
	st = cli.get("figlet")
	if l := labelsOf(st); st.Replicas != 3 || l["dfaas.maxrate"] != "120" || l["dfaas.concurrency"] != "12" || l["team"] != "core" || st.InvocationCount != 1 {
		t.Errorf("after update: %+v labels %v", st, l)
	}

	// Metrics carry the gateway's names and name.namespace labels.
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gateway_function_invocation_total{code="200",function_name="figlet.openfaas-fn"} 1`,
		`gateway_functions_seconds_count{code="200",function_name="figlet.openfaas-fn"} 1`,
		`gateway_function_invocation_started{function_name="figlet.openfaas-fn"} 1`,
		`gateway_service_count{function_name="figlet.openfaas-fn"} 3`,
		`gateway_service_count{function_name="echo.openfaas-fn"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Scale to zero: invocations fail with 503.
	cli.do(http.MethodPost, "/system/scale-function/figlet", types.ScaleServiceRequest{ServiceName: "figlet", Replicas: 0})
	if code, _ := call(t, hs.URL+"/function/figlet", "hi"); code != http.StatusServiceUnavailable {
		t.Errorf("invoke at zero replicas: %d, want 503", code)
	}

	if code, body := cli.do(http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: "figlet"}); code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", code, body)
	}
	if got := cli.list(); len(got) != 1 || got[0].Name != "echo" {
		t.Errorf("list after delete: %+v", got)
	}
	if code, _ := call(t, hs.URL+"/function/figlet", "hi"); code != http.StatusNotFound {
		t.Errorf("invoke after delete: %d, want 404", code)
	}
	resp, _ = http.Get(hs.URL + "/metrics")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), `gateway_service_count{function_name="figlet.openfaas-fn"}`) {
		t.Error("deleted function still has a replica gauge")
	}
}

func TestAPIErrors(t *testing.T) {
	_, hs := serve(t, Config{Functions: []Function{{Name: "echo"}}, Namespace: "openfaas-fn", MaxFunctions: 2, MaxReplicas: 5})
	cli := faasCLI{t: t, url: hs.URL}
	lbl := func(kv ...string) *map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return &m
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		code   int
		want   string
	}{
		{"unknown built-in", "POST", "/system/functions", types.FunctionDeployment{Service: "x", Image: "nginx:latest"}, 400, "not a built-in"},
		{"bad name", "POST", "/system/functions", types.FunctionDeployment{Service: "a b", Image: "echo"}, 400, "service"},
		{"duplicate", "POST", "/system/functions", types.FunctionDeployment{Service: "echo", Image: "echo"}, 409, "already deployed"},
		{"bad capacity", "POST", "/system/functions", types.FunctionDeployment{Service: "e2", Image: "echo", Labels: lbl("dfaas.maxrate", "lots")}, 400, "dfaas.maxrate"},
		{"bad max_inflight", "POST", "/system/functions", types.FunctionDeployment{Service: "e2", Image: "echo", EnvVars: map[string]string{"max_inflight": "0"}}, 400, "max_inflight"},
		{"bad queue timeout", "POST", "/system/functions", types.FunctionDeployment{Service: "e2", Image: "echo", EnvVars: map[string]string{"queue_timeout": "soon"}}, 400, "queue_timeout"},
		{"other namespace", "POST", "/system/functions", types.FunctionDeployment{Service: "e2", Image: "echo", Namespace: "prod"}, 400, "namespace"},
		{"not JSON", "POST", "/system/functions", "just a string", 400, "bad request body"},
		{"update missing", "PUT", "/system/functions", types.FunctionDeployment{Service: "nope", Image: "echo"}, 404, "not found"},
		{"delete missing", "DELETE", "/system/functions", types.DeleteFunctionRequest{FunctionName: "nope"}, 404, "not found"},
		{"scale missing", "POST", "/system/scale-function/nope", types.ScaleServiceRequest{ServiceName: "nope", Replicas: 1}, 404, "not found"},
		{"scale too far", "POST", "/system/scale-function/echo", types.ScaleServiceRequest{ServiceName: "echo", Replicas: 6}, 400, "maximum 5"},
		{"scale wrong body", "POST", "/system/scale-function/echo", types.ScaleServiceRequest{ServiceName: "other", Replicas: 1}, 400, "differs"},
		{"get missing", "GET", "/system/function/nope", nil, 404, "not found"},
		{"list other namespace", "GET", "/system/functions?namespace=prod", nil, 400, "namespace"},
		{"secrets", "GET", "/system/secrets", nil, 501, "not supported"},
		{"async", "POST", "/async-function/echo", nil, 501, "not supported"},
	} {
		code, body := cli.do(tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if code, body := cli.do("POST", "/system/functions", types.FunctionDeployment{Service: "e2", Image: "echo"}); code != 202 {
		t.Fatalf("second function: %d %s", code, body)
	}
	if code, body := cli.do("POST", "/system/functions", types.FunctionDeployment{Service: "e3", Image: "echo"}); code != 400 || !strings.Contains(body, "maximum: 2") {
		t.Errorf("third function: %d %s, want the maximum refusal", code, body)
	}
	code, body := cli.do("POST", "/system/functions", nil)
	if code != 400 {
		t.Errorf("empty body: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", hs.URL+"/system/functions", strings.NewReader(`{"service":"e4","image":"echo"} {}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("trailing data: %d, want 400", resp.StatusCode)
	}
}

func TestBasicAuth(t *testing.T) {
	_, hs := serve(t, Config{Functions: []Function{{Name: "echo"}}, Username: "admin", Password: "s3cret"})
	anon := faasCLI{t: t, url: hs.URL}
	for _, p := range []string{"/system/functions", "/system/function/echo", "/system/info"} {
		if code, _ := anon.do("GET", p, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", p, code)
		}
	}
	if code, _ := (faasCLI{t: t, url: hs.URL, user: "admin", pass: "nope"}).do("GET", "/system/functions", nil); code != 401 {
		t.Errorf("wrong password: %d, want 401", code)
	}
	admin := faasCLI{t: t, url: hs.URL, user: "admin", pass: "s3cret"}
	if got := admin.list(); len(got) != 1 {
		t.Errorf("list with credentials: %+v", got)
	}
	for _, p := range []string{"/healthz", "/metrics"} {
		if code, _ := anon.do("GET", p, nil); code != 200 {
			t.Errorf("GET %s: %d, want 200 without credentials", p, code)
		}
	}
	if code, _ := call(t, hs.URL+"/function/echo", "x"); code != 200 {
		t.Errorf("invoke without credentials: %d, want 200", code)
	}
	if _, err := New(Config{Password: "x"}); err == nil {
		t.Error("password without user accepted")
	}
}

// TestScaleAddsSlots: one replica of a function with one slot serves one
// request at a time; two replicas serve two. A request that sleeps holds
// the slot until the test ends, so that what is measured is the slots,
// not how close together a loaded machine sends two requests (two sent
// at once, each holding the slot 100 ms, were both served now and then
// under load: "one replica served 2 of 2 simultaneous requests").
func TestScaleAddsSlots(t *testing.T) {
	s, hs := serve(t, Config{Functions: []Function{{
		Name: "slow", Handler: HandlerSleep, Capacity: 1000, Concurrency: 1, Queue: 10,
		QueueTimeout: 30 * time.Millisecond,
	}}})
	f := s.function("slow")
	holdSlot(t, hs.URL+"/function/slow", func() bool { return f.calls.Load() == 1 })
	if code, body := call(t, hs.URL+"/function/slow?d=1ms", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("one replica, its slot held: %d %q, want 503 (no slot within the queue time-out)", code, body)
	}
	faasCLI{t: t, url: hs.URL}.do("POST", "/system/scale-function/slow", types.ScaleServiceRequest{ServiceName: "slow", Replicas: 2})
	if code, body := call(t, hs.URL+"/function/slow?d=1ms", ""); code != 200 {
		t.Fatalf("two replicas, one slot held: %d %q, want 200 from the second slot", code, body)
	}
}

// holdSlot sends url (a sleep function) a request that sleeps 10 s, and
// waits until inService says that it holds a slot. The request is
// cancelled, and waited for, when t ends.
func holdSlot(t *testing.T, url string, inService func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"?d=10s", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	waitFor(t, inService)
}

func TestDecodeDeploymentHandler(t *testing.T) {
	for _, tc := range []struct {
		d    types.FunctionDeployment
		want string
	}{
		{types.FunctionDeployment{Service: "a", Image: "ghcr.io/openfaas/figlet:latest"}, "figlet"},
		{types.FunctionDeployment{Service: "a", Image: "dfaas/builtin-shasum"}, "shasum"},
		{types.FunctionDeployment{Service: "a", Image: "reg:5000/x/sleep@sha256:abcd"}, "sleep"},
		{types.FunctionDeployment{Service: "a", Image: "nginx", EnvProcess: "cpu"}, "cpu"},
		{types.FunctionDeployment{Service: "a", Image: "nginx", EnvVars: map[string]string{"handler": "memory"}}, "memory"},
		{types.FunctionDeployment{Service: "echo", Image: "my/own:1"}, "echo"},
	} {
		f, err := DecodeDeployment(tc.d, 1)
		if err != nil || f.Handler != tc.want {
			t.Errorf("%+v: handler %q, %v; want %q", tc.d, f.Handler, err, tc.want)
		}
	}
	lbl := map[string]string{"dfaas.maxrate": "90", "dfaas.concurrency": "7"}
	f, err := DecodeDeployment(types.FunctionDeployment{Service: "a", Image: "echo", Labels: &lbl}, 3)
	if err != nil || f.Capacity != 30 || f.Concurrency != 3 {
		t.Errorf("per-replica split of 90 req/s and 7 slots over 3 replicas: %+v %v", f, err)
	}
}

func FuzzDecodeDeployment(f *testing.F) {
	f.Add([]byte(`{"service":"figlet","image":"ghcr.io/openfaas/figlet:latest","labels":{"dfaas.maxrate":"100"}}`))
	f.Add([]byte(`{"service":"s","image":"x","envProcess":"sleep","envVars":{"capacity":"2.5","max_inflight":"3","queue":"9","queue_timeout":"2s","deterministic":"true"}}`))
	f.Add([]byte(`{"service":"s","annotations":{"dfaas.maxrate_per_replica":"1e-300"},"labels":{"dfaas.concurrency":"65535"}}`))
	f.Add([]byte(`{"service":"","labels":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d types.FunctionDeployment
		if decodeJSON(data, &d) != nil {
			return
		}
		for _, replicas := range []int{0, 1, 7} {
			fn, err := DecodeDeployment(d, replicas)
			if err != nil {
				continue
			}
			if fn.Name != d.Service || fn.Capacity < 0 || fn.Concurrency < 0 || fn.Queue < 0 || fn.QueueTimeout < 0 {
				t.Fatalf("decoded %+v from %+v", fn, d)
			}
			// Whatever decodes is either served or refused with an error,
			// never a panic.
			s, err := New(Config{Functions: []Function{fn}})
			if err == nil {
				if _, err := s.Functions(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
