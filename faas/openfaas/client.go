package openfaas

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
	"strconv"
	"strings"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/dfaas-go/dfaas/faas"
)

// Defaults of Config fields.
const (
	DefaultTimeout         = 5 * time.Second
	DefaultMaxResponseSize = 16 << 20
)

// EnvMaxInflight is read as a function's concurrency when no
// dfaas.concurrency label or annotation is set.
const (
	// EnvMaxInflight is the OpenFaaS watchdog's per-replica concurrency
	// limit (an environment variable of the function).
	EnvMaxInflight = "max_inflight"
)

// Config configures a Client.
type Config struct {
	// URL is the gateway's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// Namespace, if set, is sent as ?namespace= when listing functions.
	Namespace string
	// Username and Password, if set, are sent as HTTP basic auth (the
	// gateway's basic_auth=true mode; the user is usually admin).
	Username, Password string
	// Timeout bounds each request. If zero, DefaultTimeout.
	Timeout time.Duration
	// MaxResponseSize bounds a response body. If zero,
	// DefaultMaxResponseSize.
	MaxResponseSize int64
	// Transport, if not nil, carries the requests (default: a new
	// http.Transport, closed by Close).
	Transport http.RoundTripper
	// Logger receives warnings about functions whose DFaaS settings are
	// invalid. If nil, they are discarded.
	Logger *slog.Logger
}

// Client talks to an OpenFaaS gateway. It is a faas.Backend and a
// faas.HealthChecker, safe for concurrent use.
type Client struct {
	base    *url.URL
	cfg     Config
	hc      *http.Client
	own     *http.Transport
	log     *slog.Logger
	maxResp int64
}

// Errors returned by Client.
var (
	// ErrNotFound is wrapped when the gateway answers 404.
	ErrNotFound = errors.New("openfaas: not found")
	// ErrUnauthorized is wrapped when the gateway answers 401 or 403.
	ErrUnauthorized = errors.New("openfaas: unauthorized")
)

// New validates cfg and returns a Client. It sends nothing.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openfaas: URL %q is not an http(s) URL with a host", cfg.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("openfaas: URL %q must not have a query or fragment", cfg.URL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("openfaas: negative Timeout %v", cfg.Timeout)
	case cfg.MaxResponseSize < 0:
		return nil, fmt.Errorf("openfaas: negative MaxResponseSize %d", cfg.MaxResponseSize)
	case cfg.Password != "" && cfg.Username == "":
		return nil, errors.New("openfaas: Password given without Username")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Client{base: u, cfg: cfg, log: cfg.Logger, maxResp: cfg.MaxResponseSize}
	if c.maxResp == 0 {
		c.maxResp = DefaultMaxResponseSize
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	rt := cfg.Transport
	if rt == nil {
		c.own = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}
		rt = c.own
	}
	c.hc = &http.Client{Transport: rt, Timeout: cfg.Timeout}
	return c, nil
}

// URL returns the gateway's base URL.
func (c *Client) URL() string { return c.base.String() }

// Close releases idle connections of the Client's own transport. It is
// safe to call more than once; the Client stays usable.
func (c *Client) Close() error {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
	return nil
}

// Functions implements faas.Backend: GET /system/functions.
func (c *Client) Functions(ctx context.Context) ([]faas.Function, error) {
	q := url.Values{}
	if c.cfg.Namespace != "" {
		q.Set("namespace", c.cfg.Namespace)
	}
	body, err := c.do(ctx, http.MethodGet, "/system/functions", q, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	sts, err := DecodeFunctions(body)
	if err != nil {
		return nil, fmt.Errorf("openfaas: GET /system/functions: %w", err)
	}
	out := make([]faas.Function, 0, len(sts))
	for _, st := range sts {
		out = append(out, c.convert(st))
	}
	return out, nil
}

// Function returns one function: GET /system/function/{name}. A missing
// function yields an error wrapping ErrNotFound.
func (c *Client) Function(ctx context.Context, name string) (faas.Function, error) {
	if name == "" || strings.ContainsAny(name, "/?#") {
		return faas.Function{}, fmt.Errorf("openfaas: bad function name %q", name)
	}
	q := url.Values{}
	if c.cfg.Namespace != "" {
		q.Set("namespace", c.cfg.Namespace)
	}
	body, err := c.do(ctx, http.MethodGet, "/system/function/"+url.PathEscape(name), q, nil, http.StatusOK)
	if err != nil {
		return faas.Function{}, err
	}
	st, err := DecodeFunction(body)
	if err != nil {
		return faas.Function{}, fmt.Errorf("openfaas: GET /system/function/%s: %w", name, err)
	}
	return c.convert(st), nil
}

// Health implements faas.HealthChecker: GET /healthz must answer 200.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, http.StatusOK)
	return err
}

