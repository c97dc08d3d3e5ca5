package promsrc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/dfaas-go/dfaas/metricsrc"
)

// Defaults of Config fields.
const (
	DefaultScrapeInterval = 5 * time.Second
	DefaultTimeout        = 5 * time.Second
)

// Default selectors, matching the job names of the example Prometheus
// configuration in docs/openfaas-prometheus.md.
func defaultSelectors() (agent, gateway, node Selectors) {
	return Selectors{"job": "dfaas-agent"}, Selectors{"job": "openfaas-gateway"}, Selectors{"job": "node"}
}

// Config configures a Source.
type Config struct {
	// URL is Prometheus's base URL, e.g. http://127.0.0.1:9090.
	URL string
	// ScrapeInterval is the interval at which Prometheus scrapes the
	// targets; the query range spans at least MinRangeScrapes of them.
	// If zero, DefaultScrapeInterval.
	ScrapeInterval time.Duration
	// Agent, Gateway and Node select the scrape targets of this node's
	// agent, FaaS gateway and node_exporter. A nil map means the default
	// (job="dfaas-agent", job="openfaas-gateway", job="node"); add an
	// instance matcher when one Prometheus scrapes several nodes.
	Agent, Gateway, Node Selectors
	// Namespace, if set, is removed from the gateway's function names
	// ("figlet.openfaas-fn" is function "figlet"); with SeriesOpenWhisk,
	// only the actions of this namespace count (all when "_").
	Namespace string
	// Series says which platform's per-function series the Gateway target
	// holds: SeriesOpenFaaS (the default) or SeriesOpenWhisk (then a nil
	// Gateway means DefaultOpenWhiskSelectors).
	Series Series
	// Timeout bounds each query. If zero, DefaultTimeout.
	Timeout time.Duration
	// Transport, if not nil, carries the requests (default: a new
	// http.Transport, closed by Close).
	Transport http.RoundTripper
}

// Source is a metricsrc.Source over the Prometheus HTTP API. It is safe for
// concurrent use.
type Source struct {
	api     v1.API
	qc      QueryConfig
	scrape  time.Duration
	timeout time.Duration
	ns      string
	own     *http.Transport
}

// ErrNoAgentTarget is wrapped when Prometheus has no up series for the
// agent's selector, or reports the target down: the proxy's counters there
// would be missing or stale.
var ErrNoAgentTarget = errors.New("prometheus: agent scrape target absent or down")

