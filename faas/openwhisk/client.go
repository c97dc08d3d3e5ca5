package openwhisk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dfaas-go/dfaas/faas"
)

// Defaults and bounds of Config fields.
const (
	DefaultNamespace       = "_"
	DefaultTimeout         = 10 * time.Second
	DefaultMaxResponseSize = 16 << 20
	// MaxPageSize is the largest page OpenWhisk serves (its max-list-limit);
	// it is also the default page size.
	MaxPageSize = 200
	// DefaultMaxActions bounds how many actions a listing may hold.
	DefaultMaxActions = 10000
	// maxCAFileSize bounds a CA bundle.
	maxCAFileSize = 4 << 20
)

// Errors wrapped by the Client's errors.
var (
	// ErrNotFound: OpenWhisk answered 404.
	ErrNotFound = errors.New("openwhisk: not found")
	// ErrUnauthorized: OpenWhisk answered 401 or 403 (a wrong key, or a
	// namespace the key may not use).
	ErrUnauthorized = errors.New("openwhisk: unauthorized")
	// ErrThrottled: OpenWhisk answered 429 (a namespace limit).
	ErrThrottled = errors.New("openwhisk: throttled")
)

// Config configures a Client.
type Config struct {
	// URL is the controller's (or its nginx's) base URL, e.g.
	// https://openwhisk.example.org or http://127.0.0.1:3233. It may not
	// hold credentials: the key comes from Key.
	URL string
	// Namespace is the namespace whose actions are the node's functions.
	// If empty, "_" (the key's default namespace).
	Namespace string
	// Key is the namespace's API key (see ReadKeyFile). Required.
	Key Key
	// CAFile, if set, is a PEM file of the certificate authorities that
	// may sign the controller's certificate (an https URL only); else the
	// system's.
	CAFile string
	// Timeout bounds each management request (listing, health). If
	// zero, DefaultTimeout. Invocations are bounded by the Invoker.
	Timeout time.Duration
	// MaxResponseSize bounds a response body. If zero,
	// DefaultMaxResponseSize.
	MaxResponseSize int64
	// PageSize is how many actions one list request asks for (limit). If
	// zero, MaxPageSize.
	PageSize int
	// MaxActions bounds the actions one listing may return in all. If
	// zero, DefaultMaxActions.
	MaxActions int
	// Transport, if not nil, carries the requests (CAFile must then be
	// empty); default: a new http.Transport, closed by Close.
	Transport http.RoundTripper
	// Logger receives warnings about actions skipped or settings ignored.
	// If nil, they are discarded.
	Logger *slog.Logger
}

// Client talks to an OpenWhisk controller with a namespace's API key. It is
// a faas.Backend and a faas.HealthChecker, safe for concurrent use. An
// Invoker built on it invokes the actions for a proxy.
type Client struct {
	base       *url.URL
	ns         string
	key        Key
	hc         *http.Client // management requests, with Timeout
	rt         http.RoundTripper
	own        *http.Transport
	log        *slog.Logger
	maxResp    int64
	pageSize   int
	maxActions int
	routes     atomic.Pointer[map[string]route] // from the last complete listing
}

// route is how the Invoker reaches an action.
type route struct {
	ns  string // the action's namespace as listed
	web bool   // web-exported without credentials
}

