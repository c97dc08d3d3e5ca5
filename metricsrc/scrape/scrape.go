package scrape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dfaas-go/dfaas/metricsrc"
)

// Defaults.
const (
	DefaultTimeout = 5 * time.Second
	// MaxBodySize bounds a scraped /metrics page.
	MaxBodySize = 32 << 20
)

// Target scrapes one /metrics URL.
type Target struct {
	url     string
	hc      *http.Client
	timeout time.Duration
}

// NewTarget returns a Target for the http(s) URL of a /metrics page; each
// scrape is bounded by timeout (DefaultTimeout if zero). rt carries the
// requests (http.DefaultTransport if nil).
func NewTarget(rawURL string, timeout time.Duration, rt http.RoundTripper) (*Target, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("scrape: URL %q is not an http(s) URL with a host", rawURL)
	}
	if timeout < 0 {
		return nil, fmt.Errorf("scrape: negative timeout %v", timeout)
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &Target{url: rawURL, hc: &http.Client{Transport: rt, Timeout: timeout}, timeout: timeout}, nil
}

// URL returns the scraped URL.
func (t *Target) URL() string { return t.url }

// Scrape fetches and parses the page.
func (t *Target) Scrape(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", t.url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1")
	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", t.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", t.url, resp.StatusCode)
	}
	fams, err := Parse(io.LimitReader(resp.Body, MaxBodySize))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", t.url, err)
	}
	return fams, nil
}

// Parse parses a page in the Prometheus text format.
func Parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// Gateway reads the per-function counters of an OpenFaaS gateway (or dfaas
// faas) from its /metrics page, as a metricsrc.TotalsReader: Local counts
// invocations of every status, Failed those answered 429 or 5xx, and
// LatencySeconds/LatencyCount the time of the successful (2xx) ones.
type Gateway struct {
	t  *Target
	ns string
}

// NewGateway returns a Gateway over t, removing "."+namespace from function
// names when namespace is set.
func NewGateway(t *Target, namespace string) *Gateway { return &Gateway{t: t, ns: namespace} }

// Totals implements metricsrc.TotalsReader.
func (g *Gateway) Totals(ctx context.Context) (metricsrc.Totals, error) {
	fams, err := g.t.Scrape(ctx)
	if err != nil {
		return metricsrc.Totals{}, err
	}
	return GatewayTotals(fams, g.ns), nil
}

// GatewayTotals extracts the gateway's function counters from a page.
func GatewayTotals(fams map[string]*dto.MetricFamily, namespace string) metricsrc.Totals {
	fns := map[string]*metricsrc.FunctionTotals{}
	get := func(m *dto.Metric) (*metricsrc.FunctionTotals, string) {
		var name, code string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "function_name":
				name = l.GetValue()
			case "code":
				code = l.GetValue()
			}
		}
		if namespace != "" {
			name = strings.TrimSuffix(name, "."+namespace)
		}
		if name == "" {
			return nil, ""
		}
		f := fns[name]
		if f == nil {
			f = &metricsrc.FunctionTotals{Name: name}
			fns[name] = f
		}
		return f, code
	}
	if mf := fams["gateway_function_invocation_total"]; mf != nil && mf.GetType() == dto.MetricType_COUNTER {
		for _, m := range mf.GetMetric() {
			f, code := get(m)
			v := count(m.GetCounter().GetValue())
			if f == nil {
				continue
			}
			f.Local += v
			if code == "429" || strings.HasPrefix(code, "5") {
				f.Failed += v
			}
		}
	}
	if mf := fams["gateway_functions_seconds"]; mf != nil && mf.GetType() == dto.MetricType_HISTOGRAM {
		for _, m := range mf.GetMetric() {
			f, code := get(m)
			if f == nil || !strings.HasPrefix(code, "2") {
				continue
			}
			h := m.GetHistogram()
			if s := h.GetSampleSum(); s > 0 && !math.IsInf(s, 0) {
				f.LatencySeconds += s
			}
			f.LatencyCount += h.GetSampleCount()
		}
	}
	t := metricsrc.Totals{}
	for _, f := range fns {
		t.Functions = append(t.Functions, *f)
	}
	slices.SortFunc(t.Functions, func(a, b metricsrc.FunctionTotals) int { return strings.Compare(a.Name, b.Name) })
	return t
}

// count turns a counter value into a whole count (negative, NaN and
// out-of-range values count as 0).
func count(v float64) uint64 {
	if !(v >= 0) || v >= math.MaxUint64 {
		return 0
	}
	return uint64(v)
}

// NodeExporter reads a host's CPU time and memory from node_exporter's
// /metrics page, as a metricsrc.TotalsReader of node totals.
type NodeExporter struct{ t *Target }

// NewNodeExporter returns a NodeExporter over t.
func NewNodeExporter(t *Target) *NodeExporter { return &NodeExporter{t: t} }

// Totals implements metricsrc.TotalsReader.
func (n *NodeExporter) Totals(ctx context.Context) (metricsrc.Totals, error) {
	fams, err := n.t.Scrape(ctx)
	if err != nil {
		return metricsrc.Totals{}, err
	}
	node, err := NodeTotals(fams)
	if err != nil {
		return metricsrc.Totals{}, fmt.Errorf("scrape %s: %w", n.t.url, err)
	}
	return metricsrc.Totals{Node: node}, nil
}

