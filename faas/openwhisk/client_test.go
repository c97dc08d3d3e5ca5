package openwhisk

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/internal/golden"
)

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var testKey = Key{UUID: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502", Secret: "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"}

// controller is a fake OpenWhisk controller serving testdata/actions.json
// page by page (limit and skip as OpenWhisk reads them), checking the key,
// and recording the requests.
type controller struct {
	mu       sync.Mutex
	requests []string
	actions  []json.RawMessage
	hook     func(w http.ResponseWriter, r *http.Request) bool // true: answered
}

func newController(t *testing.T) (*controller, *httptest.Server) {
	t.Helper()
	c := loadController(t)
	s := httptest.NewServer(c)
	t.Cleanup(s.Close)
	return c, s
}

func loadController(t *testing.T) *controller {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "actions.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := &controller{}
	if err := json.Unmarshal(data, &c.actions); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests = append(c.requests, r.Method+" "+r.URL.RequestURI())
	hook := c.hook
	c.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != testKey.UUID || p != testKey.Secret {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"The supplied authentication is invalid","code":"x"}`))
		return
	}
	if hook != nil && hook(w, r) {
		return
	}
	switch r.URL.Path {
	case "/api/v1/namespaces":
		w.Write([]byte(`["guest"]`))
	case "/api/v1/namespaces/_/actions":
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		skip, _ := strconv.Atoi(q.Get("skip"))
		if limit == 0 {
			limit = 30
		}
		page := []json.RawMessage{}
		for i := skip; i < len(c.actions) && len(page) < limit; i++ {
			page = append(page, c.actions[i])
		}
		json.NewEncoder(w).Encode(page)
	case "/api/v1/namespaces/_/actions/thumbnail":
		data, _ := os.ReadFile(filepath.Join("testdata", "action-thumbnail.json"))
		w.Write(data)
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"The requested resource does not exist.","code":"y"}`))
	}
}

func (c *controller) log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.requests...)
}

func (c *controller) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	c.mu.Lock()
	c.hook = h
	c.mu.Unlock()
}

// TestRecordedListing lists testdata/actions.json in pages of 4 and of the
// default size, and checks the conversion and the skipped actions.
func TestRecordedListing(t *testing.T) {
	for _, tc := range []struct {
		pageSize int
		requests []string
	}{
		{4, []string{"GET /api/v1/namespaces/_/actions?limit=4&skip=0", "GET /api/v1/namespaces/_/actions?limit=4&skip=4"}},
		{0, []string{"GET /api/v1/namespaces/_/actions?limit=200&skip=0"}},
		{3, []string{"GET /api/v1/namespaces/_/actions?limit=3&skip=0", "GET /api/v1/namespaces/_/actions?limit=3&skip=3", "GET /api/v1/namespaces/_/actions?limit=3&skip=6"}},
	} {
		ctl, s := newController(t)
		var logs bytes.Buffer
		c := newClient(t, Config{URL: s.URL, Key: testKey, PageSize: tc.pageSize, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		fns, err := c.Functions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := ctl.log(); strings.Join(got, "\n") != strings.Join(tc.requests, "\n") {
			t.Errorf("page size %d: requests\n%s\nwant\n%s", tc.pageSize, strings.Join(got, "\n"), strings.Join(tc.requests, "\n"))
		}
		out, _ := json.MarshalIndent(fns, "", "  ")
		golden.Check(t, filepath.Join("testdata", "actions.golden"), append(out, '\n'))
		for _, want := range []string{
			`action \"split\" is in package \"guest/utils\"`,
			`action \"hello world\": function name \"hello world\": character ' '`,
			`action \"hash\": annotation dfaas.maxrate=\"fast\" is not a non-negative number`,
			`action \"hash\": annotation dfaas.timeout_ms=\"-5\" is not a whole number of milliseconds`,
		} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("logs lack %s:\n%s", want, logs.String())
			}
		}
		if r := c.Route("thumbnail"); !r.Web || r.Namespace != "guest" {
			t.Errorf("thumbnail route %+v, want web in guest", r)
		}
		if r := c.route("resize.v2"); !r.web {
			t.Errorf("resize.v2 (web-export yes, require-whisk-auth false) route %+v", r)
		}
		if r := c.route("figlet"); r.web {
			t.Errorf("figlet route %+v, want the API", r)
		}
		if r := c.route("unknown"); r.web || r.ns != "_" {
			t.Errorf("unknown route %+v", r)
		}
	}
}

