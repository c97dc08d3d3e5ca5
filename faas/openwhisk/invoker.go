package openwhisk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dfaas-go/dfaas/strategy"
)

// Defaults of InvokerConfig fields.
const (
	// DefaultInvokeTimeout bounds an invocation: OpenWhisk's own blocking
	// wait (60 s) and a margin.
	DefaultInvokeTimeout = 70 * time.Second
	// DefaultMaxBodySize is OpenWhisk's default payload limit (1 MiB).
	DefaultMaxBodySize = 1 << 20
)

// ParamBody is the parameter that carries a request body that is not a
// JSON object, as OpenWhisk hands a raw body to a web action.
const ParamBody = "__ow_body"

// HeaderActivationID is the header OpenWhisk answers an invocation with.
const HeaderActivationID = "X-Openwhisk-Activation-Id"

// msgResponseNotReady is the error of OpenWhisk's 202 to a web action whose
// blocking wait ran out.
const msgResponseNotReady = "Response not yet ready."

// InvokerConfig configures an Invoker.
type InvokerConfig struct {
	// Client gives the controller's URL, the namespace, the key, the
	// transport, and, from its last listing (Client.Functions), which
	// actions are web actions. Required.
	Client *Client
	// Timeout bounds one invocation (the request's own deadline, if
	// sooner, wins). If zero, DefaultInvokeTimeout.
	Timeout time.Duration
	// MaxBodySize bounds a request body; larger ones get 413. If zero,
	// DefaultMaxBodySize.
	MaxBodySize int64
	// MaxResponseSize bounds an answer; larger ones become 502. If zero,
	// DefaultMaxResponseSize.
	MaxResponseSize int64
	// Logger receives per-request failures at debug level. If nil, they
	// are discarded.
	Logger *slog.Logger
}

// Invoker is the data-plane side of an OpenWhisk node: an http.Handler that
// serves /function/{name}[/...] (what a DFaaS proxy sends to its local
// FaaS) by invoking action {name}, so that a proxy pointed at it in place
// of an OpenFaaS gateway needs to know nothing of OpenWhisk.
//
//   - An action the last listing saw web-exported (and not requiring
//     credentials) is called at its web-action URL,
//     /api/v1/web/{namespace}/default/{name}.http[/...], with the user's
//     method, query, headers and body, and no credentials; its HTTP answer
//     is relayed.
//   - Any other action is invoked through the authenticated API: POST
//     /api/v1/namespaces/{namespace}/actions/{name}?blocking=true&result=true
//     with the operator's key, its parameters being the query's values
//     overridden by the fields of a JSON-object body, or a body of any other
//     text as the parameter __ow_body; the action's result is the answer
//     (application/json).
//
// The user's Authorization and Proxy-Authorization headers and the DFaaS
// headers never reach OpenWhisk; the key is added to authenticated
// invocations only; answers lose every header that could reveal
// credentials (WWW-Authenticate, Authorization, any header holding the
// key) and OpenWhisk's activation id, and an answer holding the key's
// secret is withheld (502). OpenWhisk's own API is never reachable: only
// /function/{name} is served, and {name} must be a valid DFaaS function
// name.
//
// A blocking invocation that OpenWhisk turns into an asynchronous one (202
// with an activation id, after its blocking wait) answers 504, as a
// time-out. The key being refused (401/403) answers 502; the namespace's
// limits (429) answer 429 with Retry-After.
type Invoker struct {
	c       *Client
	rt      http.RoundTripper
	timeout time.Duration
	maxBody int64
	maxResp int64
	log     *slog.Logger
}

// NewInvoker validates cfg and returns an Invoker.
func NewInvoker(cfg InvokerConfig) (*Invoker, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("openwhisk invoker: Client is required")
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("openwhisk invoker: negative Timeout %v", cfg.Timeout)
	case cfg.MaxBodySize < 0:
		return nil, fmt.Errorf("openwhisk invoker: negative MaxBodySize %d", cfg.MaxBodySize)
	case cfg.MaxResponseSize < 0:
		return nil, fmt.Errorf("openwhisk invoker: negative MaxResponseSize %d", cfg.MaxResponseSize)
	}
	iv := &Invoker{c: cfg.Client, rt: cfg.Client.rt, timeout: cfg.Timeout, maxBody: cfg.MaxBodySize, maxResp: cfg.MaxResponseSize, log: cfg.Logger}
	if iv.timeout == 0 {
		iv.timeout = DefaultInvokeTimeout
	}
	if iv.maxBody == 0 {
		iv.maxBody = DefaultMaxBodySize
	}
	if iv.maxResp == 0 {
		iv.maxResp = DefaultMaxResponseSize
	}
	if iv.log == nil {
		iv.log = slog.New(slog.DiscardHandler)
	}
	return iv, nil
}