// New validates cfg and returns a Client. It sends nothing.
func New(cfg Config) (*Client, error) {
	u, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	ns := cfg.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if err := validNamespace(ns); err != nil {
		return nil, fmt.Errorf("openwhisk: Namespace: %w", err)
	}
	if _, err := ParseKey(cfg.Key.Auth()); err != nil {
		return nil, fmt.Errorf("openwhisk: Key: %w", err)
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("openwhisk: negative Timeout %v", cfg.Timeout)
	case cfg.MaxResponseSize < 0:
		return nil, fmt.Errorf("openwhisk: negative MaxResponseSize %d", cfg.MaxResponseSize)
	case cfg.PageSize < 0 || cfg.PageSize > MaxPageSize:
		return nil, fmt.Errorf("openwhisk: PageSize %d not in [1, %d]", cfg.PageSize, MaxPageSize)
	case cfg.MaxActions < 0:
		return nil, fmt.Errorf("openwhisk: negative MaxActions %d", cfg.MaxActions)
	case cfg.CAFile != "" && u.Scheme != "https":
		return nil, fmt.Errorf("openwhisk: CAFile %s given for the %s URL %s: the CA applies to https only", cfg.CAFile, u.Scheme, u)
	case cfg.CAFile != "" && cfg.Transport != nil:
		return nil, errors.New("openwhisk: CAFile and Transport are exclusive: configure the CA in the Transport")
	}
	c := &Client{
		base: u, ns: ns, key: cfg.Key, log: cfg.Logger,
		maxResp:    cfg.MaxResponseSize,
		pageSize:   cfg.PageSize,
		maxActions: cfg.MaxActions,
	}
	if c.maxResp == 0 {
		c.maxResp = DefaultMaxResponseSize
	}
	if c.pageSize == 0 {
		c.pageSize = MaxPageSize
	}
	if c.maxActions == 0 {
		c.maxActions = DefaultMaxActions
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.rt = cfg.Transport
	if c.rt == nil {
		if c.own, err = newTransport(cfg.CAFile); err != nil {
			return nil, err
		}
		c.rt = c.own
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	c.hc = &http.Client{Transport: c.rt, Timeout: timeout, CheckRedirect: noRedirect}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		c.log.Warn("the OpenWhisk API key travels in clear text over http to a remote host: use https", "url", u.String())
	}
	return c, nil
}

// noRedirect keeps the key from following a redirect to another host.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openwhisk: URL %q is not an http(s) URL with a host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("openwhisk: URL %s holds credentials: give the key in a key file instead", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("openwhisk: URL %q must not have a query or fragment", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// validNamespace accepts "_" and OpenWhisk namespace names: no slash, no
// white space or control character, at most 256 bytes.
func validNamespace(ns string) error {
	if ns == "" || len(ns) > 256 {
		return fmt.Errorf("namespace %.40q is empty or longer than 256 bytes", ns)
	}
	for i := 0; i < len(ns); i++ {
		if c := ns[i]; c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '%' {
			return fmt.Errorf("namespace %q: character %q at %d not allowed", ns, c, i)
		}
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newTransport(caFile string) (*http.Transport, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCAs(caFile)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // blocking invocations wait up to a minute
		ForceAttemptHTTP2:     true,
	}, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("openwhisk: CAFile: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCAFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("openwhisk: CAFile %s: %w", path, err)
	}
	if len(data) > maxCAFileSize {
		return nil, fmt.Errorf("openwhisk: CAFile %s is larger than %d bytes", path, maxCAFileSize)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("openwhisk: CAFile %s holds no PEM certificate", path)
	}
	return pool, nil
}

// URL returns the controller's base URL.
func (c *Client) URL() string { return c.base.String() }

// Namespace returns the namespace the Client lists ("_" for the key's
// default namespace).
func (c *Client) Namespace() string { return c.ns }

// Close releases idle connections of the Client's own transport. It is
// safe to call more than once; the Client stays usable.
func (c *Client) Close() error {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
	return nil
}

// actionsPath is the path of the namespace's action collection.
func (c *Client) actionsPath() string {
	return "/api/v1/namespaces/" + url.PathEscape(c.ns) + "/actions"
}

// Functions implements faas.Backend: every action of the namespace's
// default package, listed page by page, with its DFaaS settings resolved
// (see Convert). Actions that cannot be functions are skipped with a
// warning.
func (c *Client) Functions(ctx context.Context) ([]faas.Function, error) {
	actions, err := c.Actions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]faas.Function, 0, len(actions))
	routes := make(map[string]route, len(actions))
	for _, a := range actions {
		f, warns, err := Convert(a)
		if err != nil {
			c.log.Warn("openwhisk action skipped", "err", err)
			continue
		}
		for _, w := range warns {
			c.log.Warn("openwhisk action setting ignored", "problem", w)
		}
		if _, dup := routes[f.Name]; dup {
			continue
		}
		routes[f.Name] = route{ns: a.Namespace, web: a.WebExported()}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b faas.Function) int { return strings.Compare(a.Name, b.Name) })
	c.routes.Store(&routes)
	return out, nil
}

