package prometheus

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
	var r Reading
	fns := map[string]*FunctionReading{}
	nbs := map[string]map[string]*metricsrc.NeighbourRates{}
	fn := func(name string) *FunctionReading {
		if f := fns[name]; f != nil {
			return f
		}
		f := &FunctionReading{Name: name}
		fns[name] = f
		return f
	}
	var proxySecs, proxyCount, gwSecs, gwCount = map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
	var memTotal, memAvail float64
	var haveTotal, haveAvail bool
	for _, smp := range vec {
		if smp == nil {
			continue
		}
		v := float64(smp.Value)
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			continue
		}
		m := smp.Metric
		q := string(m[QueryLabel])
		name := string(m["function"])
		gwName := string(m["function_name"])
		if namespace != "" {
			gwName = strings.TrimSuffix(gwName, "."+namespace)
		}
		if gwName == "" {
			gwName = actionName(m) // OpenWhisk's series
		}
		switch q {
		case qOffered, qLocal, qReceived, qForwarded, qRejected, qFailed:
			if name == "" {
				continue
			}
			f := fn(name)
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
			if name == "" || id == "" {
				continue
			}
			fn(name).HasProxy = true
			if nbs[name] == nil {
				nbs[name] = map[string]*metricsrc.NeighbourRates{}
			}
			nr := nbs[name][id]
			if nr == nil {
				nr = &metricsrc.NeighbourRates{ID: id}
				nbs[name][id] = nr
			}
			if q == qNbForwarded {
				nr.Forwarded = v
			} else {
				nr.Received = v
			}
		case qProxySecs, qProxyCount:
			if name == "" {
				continue
			}
			fn(name).HasProxy = true
			if q == qProxySecs {
				proxySecs[name] = v
			} else {
				proxyCount[name] = v
			}
		case qGwInvoked:
			if gwName == "" {
				continue
			}
			f := fn(gwName)
			f.HasGateway = true
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
			if gwName == "" {
				continue
			}
			f := fn(gwName)
			f.HasGateway = true
			f.Invocations = addRate(f.Invocations, v)
		case qOwStatus:
			if gwName == "" {
				continue
			}
			f := fn(gwName)
			f.HasGateway = true
			if m["status"] == "success" {
				f.Success = addRate(f.Success, v)
			} else {
				f.Errors = addRate(f.Errors, v)
			}
		case qGwSecs, qGwCount:
			if gwName == "" {
				continue
			}
			fn(gwName).HasGateway = true
			if q == qGwSecs {
				gwSecs[gwName] = v
			} else {
				gwCount[gwName] = v
			}
		case qCPUBusy:
			r.Node.CPU = v
		case qCPUCores:
			r.Node.CPUCores = v
		case qMemTotal:
			memTotal, haveTotal = v, true
		case qMemAvailable:
			memAvail, haveAvail = v, true
		case qAgentUp:
			r.AgentUp = v == 1
		case qGatewayUp:
			r.GatewayUp = v == 1
		case qNodeUp:
			r.NodeUp = v == 1
		}
	}
	if haveTotal {
		r.Node.MemoryTotal = memTotal
		if haveAvail && memAvail <= memTotal {
			r.Node.Memory = memTotal - memAvail
		}
	}
	mean := func(sum, count float64) time.Duration {
		if count <= 0 || sum <= 0 {
			return 0
		}
		d := sum / count * float64(time.Second)
		if d >= math.MaxInt64 {
			return 0
		}
		return time.Duration(d)
	}
	for name, f := range fns {
		f.Proxy.Latency = mean(proxySecs[name], proxyCount[name])
		f.Latency = mean(gwSecs[name], gwCount[name])
		for _, nr := range nbs[name] {
			f.Proxy.Neighbours = append(f.Proxy.Neighbours, *nr)
		}
		slices.SortFunc(f.Proxy.Neighbours, func(a, b metricsrc.NeighbourRates) int { return strings.Compare(a.ID, b.ID) })
		r.Functions = append(r.Functions, *f)
	}
	slices.SortFunc(r.Functions, func(a, b FunctionReading) int { return strings.Compare(a.Name, b.Name) })
	return r
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
