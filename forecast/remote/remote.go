package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/dfaas-go/dfaas/forecast"
)

// NodeType is the hardware class the forecaster's models were trained on.
type NodeType int

// Node types, with the values the original forecaster expects.
const (
	Heavy NodeType = 0 // 6 vCPU, 24 GB in the original's lab
	Mid   NodeType = 1 // 4 vCPU, 16 GB
	Light NodeType = 2 // 2 vCPU, 8 GB
)

// Group is a class of functions by resource use; the forecaster's inputs
// are the total rates of each group.
type Group string

// Groups of the original forecaster.
const (
	High   Group = "HIGH_USAGE"
	Medium Group = "MEDIUM_USAGE"
	Low    Group = "LOW_USAGE"
)

// Metric is a quantity the forecaster predicts, named as in its API.
type Metric string

// Metrics of the original forecaster.
const (
	CPU   Metric = "cpu_usage_node"   // percent, summed over cores
	RAM   Metric = "ram_usage_node"   // bytes in use
	Power Metric = "power_usage_node" // microwatts
)

// Request is the input of a prediction. The field order is the order the
// service feeds its scaler, so it must not change.
type Request struct {
	High     float64  `json:"rate_group_HIGH_USAGE"`   // req/s of the High group
	Low      float64  `json:"rate_group_LOW_USAGE"`    // req/s of the Low group
	Medium   float64  `json:"rate_group_MEDIUM_USAGE"` // req/s of the Medium group
	NodeType NodeType `json:"node_type"`               // class of the node
}

// Validate reports whether r can be sent, naming the first bad field.
func (r Request) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"rate_group_HIGH_USAGE", r.High}, {"rate_group_LOW_USAGE", r.Low}, {"rate_group_MEDIUM_USAGE", r.Medium}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("remote: %s is %v, want a finite rate >= 0", f.name, f.v)
		}
	}
	if r.NodeType < Heavy || r.NodeType > Light {
		return fmt.Errorf("remote: node_type %d, want 0 (heavy), 1 (mid) or 2 (light)", r.NodeType)
	}
	return nil
}

// Usage is a prediction in the forecaster's units.
type Usage struct {
	CPU   float64 // percent, summed over cores
	RAM   float64 // bytes
	Power float64 // microwatts
}

// Resources converts u to forecast.Usage (cores, bytes, watts).
func (u Usage) Resources() forecast.Usage {
	return forecast.Usage{CPU: u.CPU / 100, Memory: u.RAM, Power: u.Power / 1e6}
}

// ErrResponse is wrapped by the errors for a response the client cannot
// use: a status other than 200, or a body that is not a prediction.
var ErrResponse = errors.New("remote: bad forecaster response")

// MaxResponseSize bounds the response bodies the client reads.
const MaxResponseSize = 1 << 20

// Client calls a forecaster service. It is safe for concurrent use.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// New returns a client of the forecaster at baseURL (the original's
// default is http://dfaas-forecaster:80). If hc is nil,
// http.DefaultClient is used; callers bound each call with ctx.
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("remote: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("remote: base URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, hc: hc}, nil
}

// Ready checks that the service answers GET / with status 200.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.get(ctx, "", nil)
	return err
}

// NodeUsage asks GET /node_usage for all three metrics.
func (c *Client) NodeUsage(ctx context.Context, r Request) (Usage, error) {
	if err := r.Validate(); err != nil {
		return Usage{}, err
	}
	body, err := c.get(ctx, "node_usage", r)
	if err != nil {
		return Usage{}, err
	}
	return DecodeUsage(body, CPU, RAM, Power)
}

// Predict asks GET /<metric> for one metric.
func (c *Client) Predict(ctx context.Context, m Metric, r Request) (float64, error) {
	if !slices.Contains([]Metric{CPU, RAM, Power}, m) {
		return 0, fmt.Errorf("remote: unknown metric %q (known: %s, %s, %s)", m, CPU, RAM, Power)
	}
	if err := r.Validate(); err != nil {
		return 0, err
	}
	body, err := c.get(ctx, string(m), r)
	if err != nil {
		return 0, err
	}
	u, err := DecodeUsage(body, m)
	if err != nil {
		return 0, err
	}
	switch m {
	case CPU:
		return u.CPU, nil
	case RAM:
		return u.RAM, nil
	}
	return u.Power, nil
}