// ServeHTTP implements http.Handler.
func (iv *Invoker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, rest, ok := splitFunctionPath(r.URL.Path)
	if !ok {
		http.Error(w, "dfaas: only /function/{name} is served here", http.StatusNotFound)
		return
	}
	if err := strategy.ValidName(name); err != nil {
		http.Error(w, "dfaas: "+err.Error(), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, iv.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("dfaas: request body larger than %d bytes", iv.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "dfaas: reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), iv.timeout)
	defer cancel()
	rt := iv.c.route(name)
	if rt.web {
		iv.serveWeb(ctx, w, r, body, name, rt.ns, rest)
		return
	}
	if rest != "" && rest != "/" {
		iv.log.Debug("path below the function ignored: the action is not a web action", "function", name, "path", rest)
	}
	iv.serveAPI(ctx, w, r, body, name, rt.ns)
}

// splitFunctionPath splits /function/{name}[/rest] and rejects a rest with
// empty, "." or ".." segments, and a path with a backslash (a separator to
// some servers).
func splitFunctionPath(p string) (name, rest string, ok bool) {
	tail, ok := strings.CutPrefix(p, "/function/")
	if !ok || strings.ContainsRune(p, '\\') {
		return "", "", false
	}
	name, rest, _ = strings.Cut(tail, "/")
	if rest != "" {
		rest = "/" + rest
		for i, seg := range strings.Split(rest[1:], "/") {
			last := i == strings.Count(rest[1:], "/")
			if seg == "." || seg == ".." || (seg == "" && !last) {
				return "", "", false
			}
		}
	}
	return name, rest, name != ""
}

// serveAPI invokes the action through the authenticated API, blocking, for
// its result.
func (iv *Invoker) serveAPI(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, name, ns string) {
	params, err := Params(r.URL.Query(), body)
	if err != nil {
		http.Error(w, "dfaas: "+err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	u := *iv.c.base
	u.Path += "/api/v1/namespaces/" + url.PathEscape(ns) + "/actions/" + url.PathEscape(name)
	u.RawQuery = "blocking=true&result=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(params))
	if err != nil {
		iv.log.Debug("OpenWhisk invocation not built", "function", name, "err", err)
		http.Error(w, fmt.Sprintf("dfaas: cannot invoke %q", name), http.StatusInternalServerError)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(iv.c.key.UUID, iv.c.key.Secret)
	status, header, data, err := iv.roundTrip(req)
	if err != nil {
		iv.unreachable(w, name, err)
		return
	}
	switch status {
	case http.StatusAccepted:
		iv.timedOut(w, name)
		return
	case http.StatusUnauthorized, http.StatusForbidden:
		iv.log.Debug("OpenWhisk refused the key", "function", name, "status", status)
		http.Error(w, fmt.Sprintf("dfaas: the FaaS platform refused this node's credentials for %q", name), http.StatusBadGateway)
		return
	case http.StatusNotFound:
		http.Error(w, fmt.Sprintf("dfaas: function %q is not deployed on the FaaS platform", name), http.StatusNotFound)
		return
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("dfaas: the FaaS platform's limits refused %q: %s", name, errorMessage(data)), http.StatusTooManyRequests)
		return
	}
	if iv.holdsKey(nil, data) {
		iv.withheld(w, name)
		return
	}
	if ct := header.Get("Content-Type"); ct != "" && !iv.holdsKey([]string{ct}, nil) {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(status)
	w.Write(data)
}

// serveWeb calls a web action with the user's request, without
// credentials, and relays its answer.
func (iv *Invoker) serveWeb(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, name, ns, rest string) {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions:
	default:
		http.Error(w, fmt.Sprintf("dfaas: method %s not allowed for web action %q", r.Method, name), http.StatusMethodNotAllowed)
		return
	}
	u := *iv.c.base
	// The explicit .http extension keeps a name with a dot from being
	// read as a name and an extension.
	u.Path += "/api/v1/web/" + ns + "/default/" + name + ".http" + rest
	u.RawQuery = r.URL.RawQuery
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		iv.log.Debug("OpenWhisk invocation not built", "function", name, "err", err)
		http.Error(w, fmt.Sprintf("dfaas: cannot invoke %q", name), http.StatusInternalServerError)
		return
	}
	for k, vs := range r.Header {
		if !requestHeaderDropped(k) {
			req.Header[k] = vs
		}
	}
	status, header, data, err := iv.roundTrip(req)
	if err != nil {
		iv.unreachable(w, name, err)
		return
	}
	if status == http.StatusAccepted && errorMessage(data) == msgResponseNotReady {
		// OpenWhisk's own 202, not the action's: its wait ran out.
		iv.timedOut(w, name)
		return
	}
	if iv.holdsKey(nil, data) {
		iv.withheld(w, name)
		return
	}
	for k, vs := range header {
		if !responseHeaderDropped(k) && !iv.holdsKey(vs, nil) {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(status)
	w.Write(data)
}

// roundTrip sends req and reads the whole answer, bounded.
func (iv *Invoker) roundTrip(req *http.Request) (int, http.Header, []byte, error) {
	resp, err := iv.rt.RoundTrip(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, iv.maxResp+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read answer: %w", err)
	}
	if int64(len(data)) > iv.maxResp {
		return 0, nil, nil, fmt.Errorf("answer larger than %d bytes", iv.maxResp)
	}
	return resp.StatusCode, resp.Header, data, nil
}

func (iv *Invoker) unreachable(w http.ResponseWriter, name string, err error) {
	iv.log.Debug("OpenWhisk invocation failed", "function", name, "err", err)
	if errors.Is(err, context.DeadlineExceeded) {
		iv.timedOut(w, name)
		return
	}
	http.Error(w, fmt.Sprintf("dfaas: the FaaS platform is unreachable for %q", name), http.StatusBadGateway)
}

func (iv *Invoker) timedOut(w http.ResponseWriter, name string) {
	http.Error(w, fmt.Sprintf("dfaas: function %q did not answer in time", name), http.StatusGatewayTimeout)
}

func (iv *Invoker) withheld(w http.ResponseWriter, name string) {
	iv.log.Warn("an OpenWhisk answer held the API key's secret; withheld", "function", name)
	http.Error(w, fmt.Sprintf("dfaas: the answer of %q was withheld", name), http.StatusBadGateway)
}

// holdsKey reports whether any of vals or data contains the key's secret.
func (iv *Invoker) holdsKey(vals []string, data []byte) bool {
	s := iv.c.key.Secret
	for _, v := range vals {
		if strings.Contains(v, s) {
			return true
		}
	}
	return len(data) > 0 && bytes.Contains(data, []byte(s))
}

// requestHeaderDropped lists the user's headers that never reach
// OpenWhisk: credentials, hop-by-hop headers, and the DFaaS headers.
func requestHeaderDropped(k string) bool {
	k = http.CanonicalHeaderKey(k)
	switch k {
	case "Authorization", "Proxy-Authorization", "Connection", "Keep-Alive", "Proxy-Connection",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length":
		return true
	}
	return strings.HasPrefix(k, "Dfaas-")
}

// responseHeaderDropped lists the headers of OpenWhisk's answers that never
// reach the user.
func responseHeaderDropped(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Authorization", "Proxy-Authorization", "Www-Authenticate", "Proxy-Authenticate",
		HeaderActivationID, "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Content-Length":
		return true
	}
	return false
}

// Params builds the JSON parameters of an invocation through the API from
// a request: the query's values (the first of each name, as strings),
// overridden by the fields of a body that is a JSON object; a body of any
// other UTF-8 text becomes the parameter __ow_body. A body that is not
// UTF-8 text is an error (a web action takes any body).
func Params(q url.Values, body []byte) ([]byte, error) {
	params := make(map[string]json.RawMessage, len(q))
	for k, vs := range q {
		if len(vs) > 0 {
			v, _ := json.Marshal(vs[0])
			params[k] = v
		}
	}
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
	case trimmed[0] == '{' && json.Valid(trimmed):
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &fields); err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		for k, v := range fields {
			params[k] = v
		}
	case utf8.Valid(body):
		v, _ := json.Marshal(string(body))
		params[ParamBody] = v
	default:
		return nil, errors.New("a request body that is neither a JSON object nor UTF-8 text needs a web action")
	}
	return json.Marshal(params)
}

// Interface guard.
var _ http.Handler = (*Invoker)(nil)