// Deploy deploys a function: POST /system/functions.
func (c *Client) Deploy(ctx context.Context, d types.FunctionDeployment) error {
	_, err := c.do(ctx, http.MethodPost, "/system/functions", nil, d, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	return err
}

// Update updates a deployed function: PUT /system/functions.
func (c *Client) Update(ctx context.Context, d types.FunctionDeployment) error {
	_, err := c.do(ctx, http.MethodPut, "/system/functions", nil, d, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	return err
}

// Delete removes a function: DELETE /system/functions.
func (c *Client) Delete(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, "/system/functions", nil,
		types.DeleteFunctionRequest{FunctionName: name, Namespace: c.cfg.Namespace}, http.StatusOK, http.StatusAccepted)
	return err
}

// Scale sets a function's replicas: POST /system/scale-function/{name}.
func (c *Client) Scale(ctx context.Context, name string, replicas uint64) error {
	if name == "" || strings.ContainsAny(name, "/?#") {
		return fmt.Errorf("openfaas: bad function name %q", name)
	}
	_, err := c.do(ctx, http.MethodPost, "/system/scale-function/"+url.PathEscape(name), nil,
		types.ScaleServiceRequest{ServiceName: name, Replicas: replicas, Namespace: c.cfg.Namespace},
		http.StatusOK, http.StatusCreated, http.StatusAccepted)
	return err
}

// do sends one request and returns the body of a response whose status is
// one of ok.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in any, ok ...int) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	what := method + " " + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("openfaas: %s: encode request: %w", what, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("openfaas: %s: %w", what, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.cfg.Username != "" {
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("openfaas: %s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResp+1))
	if err != nil {
		return nil, fmt.Errorf("openfaas: %s: read response: %w", what, err)
	}
	if int64(len(data)) > c.maxResp {
		return nil, fmt.Errorf("openfaas: %s: response larger than %d bytes", what, c.maxResp)
	}
	for _, code := range ok {
		if resp.StatusCode == code {
			return data, nil
		}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	err = fmt.Errorf("openfaas: %s: status %d: %q", what, resp.StatusCode, msg)
	switch resp.StatusCode {
	case http.StatusNotFound:
		err = fmt.Errorf("%w: %w", ErrNotFound, err)
	case http.StatusUnauthorized, http.StatusForbidden:
		err = fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return nil, err
}

// DecodeFunctions decodes the body of GET /system/functions: a JSON array
// of function statuses (null means none). It rejects anything else, such
// as an object, trailing data, or a status without a name.
func DecodeFunctions(data []byte) ([]types.FunctionStatus, error) {
	var sts []types.FunctionStatus
	if err := decodeStrict(data, &sts); err != nil {
		return nil, err
	}
	for i, st := range sts {
		if st.Name == "" {
			return nil, fmt.Errorf("function %d has no name", i)
		}
	}
	return sts, nil
}

// DecodeFunction decodes the body of GET /system/function/{name}.
func DecodeFunction(data []byte) (types.FunctionStatus, error) {
	var st types.FunctionStatus
	if err := decodeStrict(data, &st); err != nil {
		return types.FunctionStatus{}, err
	}
	if st.Name == "" {
		return types.FunctionStatus{}, errors.New("function has no name")
	}
	return st, nil
}

// decodeStrict decodes exactly one JSON value into v. Unknown fields are
// allowed: gateways add fields over time.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	if dec.More() {
		return errors.New("decode response: trailing data after the JSON value")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return errors.New("decode response: trailing data after the JSON value")
	}
	return nil
}

// convert turns a gateway function status into a faas.Function, resolving
// the DFaaS settings (see the package documentation).
func (c *Client) convert(st types.FunctionStatus) faas.Function {
	f, warns := Convert(st)
	for _, w := range warns {
		c.log.Warn("openfaas function setting ignored", "function", st.Name, "problem", w)
	}
	return f
}

// Convert turns a gateway function status into a faas.Function, resolving
// capacity, time-out and concurrency into the function's labels as the
// package documentation describes. It returns the problems found with
// settings it could not use.
func Convert(st types.FunctionStatus) (faas.Function, []string) {
	f := faas.Function{
		Name:              st.Name,
		Replicas:          clampInt(st.Replicas),
		AvailableReplicas: clampInt(st.AvailableReplicas),
		Labels:            map[string]string{},
	}
	if st.Labels != nil {
		for k, v := range *st.Labels {
			f.Labels[k] = v
		}
	}
	if st.Annotations != nil && len(*st.Annotations) > 0 {
		f.Annotations = make(map[string]string, len(*st.Annotations))
		for k, v := range *st.Annotations {
			f.Annotations[k] = v
		}
	}
	var warns []string
	setting := func(key string) (string, bool) {
		if v, ok := f.Labels[key]; ok {
			return v, true
		}
		v, ok := f.Annotations[key]
		return v, ok
	}
	for _, key := range []string{faas.LabelMaxRate, faas.LabelTimeout, faas.LabelConcurrency} {
		if v, ok := setting(key); ok {
			f.Labels[key] = v
		}
	}
	if _, ok := f.Labels[faas.LabelMaxRate]; !ok {
		if v, ok := setting(faas.LabelMaxRatePerReplica); ok {
			per, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || !(per >= 0) || per > 1e12 {
				warns = append(warns, fmt.Sprintf("%s=%q is not a non-negative number", faas.LabelMaxRatePerReplica, v))
			} else {
				f.Labels[faas.LabelMaxRate] = strconv.FormatFloat(per*float64(f.AvailableReplicas), 'f', -1, 64)
			}
		}
	}
	if _, ok := f.Labels[faas.LabelConcurrency]; !ok {
		if v, ok := st.EnvVars[EnvMaxInflight]; ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
			switch {
			case err != nil:
				warns = append(warns, fmt.Sprintf("environment %s=%q is not a whole number up to 65535", EnvMaxInflight, v))
			case n > 0 && f.AvailableReplicas > 0:
				f.Labels[faas.LabelConcurrency] = strconv.FormatUint(min(n*uint64(f.AvailableReplicas), 65535), 10)
			}
		}
	}
	if len(f.Labels) == 0 {
		f.Labels = nil
	}
	return f, warns
}

func clampInt(v uint64) int {
	const maxInt = int(^uint(0) >> 1)
	if v > uint64(maxInt) {
		return maxInt
	}
	return int(v)
}

// Interface guards.
var (
	_ faas.Backend       = (*Client)(nil)
	_ faas.HealthChecker = (*Client)(nil)
)