func TestGetAction(t *testing.T) {
	_, s := newController(t)
	c := newClient(t, Config{URL: s.URL + "/", Key: testKey})
	a, err := c.Action(context.Background(), "thumbnail")
	if err != nil {
		t.Fatal(err)
	}
	f, warns, err := Convert(a)
	if cp, _ := f.Capacity(); err != nil || len(warns) != 0 || cp != 12.5 || a.Exec.Kind != "python:3" || !a.WebExported() {
		t.Errorf("thumbnail: %+v %+v %v %v", a, f, warns, err)
	}
	if _, err := c.Action(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "a/b", "a?b", "a%2f"} {
		if _, err := c.Action(context.Background(), bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

func TestConvert(t *testing.T) {
	ann := func(kv ...any) []KeyValue {
		var out []KeyValue
		for i := 0; i < len(kv); i += 2 {
			v, _ := json.Marshal(kv[i+1])
			out = append(out, KeyValue{Key: kv[i].(string), Value: v})
		}
		return out
	}
	for _, tc := range []struct {
		name                      string
		a                         Action
		capacity, timeout, concur string // "" = absent
		warns                     int
		err                       string
	}{
		{"string annotations", Action{Name: "f", Annotations: ann("dfaas.maxrate", "20", "dfaas.timeout_ms", "900")}, "20", "900", "", 0, ""},
		{"number annotations", Action{Name: "f", Annotations: ann("dfaas.maxrate", 7.5, "dfaas.concurrency", 3)}, "7.5", "", "3", 0, ""},
		{"limits", Action{Name: "f", Limits: Limits{Timeout: 60000, Concurrency: 5}}, "", "60000", "", 0, ""},
		{"limits with instances", Action{Name: "f", Limits: Limits{Concurrency: 5, Instances: 4}}, "", "", "20", 0, ""},
		{"huge limits", Action{Name: "f", Limits: Limits{Concurrency: 1 << 40, Instances: 1 << 40}}, "", "", "65535", 0, ""},
		{"annotation wins", Action{Name: "f", Annotations: ann("dfaas.timeout_ms", "100", "dfaas.concurrency", "2"), Limits: Limits{Timeout: 60000, Concurrency: 5, Instances: 4}}, "", "100", "2", 0, ""},
		{"bad maxrate", Action{Name: "f", Annotations: ann("dfaas.maxrate", "NaN")}, "", "", "", 1, ""},
		{"negative maxrate", Action{Name: "f", Annotations: ann("dfaas.maxrate", -1)}, "", "", "", 1, ""},
		{"object maxrate", Action{Name: "f", Annotations: ann("dfaas.maxrate", map[string]int{"a": 1})}, "", "", "", 1, ""},
		{"bad timeout", Action{Name: "f", Annotations: ann("dfaas.timeout_ms", "1.5")}, "", "", "", 1, ""},
		{"bad timeout, limits apply", Action{Name: "f", Annotations: ann("dfaas.timeout_ms", -5), Limits: Limits{Timeout: 500}}, "", "500", "", 1, ""},
		{"bad concurrency", Action{Name: "f", Annotations: ann("dfaas.concurrency", 70000)}, "", "", "", 1, ""},
		{"negative limit", Action{Name: "f", Limits: Limits{Timeout: -1}}, "", "", "", 1, ""},
		{"package", Action{Name: "f", Namespace: "guest/pkg"}, "", "", "", 0, "in package"},
		{"bad name", Action{Name: "a b"}, "", "", "", 0, "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, warns, err := Convert(tc.a)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]string{faas.LabelMaxRate: tc.capacity, faas.LabelTimeout: tc.timeout, faas.LabelConcurrency: tc.concur} {
				got, ok := f.Labels[key]
				if (want == "") == ok || got != want {
					t.Errorf("label %s=%q (%v), want %q", key, got, ok, want)
				}
			}
			if len(warns) != tc.warns {
				t.Errorf("warnings %q, want %d", warns, tc.warns)
			}
			for _, w := range warns {
				if !strings.Contains(w, `action "f"`) {
					t.Errorf("warning %q does not name the action", w)
				}
			}
			if f.Replicas != 1 || f.AvailableReplicas != 1 {
				t.Errorf("replicas %d/%d", f.Replicas, f.AvailableReplicas)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"name":"figlet"}`, "cannot unmarshal object"},
		{`[{"name":"a"}] [1]`, "trailing data"},
		{`[{"namespace":"guest"}]`, "action 0 has no name"},
		{`[{"name":"a","limits":{"timeout":1.5}}]`, "cannot unmarshal number 1.5"},
		{`[{"name":"a","annotations":{"k":"v"}}]`, "cannot unmarshal object"},
		{``, "EOF"},
		{`[`, "unexpected EOF"},
	} {
		if _, err := DecodeActions([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeActions(%q) = %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
	if as, err := DecodeActions([]byte(`null`)); err != nil || len(as) != 0 {
		t.Errorf("null: %v %v", as, err)
	}
	if _, err := DecodeAction([]byte(`{"name":""}`)); err == nil {
		t.Error("action without a name accepted")
	}
}

func TestNewErrors(t *testing.T) {
	ca := writeFile(t, "ca.pem", "not a certificate", 0o644)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "", Key: testKey}, "not an http(s) URL"},
		{Config{URL: "controller:3233", Key: testKey}, "not an http(s) URL"},
		{Config{URL: "http://guest:pw@controller", Key: testKey}, "holds credentials"},
		{Config{URL: "http://controller?x=1", Key: testKey}, "query"},
		{Config{URL: "http://controller"}, "Key"},
		{Config{URL: "http://controller", Key: Key{UUID: "u"}}, "Key"},
		{Config{URL: "http://controller", Key: testKey, Namespace: "a/b"}, "Namespace"},
		{Config{URL: "http://controller", Key: testKey, Timeout: -1}, "Timeout"},
		{Config{URL: "http://controller", Key: testKey, PageSize: 201}, "PageSize"},
		{Config{URL: "http://controller", Key: testKey, MaxActions: -1}, "MaxActions"},
		{Config{URL: "http://controller", Key: testKey, MaxResponseSize: -1}, "MaxResponseSize"},
		{Config{URL: "http://controller", Key: testKey, CAFile: ca}, "https only"},
		{Config{URL: "https://controller", Key: testKey, CAFile: ca}, "no PEM certificate"},
		{Config{URL: "https://controller", Key: testKey, CAFile: filepath.Join(t.TempDir(), "missing")}, "CAFile"},
		{Config{URL: "https://controller", Key: testKey, CAFile: ca, Transport: http.DefaultTransport}, "exclusive"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
	var logs bytes.Buffer
	newClient(t, Config{URL: "http://10.0.0.5:3233", Key: testKey, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), "clear text") {
		t.Errorf("no warning for a key over plain http to a remote host: %s", logs.String())
	}
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTLS: the controller's certificate is checked against CAFile.
func TestTLS(t *testing.T) {
	ctl := &controller{}
	s := httptest.NewUnstartedServer(ctl)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	s.StartTLS()
	defer s.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})), 0o644)
	c := newClient(t, Config{URL: s.URL, Key: testKey, CAFile: ca})
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	c = newClient(t, Config{URL: s.URL, Key: testKey})
	if err := c.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
	if n := len(ctl.log()); n != 1 {
		t.Errorf("%d requests reached the controller, want 1 (the untrusted handshake sends none)", n)
	}
}

func TestFailures(t *testing.T) {
	ctx := context.Background()
	ctl, s := newController(t)

	c := newClient(t, Config{URL: s.URL, Key: Key{UUID: testKey.UUID, Secret: "wrong"}})
	var se *StatusError
	if err := c.Health(ctx); !errors.Is(err, ErrUnauthorized) || !errors.As(err, &se) || se.Status != 401 {
		t.Errorf("wrong key: %v", err)
	}

	ctl.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		return true
	})
	c = newClient(t, Config{URL: s.URL, Key: testKey, Timeout: 50 * time.Millisecond})
	if _, err := c.Functions(ctx); err == nil || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("slow controller: %v, want a time-out", err)
	}

	ctl.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.Write([]byte(`[{"name":"` + strings.Repeat("a", 2000) + `"}]`))
		return true
	})
	if _, err := newClient(t, Config{URL: s.URL, Key: testKey, MaxResponseSize: 1000}).Functions(ctx); err == nil || !strings.Contains(err.Error(), "larger than 1000") {
		t.Errorf("oversize: %v", err)
	}

	// A controller that answers every page full never ends a listing:
	// MaxActions does.
	ctl.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.Write([]byte(`[{"name":"a"},{"name":"b"}]`))
		return true
	})
	if _, err := newClient(t, Config{URL: s.URL, Key: testKey, PageSize: 2, MaxActions: 10}).Functions(ctx); err == nil || !strings.Contains(err.Error(), "more than 10 actions") {
		t.Errorf("endless listing: %v", err)
	}

	ctl.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":"Too many requests in the last minute (count: 60, allowed: 60).","code":"z"}`))
		return true
	})
	if _, err := newClient(t, Config{URL: s.URL, Key: testKey}).Functions(ctx); !errors.Is(err, ErrThrottled) || !strings.Contains(err.Error(), "Too many requests") {
		t.Errorf("429: %v", err)
	}

	ctl.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.Write([]byte(`["guest"] x`))
		return true
	})
	if err := newClient(t, Config{URL: s.URL, Key: testKey}).Health(ctx); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("bad namespaces body: %v", err)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	c = newClient(t, Config{URL: url, Key: testKey, Timeout: time.Second})
	if _, err := c.Functions(ctx); err == nil {
		t.Error("controller down: Functions succeeded")
	}
	if err := c.Health(ctx); err == nil {
		t.Error("controller down: Health succeeded")
	}
}