// get sends GET base/path, with in as a JSON body unless nil (the service
// reads the body of GET requests), and returns the response body.
func (c *Client) get(ctx context.Context, path string, in any) ([]byte, error) {
	u := c.base.JoinPath(path)
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("remote: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote: GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("remote: GET %s: read body: %w", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: status %d: %s", ErrResponse, u.Redacted(), resp.StatusCode, snippet(b))
	}
	if len(b) > MaxResponseSize {
		return nil, fmt.Errorf("%w: GET %s: body larger than %d bytes", ErrResponse, u.Redacted(), MaxResponseSize)
	}
	return b, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// DecodeUsage decodes a prediction response, a JSON array holding one
// object with a number for each of the metrics ms, e.g.
// [{"cpu_usage_node": 123.4}]. Negative predictions (a regression model's
// artefact near zero load) become 0; a missing metric, null, a non-number
// or any other shape is an error wrapping ErrResponse.
func DecodeUsage(body []byte, ms ...Metric) (Usage, error) {
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		return Usage{}, fmt.Errorf("%w: want a JSON array of one object: %v", ErrResponse, err)
	}
	if len(rows) != 1 || rows[0] == nil {
		return Usage{}, fmt.Errorf("%w: want a JSON array of one object, got %d elements", ErrResponse, len(rows))
	}
	var u Usage
	for _, m := range ms {
		raw, ok := rows[0][string(m)]
		if !ok {
			return Usage{}, fmt.Errorf("%w: no %q in the response", ErrResponse, m)
		}
		var v *float64
		if err := json.Unmarshal(raw, &v); err != nil || v == nil {
			return Usage{}, fmt.Errorf("%w: %q is %s, want a number", ErrResponse, m, snippet(raw))
		}
		x := max(0, *v)
		switch m {
		case CPU:
			u.CPU = x
		case RAM:
			u.RAM = x
		case Power:
			u.Power = x
		default:
			return Usage{}, fmt.Errorf("remote: unknown metric %q", m)
		}
	}
	return u, nil
}

// Predictor adapts a forecaster service to forecast.ResourcePredictor: it
// sums the rates of the functions of each group, as the original agent
// does (functions in no group are ignored), and asks /node_usage.
type Predictor struct {
	// Client gives Prediction.Mean: a service running regression models.
	Client *Client
	// Upper, if not nil, gives Prediction.Upper: a service running the
	// original's quantile095 models. If nil, Upper equals Mean.
	Upper *Client
	// NodeType is the class of this node.
	NodeType NodeType
	// Groups maps function names to their group.
	Groups map[string]Group
}

// PredictResources implements forecast.ResourcePredictor.
func (p *Predictor) PredictResources(ctx context.Context, rates map[string]float64) (forecast.Prediction, error) {
	if p.Client == nil {
		return forecast.Prediction{}, errors.New("remote: Predictor has no Client")
	}
	r := Request{NodeType: p.NodeType}
	fns := make([]string, 0, len(p.Groups))
	for fn := range p.Groups {
		fns = append(fns, fn)
	}
	slices.Sort(fns) // a fixed order of float additions
	for _, fn := range fns {
		g, v := p.Groups[fn], rates[fn]
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return forecast.Prediction{}, fmt.Errorf("remote: rate of %q is %v", fn, v)
		}
		switch g {
		case High:
			r.High += v
		case Medium:
			r.Medium += v
		case Low:
			r.Low += v
		default:
			return forecast.Prediction{}, fmt.Errorf("remote: function %q in unknown group %q (known: %s, %s, %s)", fn, g, High, Medium, Low)
		}
	}
	mean, err := p.Client.NodeUsage(ctx, r)
	if err != nil {
		return forecast.Prediction{}, err
	}
	out := forecast.Prediction{Mean: mean.Resources(), Upper: mean.Resources()}
	if p.Upper != nil {
		up, err := p.Upper.NodeUsage(ctx, r)
		if err != nil {
			return forecast.Prediction{}, fmt.Errorf("remote: upper: %w", err)
		}
		u := up.Resources()
		out.Upper = forecast.Usage{CPU: max(u.CPU, out.Mean.CPU), Memory: max(u.Memory, out.Mean.Memory), Power: max(u.Power, out.Mean.Power)}
	}
	return out, nil
}

// Interface guards.
var _ forecast.ResourcePredictor = (*Predictor)(nil)
