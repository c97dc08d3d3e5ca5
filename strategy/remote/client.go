package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// Version is the version of the observation this package sends.
const Version = 1

// Observation is what the node tells the model: the strategy snapshot in a
// stable JSON form. Rates are req/s, durations milliseconds.
type Observation struct {
	// Version is Version.
	Version int `json:"version"`
	// Self is the node asking.
	Self strategy.NodeID `json:"self"`
	// Time is the snapshot's time.
	Time time.Time `json:"time"`
	// PeriodMs is the control period, over which the rates were measured.
	PeriodMs float64 `json:"period_ms"`
	// Functions are the node's functions and those its neighbours run.
	Functions []Function `json:"functions"`
	// Neighbours are the nodes it may forward to.
	Neighbours []Neighbour `json:"neighbours"`
	// Resources is the node's resource usage.
	Resources strategy.Resources `json:"resources"`
	// Applied is the decision in force, as advice.
	Applied map[string]strategy.AdviceRoute `json:"applied"`
}

// Function is one function as the node observed it over the last period;
// the fields mean what those of strategy.Function mean.
type Function struct {
	Name           string  `json:"name"`
	Deployed       bool    `json:"deployed"`
	Capacity       float64 `json:"capacity"`
	Concurrency    int     `json:"concurrency"`
	Replicas       int     `json:"replicas"`
	Offered        float64 `json:"offered"`
	Forecast       float64 `json:"forecast"`
	Local          float64 `json:"local"`
	FromNeighbours float64 `json:"from_neighbours"`
	Forwarded      float64 `json:"forwarded"`
	Rejected       float64 `json:"rejected"`
	Failed         float64 `json:"failed"`
	LatencyMs      float64 `json:"latency_ms"`
}

// Neighbour is a node requests may be forwarded to, with its latest
// announcement.
type Neighbour struct {
	// ID is the neighbour's ID.
	ID strategy.NodeID `json:"id"`
	// AgeMs is the age of its latest announcement.
	AgeMs float64 `json:"age_ms"`
	// RTTMs is the link's round-trip time (0 when unknown).
	RTTMs float64 `json:"rtt_ms"`
	// Functions and Resources are what it announced.
	Functions []strategy.FunctionState `json:"functions"`
	Resources strategy.Resources       `json:"resources"`
}

// NewObservation builds the observation of snapshot s.
func NewObservation(s strategy.Snapshot) Observation {
	o := Observation{
		Version:    Version,
		Self:       s.Self,
		Time:       s.Now,
		PeriodMs:   ms(s.Period),
		Functions:  []Function{},
		Neighbours: []Neighbour{},
		Resources:  s.Resources,
		Applied:    map[string]strategy.AdviceRoute{},
	}
	for _, f := range s.Functions {
		o.Functions = append(o.Functions, Function{
			Name: f.Name, Deployed: f.Deployed, Capacity: f.Capacity, Concurrency: f.Concurrency, Replicas: f.Replicas,
			Offered: f.Offered, Forecast: f.Forecast, Local: f.Local, FromNeighbours: f.FromNeighbours,
			Forwarded: f.Forwarded, Rejected: f.Rejected, Failed: f.Failed, LatencyMs: ms(f.Latency),
		})
	}
	for _, n := range s.Neighbours {
		fs := n.Announcement.Functions
		if fs == nil {
			fs = []strategy.FunctionState{}
		}
		o.Neighbours = append(o.Neighbours, Neighbour{ID: n.ID, AgeMs: ms(n.Age), RTTMs: ms(n.RTT), Functions: fs, Resources: n.Announcement.Resources})
	}
	for _, r := range s.Prev.Routes {
		ar := strategy.AdviceRoute{Local: r.Local, Reject: r.Reject}
		for _, sh := range r.Forward {
			if ar.Forward == nil {
				ar.Forward = map[strategy.NodeID]float64{}
			}
			ar.Forward[sh.Node] = sh.Share
		}
		o.Applied[r.Function] = ar
	}
	return o
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Client asks a model served over HTTP for advice. It is safe for
// concurrent use.
type Client struct {
	url    *url.URL
	client *http.Client
}

// Options configure a Client. The zero value is valid.
type Options struct {
	// HTTPClient sends the requests. If nil, a client without a time-out
	// of its own (the agent's deadline bounds each call).
	HTTPClient *http.Client
}

// New returns a client of the model at rawURL (http or https).
func New(rawURL string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote: model URL %q is not an http(s) URL with a host", rawURL)
	}
	c := &Client{url: u, client: opts.HTTPClient}
	if c.client == nil {
		c.client = &http.Client{}
	}
	return c, nil
}

// ErrModel is wrapped by errors about the model's answer.
var ErrModel = errors.New("remote: bad answer from the model")

// Advise implements strategy.Advisor: it POSTs the observation of s and
// returns the model's advice, checked strictly and re-encoded.
func (c *Client) Advise(ctx context.Context, s strategy.Snapshot) (json.RawMessage, error) {
	body, err := json.Marshal(NewObservation(s))
	if err != nil {
		return nil, fmt.Errorf("remote: encode observation: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, strategy.MaxAdviceLen+1))
	if err != nil {
		return nil, fmt.Errorf("remote: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %s: %.200s", ErrModel, resp.Status, data)
	}
	return DecodeAdvice(data)
}

// DecodeAdvice checks a model's answer strictly (strategy.ParseAdvice)
// and returns it re-encoded in canonical form.
func DecodeAdvice(data []byte) (json.RawMessage, error) {
	a, err := strategy.ParseAdvice(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	out, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	return out, nil
}

// Interface guards.
var _ strategy.Advisor = (*Client)(nil)