// NodeTotals extracts busy CPU seconds (all modes but idle and iowait,
// summed over cores), cores, and memory from a node_exporter page.
func NodeTotals(fams map[string]*dto.MetricFamily) (metricsrc.NodeTotals, error) {
	var n metricsrc.NodeTotals
	cpu := fams["node_cpu_seconds_total"]
	if cpu == nil {
		return n, errors.New("no node_cpu_seconds_total")
	}
	cores := map[string]bool{}
	for _, m := range cpu.GetMetric() {
		var c, mode string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "cpu":
				c = l.GetValue()
			case "mode":
				mode = l.GetValue()
			}
		}
		v := m.GetCounter().GetValue()
		if !(v >= 0) || math.IsInf(v, 0) {
			continue
		}
		cores[c] = true
		if mode != "idle" && mode != "iowait" {
			n.CPUSeconds += v
		}
	}
	n.CPUCores = float64(len(cores))
	gauge := func(name string) (float64, bool) {
		mf := fams[name]
		if mf == nil || len(mf.GetMetric()) == 0 {
			return 0, false
		}
		v := mf.GetMetric()[0].GetGauge().GetValue()
		return v, v >= 0 && !math.IsInf(v, 0)
	}
	total, okT := gauge("node_memory_MemTotal_bytes")
	avail, okA := gauge("node_memory_MemAvailable_bytes")
	if okT {
		n.MemoryTotal = total
		if okA && avail <= total {
			n.Memory = total - avail
		}
	}
	return n, nil
}

// Source is the scraping metric source: rates from the proxy's counters,
// with Local and Latency taken from the FaaS gateway's /metrics when it
// reports the function, and node usage from node_exporter's /metrics (or
// another node TotalsReader). Each part keeps its own history (a Delta),
// so a part that fails or recovers never mixes counters of different
// origins.
//
// A scraped part read later than the time Sample was given (a slow scrape)
// is dated by the real time elapsed since Sample began, up to the middle
// of its read, so that its rates divide by the time its counters really
// span.
//
// When the gateway or the node part cannot be read, Sample returns the
// rest together with an error wrapping metricsrc.ErrDegraded.
type Source struct {
	mu                   sync.Mutex // serialises Sample: the parts' readings are handed over in order
	proxy, gateway, node *part
	clock                func() time.Time // the real time; tests replace it
}

// part is one reader with its history. The reading is taken outside the
// Delta and handed to it, so that it can be dated when it happened.
type part struct {
	r     metricsrc.TotalsReader
	late  bool // date readings by the real time they happened
	last  metricsrc.Totals
	err   error
	delta *metricsrc.Delta
}

func newPart(r metricsrc.TotalsReader, late bool) *part {
	p := &part{r: r, late: late}
	p.delta = metricsrc.NewDelta(partReader{p})
	return p
}

// partReader gives the Delta the reading its part just took.
type partReader struct{ p *part }

func (pr partReader) Totals(context.Context) (metricsrc.Totals, error) { return pr.p.last, pr.p.err }

// sample reads the part and returns its rates; callStart and now are when
// Source.Sample began, in real (clock) and in the caller's time.
func (p *part) sample(ctx context.Context, clock func() time.Time, callStart, now time.Time, window time.Duration) (metricsrc.Sample, error) {
	start := clock()
	p.last, p.err = p.r.Totals(ctx)
	if p.late {
		now = now.Add(start.Sub(callStart) + clock().Sub(start)/2)
	}
	return p.delta.Sample(ctx, now, window)
}

// NewSource returns a Source. proxy is required; gateway and node may be
// nil.
func NewSource(proxy, gateway, node metricsrc.TotalsReader) (*Source, error) {
	if proxy == nil {
		return nil, errors.New("scrape: the proxy's counters are required")
	}
	s := &Source{proxy: newPart(proxy, false), clock: time.Now} // the proxy is in-process: read at once
	if gateway != nil {
		s.gateway = newPart(gateway, true)
	}
	if node != nil {
		s.node = newPart(node, true)
	}
	return s, nil
}

// Sample implements metricsrc.Source.
func (s *Source) Sample(ctx context.Context, now time.Time, window time.Duration) (metricsrc.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	callStart := s.clock()
	ps, err := s.proxy.sample(ctx, s.clock, callStart, now, window)
	if err != nil {
		return metricsrc.Sample{}, err
	}
	ps.Time = now
	var errs []error
	if s.gateway != nil {
		gs, err := s.gateway.sample(ctx, s.clock, callStart, now, window)
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway: %w", err))
		} else if gs.Window > 0 {
			ps.Functions = merge(ps.Functions, gs.Functions)
		}
	}
	if s.node != nil {
		ns, err := s.node.sample(ctx, s.clock, callStart, now, window)
		if err != nil {
			errs = append(errs, fmt.Errorf("node: %w", err))
		} else {
			ps.Node = ns.Node
		}
	}
	if len(errs) > 0 {
		if ctx.Err() != nil {
			return metricsrc.Sample{}, ctx.Err()
		}
		return ps, fmt.Errorf("%w: %w; using the proxy's counters for it", metricsrc.ErrDegraded, errors.Join(errs...))
	}
	return ps, nil
}

// merge sets Local and Latency of the proxy's rates from the gateway's,
// adding the functions only the gateway reports. Both are sorted by name.
func merge(proxy, gw []metricsrc.FunctionRates) []metricsrc.FunctionRates {
	out := slices.Clone(proxy)
	for _, g := range gw {
		i, ok := slices.BinarySearchFunc(out, g.Name, func(f metricsrc.FunctionRates, n string) int { return strings.Compare(f.Name, n) })
		if !ok {
			out = slices.Insert(out, i, metricsrc.FunctionRates{Name: g.Name, Local: g.Local, Latency: g.Latency})
			continue
		}
		out[i].Local = g.Local
		if g.Latency > 0 {
			out[i].Latency = g.Latency
		}
	}
	return out
}

// Interface guards.
var (
	_ metricsrc.TotalsReader = (*Gateway)(nil)
	_ metricsrc.TotalsReader = (*NodeExporter)(nil)
	_ metricsrc.Source       = (*Source)(nil)
)