// Actions lists the namespace's actions, PageSize at a time (limit and
// skip), until a page comes back short. It fails when more than MaxActions
// actions come back in all.
func (c *Client) Actions(ctx context.Context) ([]Action, error) {
	var all []Action
	seen := map[string]bool{}
	received := 0
	for {
		q := url.Values{"limit": {strconv.Itoa(c.pageSize)}, "skip": {strconv.Itoa(received)}}
		body, err := c.do(ctx, http.MethodGet, c.actionsPath(), q)
		if err != nil {
			return nil, err
		}
		page, err := DecodeActions(body)
		if err != nil {
			return nil, fmt.Errorf("openwhisk: GET %s (skip %d): %w", c.actionsPath(), received, err)
		}
		received += len(page)
		if received > c.maxActions {
			return nil, fmt.Errorf("openwhisk: GET %s: more than %d actions (MaxActions)", c.actionsPath(), c.maxActions)
		}
		for _, a := range page {
			// A listing that changes between pages may repeat an action.
			if id := a.Namespace + "/" + a.Name; !seen[id] {
				seen[id] = true
				all = append(all, a)
			}
		}
		if len(page) < c.pageSize {
			return all, nil
		}
	}
}

// Action returns one action of the namespace's default package. A missing
// action yields an error wrapping ErrNotFound.
func (c *Client) Action(ctx context.Context, name string) (Action, error) {
	if name == "" || strings.ContainsAny(name, "/?#%") {
		return Action{}, fmt.Errorf("openwhisk: bad action name %q", name)
	}
	p := c.actionsPath() + "/" + url.PathEscape(name)
	body, err := c.do(ctx, http.MethodGet, p, url.Values{"code": {"false"}})
	if err != nil {
		return Action{}, err
	}
	a, err := DecodeAction(body)
	if err != nil {
		return Action{}, fmt.Errorf("openwhisk: GET %s: %w", p, err)
	}
	return a, nil
}

// Namespaces lists the namespaces the key may use: GET /api/v1/namespaces.
func (c *Client) Namespaces(ctx context.Context) ([]string, error) {
	body, err := c.do(ctx, http.MethodGet, "/api/v1/namespaces", nil)
	if err != nil {
		return nil, err
	}
	var ns []string
	if err := decodeOne(body, &ns); err != nil {
		return nil, fmt.Errorf("openwhisk: GET /api/v1/namespaces: %w", err)
	}
	return ns, nil
}

// Health implements faas.HealthChecker: the namespaces list must come back
// (which checks the controller and the key at once).
func (c *Client) Health(ctx context.Context) error {
	_, err := c.Namespaces(ctx)
	return err
}

// Route says how a proxy reaches an action: through the authenticated API
// of Namespace, or, when Web, at its web-action URL without credentials.
type Route struct {
	Namespace string
	Web       bool
}

// Route returns how to reach action name as the last listing
// (Functions) saw it; an action not listed is reached through the
// authenticated API of the configured namespace. A proxy that rewrites
// requests itself (HAProxy) renders a function's backend from it.
func (c *Client) Route(name string) Route {
	r := c.route(name)
	return Route{Namespace: r.ns, Web: r.web}
}

// route returns how to reach action name: as the last listing saw it, or
// through the authenticated API in the configured namespace.
func (c *Client) route(name string) route {
	if m := c.routes.Load(); m != nil {
		if r, ok := (*m)[name]; ok {
			return r
		}
	}
	return route{ns: c.ns}
}

// do sends one authenticated management request and returns the body of a
// 200 answer.
func (c *Client) do(ctx context.Context, method, path string, q url.Values) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	what := method + " " + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("openwhisk: %s: %w", what, err)
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.key.UUID, c.key.Secret)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("openwhisk: %s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResp+1))
	if err != nil {
		return nil, fmt.Errorf("openwhisk: %s: read response: %w", what, err)
	}
	if int64(len(data)) > c.maxResp {
		return nil, fmt.Errorf("openwhisk: %s: response larger than %d bytes", what, c.maxResp)
	}
	if resp.StatusCode == http.StatusOK {
		return data, nil
	}
	return nil, &StatusError{Method: method, Path: path, Status: resp.StatusCode, Message: errorMessage(data)}
}

// StatusError is an answer of OpenWhisk with an unexpected status. It
// wraps ErrNotFound (404), ErrUnauthorized (401, 403) or ErrThrottled
// (429).
type StatusError struct {
	Method, Path string
	Status       int
	// Message is OpenWhisk's error message, or the body's start.
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("openwhisk: %s %s: status %d: %q", e.Method, e.Path, e.Status, e.Message)
}

// Unwrap returns the sentinel error of the status, if any.
func (e *StatusError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusTooManyRequests:
		return ErrThrottled
	}
	return nil
}

// errorMessage extracts the "error" of an OpenWhisk error body, or the
// body's start.
func errorMessage(data []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

// Interface guards.
var (
	_ faas.Backend       = (*Client)(nil)
	_ faas.HealthChecker = (*Client)(nil)
)