// New validates cfg and returns a Source. It sends nothing.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus: URL %q is not an http(s) URL with a host", cfg.URL)
	}
	switch {
	case cfg.ScrapeInterval < 0:
		return nil, fmt.Errorf("prometheus: negative ScrapeInterval %v", cfg.ScrapeInterval)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("prometheus: negative Timeout %v", cfg.Timeout)
	}
	if err := validSeries(cfg.Series); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	da, dg, dn := defaultSelectors()
	if cfg.Series == SeriesOpenWhisk {
		dg = DefaultOpenWhiskSelectors()
	}
	orDefault := func(s, def Selectors) Selectors {
		if s == nil {
			return def
		}
		return s
	}
	qc := QueryConfig{Agent: orDefault(cfg.Agent, da), Gateway: orDefault(cfg.Gateway, dg), Node: orDefault(cfg.Node, dn), Series: cfg.Series}
	if cfg.Series == SeriesOpenWhisk {
		qc.Namespace = cfg.Namespace
	}
	for name, s := range map[string]Selectors{"Agent": qc.Agent, "Gateway": qc.Gateway, "Node": qc.Node} {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("prometheus: %s selectors: %w", name, err)
		}
	}
	s := &Source{qc: qc, scrape: cmp.Or(cfg.ScrapeInterval, DefaultScrapeInterval), timeout: cmp.Or(cfg.Timeout, DefaultTimeout), ns: cfg.Namespace}
	rt := cfg.Transport
	if rt == nil {
		s.own = &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second}
		rt = s.own
	}
	c, err := api.NewClient(api.Config{Address: strings.TrimSuffix(cfg.URL, "/"), RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	s.api = v1.NewAPI(c)
	return s, nil
}

// Close releases idle connections of the Source's own transport. It is safe
// to call more than once.
func (s *Source) Close() error {
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
	return nil
}

// Reading is everything one query returns.
type Reading struct {
	// Time is the evaluation time; Range the rate() range.
	Time  time.Time
	Range time.Duration
	// Functions are sorted by name.
	Functions []FunctionReading
	Node      metricsrc.NodeUsage
	// The up state of the scrape targets (false also when absent).
	AgentUp, GatewayUp, NodeUp bool
}

// FunctionReading is what Prometheus knows of one function.
type FunctionReading struct {
	Name string
	// Proxy are the rates from the agent's proxy counters; HasProxy
	// whether any exist.
	Proxy    metricsrc.FunctionRates
	HasProxy bool
	// From the gateway (HasGateway whether it reports the function):
	// invocation rate over all codes, successes (2xx), refusals (429),
	// errors (5xx), and mean duration of successes.
	Invocations, Success, Refused, Errors float64
	Latency                               time.Duration
	HasGateway                            bool
}

// Read queries Prometheus for the window ending at now.
func (s *Source) Read(ctx context.Context, now time.Time, window time.Duration) (Reading, error) {
	if window < 0 {
		return Reading{}, fmt.Errorf("prometheus: negative window %v", window)
	}
	rng := Range(window, s.scrape)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	val, _, _, err := s.api.Query(ctx, Query(s.qc, rng), now, v1.WithTimeout(s.timeout))
	if err != nil {
		return Reading{}, fmt.Errorf("prometheus: query: %w", err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return Reading{}, fmt.Errorf("prometheus: query returned a %s, want a vector", val.Type())
	}
	r := Decode(vec, s.ns)
	r.Time, r.Range = now, rng
	if !r.AgentUp {
		return r, fmt.Errorf("%w (selector {%s})", ErrNoAgentTarget, s.qc.Agent.matchers())
	}
	return r, nil
}

// Sample implements metricsrc.Source. Its Window is the query range, which
// may be longer than window (see Range).
func (s *Source) Sample(ctx context.Context, now time.Time, window time.Duration) (metricsrc.Sample, error) {
	r, err := s.Read(ctx, now, window)
	if err != nil {
		return metricsrc.Sample{}, err
	}
	return r.Sample(), nil
}

// Sample maps a Reading onto a metricsrc.Sample (see the package
// documentation).
func (r Reading) Sample() metricsrc.Sample {
	s := metricsrc.Sample{Time: r.Time, Window: r.Range, Node: r.Node}
	for _, f := range r.Functions {
		fr := f.Proxy
		fr.Name = f.Name
		if f.HasGateway {
			fr.Local = f.Invocations
			if f.Latency > 0 {
				fr.Latency = f.Latency
			}
		}
		s.Functions = append(s.Functions, fr)
	}
	return s
}

// Decode turns the result of Query into a Reading, removing the suffix
// "."+namespace from gateway function names when namespace is set. Series
// with unknown tags, missing labels, or values that are not finite and
// non-negative are ignored.
func Decode(vec model.Vector, namespace string) Reading {
	d := decoder{
		namespace:  namespace,
		fns:        map[string]*FunctionReading{},
		nbs:        map[string]map[string]*metricsrc.NeighbourRates{},
		proxySecs:  map[string]float64{},
		proxyCount: map[string]float64{},
		gwSecs:     map[string]float64{},
		gwCount:    map[string]float64{},
	}
	for _, smp := range vec {
		if smp == nil {
			continue
		}
		v := float64(smp.Value)
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			continue
		}
		d.add(smp.Metric, v)
	}
	return d.reading()
}

// decoder accumulates the series of one query result (see Decode).
type decoder struct {
	namespace string
	r         Reading
	fns       map[string]*FunctionReading
	nbs       map[string]map[string]*metricsrc.NeighbourRates // by function, neighbour

	// Sums and counts of durations, in seconds, by function.
	proxySecs, proxyCount, gwSecs, gwCount map[string]float64

	memTotal, memAvail   float64
	haveTotal, haveAvail bool
}

// fn returns the reading of function name, adding it if new.
func (d *decoder) fn(name string) *FunctionReading {
	if f := d.fns[name]; f != nil {
		return f
	}
	f := &FunctionReading{Name: name}
	d.fns[name] = f
	return f
}

// add accounts for one series with the finite non-negative value v.
func (d *decoder) add(m model.Metric, v float64) {
	switch q := string(m[QueryLabel]); q {
	case qOffered, qLocal, qReceived, qForwarded, qRejected, qFailed,
		qNbForwarded, qNbReceived, qProxySecs, qProxyCount:
		d.addProxy(q, m, v)
	case qGwInvoked, qOwActivations, qOwStatus, qGwSecs, qGwCount:
		d.addGateway(q, m, v)
	default:
		d.addNode(q, v)
	}
}

// addProxy accounts for a series from the agent's proxy counters.
func (d *decoder) addProxy(q string, m model.Metric, v float64) {
	name := string(m["function"])
	if name == "" {
		return
	}
	switch q {
	case qOffered, qLocal, qReceived, qForwarded, qRejected, qFailed:
		f := d.fn(name)
		f.HasProxy = true
		switch q {
		case qOffered:
			f.Proxy.Offered = v
		case qLocal:
			f.Proxy.Local = v
		case qReceived:
			f.Proxy.FromNeighbours = v
		case qForwarded:
			f.Proxy.Forwarded = v
		case qRejected:
			f.Proxy.Rejected = v
		case qFailed:
			f.Proxy.Failed = v
		}
	case qNbForwarded, qNbReceived:
		id := string(m["neighbour"])
		if id == "" {
			return
		}
		d.fn(name).HasProxy = true
		if d.nbs[name] == nil {
			d.nbs[name] = map[string]*metricsrc.NeighbourRates{}
		}
		nr := d.nbs[name][id]
		if nr == nil {
			nr = &metricsrc.NeighbourRates{ID: id}
			d.nbs[name][id] = nr
		}
		if q == qNbForwarded {
			nr.Forwarded = v
		} else {
			nr.Received = v
		}
	case qProxySecs, qProxyCount:
		d.fn(name).HasProxy = true
		if q == qProxySecs {
			d.proxySecs[name] = v
		} else {
			d.proxyCount[name] = v
		}
	}
}

// addGateway accounts for a series from the FaaS gateway (OpenFaaS or
// OpenWhisk).
func (d *decoder) addGateway(q string, m model.Metric, v float64) {
	name := string(m["function_name"])
	if d.namespace != "" {
		name = strings.TrimSuffix(name, "."+d.namespace)
	}
	if name == "" {
		name = actionName(m) // OpenWhisk's series
	}
	if name == "" {
		return
	}
	f := d.fn(name)
	f.HasGateway = true
	switch q {
	case qGwInvoked:
		f.Invocations = addRate(f.Invocations, v)
		code := string(m["code"])
		switch {
		case strings.HasPrefix(code, "2"):
			f.Success = addRate(f.Success, v)
		case code == "429":
			f.Refused = addRate(f.Refused, v)
		case strings.HasPrefix(code, "5"):
			f.Errors = addRate(f.Errors, v)
		}
	case qOwActivations:
		f.Invocations = addRate(f.Invocations, v)
	case qOwStatus:
		if m["status"] == "success" {
			f.Success = addRate(f.Success, v)
		} else {
			f.Errors = addRate(f.Errors, v)
		}
	case qGwSecs:
		d.gwSecs[name] = v
	case qGwCount:
		d.gwCount[name] = v
	}
}

// addNode accounts for a series about the node or the targets' health.
func (d *decoder) addNode(q string, v float64) {
	switch q {
	case qCPUBusy:
		d.r.Node.CPU = v
	case qCPUCores:
		d.r.Node.CPUCores = v
	case qMemTotal:
		d.memTotal, d.haveTotal = v, true
	case qMemAvailable:
		d.memAvail, d.haveAvail = v, true
	case qAgentUp:
		d.r.AgentUp = v == 1
	case qGatewayUp:
		d.r.GatewayUp = v == 1
	case qNodeUp:
		d.r.NodeUp = v == 1
	}
}

// reading completes the Reading: memory in use, mean latencies, and the
// functions and neighbours in name order.
func (d *decoder) reading() Reading {
	r := d.r
	if d.haveTotal {
		r.Node.MemoryTotal = d.memTotal
		if d.haveAvail && d.memAvail <= d.memTotal {
			r.Node.Memory = d.memTotal - d.memAvail
		}
	}
	for name, f := range d.fns {
		f.Proxy.Latency = meanDuration(d.proxySecs[name], d.proxyCount[name])
		f.Latency = meanDuration(d.gwSecs[name], d.gwCount[name])
		for _, nr := range d.nbs[name] {
			f.Proxy.Neighbours = append(f.Proxy.Neighbours, *nr)
		}
		slices.SortFunc(f.Proxy.Neighbours, func(a, b metricsrc.NeighbourRates) int { return strings.Compare(a.ID, b.ID) })
		r.Functions = append(r.Functions, *f)
	}
	slices.SortFunc(r.Functions, func(a, b FunctionReading) int { return strings.Compare(a.Name, b.Name) })
	return r
}

// meanDuration returns the mean duration of count events lasting sum
// seconds in all, or 0 when unknown or out of range.
func meanDuration(sum, count float64) time.Duration {
	if count <= 0 || sum <= 0 {
		return 0
	}
	d := sum / count * float64(time.Second)
	if d >= math.MaxInt64 {
		return 0
	}
	return time.Duration(d)
}

// addRate adds two finite non-negative rates, saturating at the largest
// float64 instead of overflowing to +Inf.
func addRate(a, b float64) float64 {
	if s := a + b; !math.IsInf(s, 0) {
		return s
	}
	return math.MaxFloat64
}

// Interface guards.
var _ metricsrc.Source = (*Source)(nil)