// TestNoRedirect: a redirect is not followed, so the key never reaches
// another host.
func TestNoRedirect(t *testing.T) {
	other := &controller{}
	os := httptest.NewServer(other)
	defer os.Close()
	ctl, s := newController(t)
	ctl.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, os.URL+r.URL.Path, http.StatusFound)
		return true
	})
	if err := newClient(t, Config{URL: s.URL, Key: testKey}).Health(context.Background()); err == nil {
		t.Error("a redirect was taken for an answer")
	}
	if n := len(other.log()); n != 0 {
		t.Errorf("the redirect was followed: %v", other.log())
	}
}

func FuzzDecodeActions(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "actions.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`[{"name":"a","limits":{"concurrency":9223372036854775807,"instances":9223372036854775807}}]`))
	f.Add([]byte(`[{"name":"a","annotations":[{"key":"dfaas.maxrate","value":1e308}]}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := DecodeActions(data)
		if err != nil {
			return
		}
		for _, a := range as {
			fn, warns, err := Convert(a)
			if err != nil {
				continue
			}
			if fn.Name != a.Name || fn.Replicas != 1 {
				t.Fatalf("action %q became %+v", a.Name, fn)
			}
			// Every resolved setting reads back without error.
			if _, err := fn.Capacity(); err != nil {
				t.Fatalf("capacity: %v (warnings %v)", err, warns)
			}
			if _, err := fn.Timeout(); err != nil {
				t.Fatalf("timeout: %v", err)
			}
			if _, err := fn.Concurrency(); err != nil {
				t.Fatalf("concurrency: %v", err)
			}
		}
	})
}
