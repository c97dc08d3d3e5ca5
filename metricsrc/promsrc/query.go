package promsrc

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MinRangeScrapes is how many scrape intervals a rate() range spans at
// least, so that it always holds two samples or more despite scrape jitter.
const MinRangeScrapes = 4

// Selectors are equality label matchers (name → value) that pick the
// series of one scrape target, such as {job="dfaas-agent",
// instance="10.0.0.5:8080"}.
type Selectors map[string]string

// Validate checks that every label name is a valid Prometheus label name.
func (s Selectors) Validate() error {
	for k := range s {
		if !validLabelName(k) {
			return fmt.Errorf("label name %q is not [a-zA-Z_][a-zA-Z0-9_]*", k)
		}
	}
	return nil
}

func validLabelName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ParseSelectors parses "name=value,name=value" (values may not contain
// commas). The empty string gives no matchers.
func ParseSelectors(s string) (Selectors, error) {
	out := Selectors{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("selector %q: want name=value", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("selector %q: label %q given twice", kv, k)
		}
		out[k] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out, out.Validate()
}

// matchers renders s plus extra matchers (already rendered) as the inside
// of a PromQL selector, sorted by label name.
func (s Selectors) matchers(extra ...string) string {
	parts := make([]string, 0, len(s)+len(extra))
	for _, k := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, k+"="+strconv.Quote(s[k]))
	}
	return strings.Join(append(parts, extra...), ", ")
}

// QueryConfig says which series the query reads.
type QueryConfig struct {
	// Agent selects the agent's scrape target (dfaas_proxy_* counters),
	// Gateway the FaaS gateway's, Node node_exporter's.
	Agent, Gateway, Node Selectors
	// Series says which platform's per-function series the Gateway
	// target holds ("" is SeriesOpenFaaS).
	Series Series
	// Namespace, with SeriesOpenWhisk, counts only the actions of this
	// namespace (all when empty or "_").
	Namespace string
}

// Range returns the rate() range for a control window: the window, but at
// least MinRangeScrapes scrape intervals, rounded up to a millisecond.
func Range(window, scrape time.Duration) time.Duration {
	r := max(window, MinRangeScrapes*scrape, time.Millisecond)
	return (r + time.Millisecond - 1).Truncate(time.Millisecond)
}

// FormatRange writes d as a PromQL duration: whole seconds as "Ns", else
// milliseconds as "Nms" (both valid in every Prometheus 2.x).
func FormatRange(d time.Duration) string {
	d = (d + time.Millisecond - 1).Truncate(time.Millisecond)
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// The values of the dfaas_q label that tells the parts of the query apart.
const (
	qOffered      = "offered"
	qLocal        = "local"
	qReceived     = "received"
	qForwarded    = "forwarded"
	qRejected     = "rejected"
	qFailed       = "failed"
	qNbForwarded  = "nb_forwarded"
	qNbReceived   = "nb_received"
	qProxySecs    = "proxy_seconds_sum"
	qProxyCount   = "proxy_seconds_count"
	qGwInvoked    = "gw_invocations"
	qGwSecs       = "gw_seconds_sum"
	qGwCount      = "gw_seconds_count"
	qCPUBusy      = "node_cpu_busy"
	qCPUCores     = "node_cpu_cores"
	qMemTotal     = "node_memory_total"
	qMemAvailable = "node_memory_available"
	qAgentUp      = "agent_up"
	qGatewayUp    = "gateway_up"
	qNodeUp       = "node_up"
)

// QueryLabel is the label that Query adds to each part of its result.
const QueryLabel = "dfaas_q"

// Part is one named expression of the query.
type Part struct {
	Name string
	Expr string
}

// Parts returns the expressions Query combines, for a rate() range rng.
func Parts(c QueryConfig, rng time.Duration) []Part {
	r := "[" + FormatRange(rng) + "]"
	a := c.Agent.matchers()
	g := c.Gateway.matchers()
	n := c.Node.matchers()
	rate := func(by, metric, sel string) string {
		return fmt.Sprintf("sum by (%s) (rate(%s{%s}%s))", by, metric, sel, r)
	}
	parts := []Part{
		{qOffered, rate("function", MetricOffered, a)},
		{qLocal, rate("function", MetricLocal, a)},
		{qReceived, rate("function", MetricReceived, a)},
		{qForwarded, rate("function", MetricForwarded, a)},
		{qRejected, rate("function", MetricRejected, a)},
		{qFailed, rate("function", MetricFailed, a)},
		{qNbForwarded, rate("function, neighbour", MetricNeighbourForwarded, a)},
		{qNbReceived, rate("function, neighbour", MetricNeighbourReceived, a)},
		{qProxySecs, rate("function", MetricLocalDuration+"_sum", a)},
		{qProxyCount, rate("function", MetricLocalDuration+"_count", a)},
	}
	parts = append(parts, gatewayParts(c, rate)...)
	return append(parts, []Part{
		{qCPUBusy, fmt.Sprintf("sum(rate(node_cpu_seconds_total{%s}%s))", c.Node.matchers(`mode!~"idle|iowait"`), r)},
		{qCPUCores, fmt.Sprintf("count(node_cpu_seconds_total{%s})", c.Node.matchers(`mode="idle"`))},
		{qMemTotal, fmt.Sprintf("sum(node_memory_MemTotal_bytes{%s})", n)},
		{qMemAvailable, fmt.Sprintf("sum(node_memory_MemAvailable_bytes{%s})", n)},
		{qAgentUp, fmt.Sprintf("min(up{%s})", a)},
		{qGatewayUp, fmt.Sprintf("min(up{%s})", g)},
		{qNodeUp, fmt.Sprintf("min(up{%s})", n)},
	}...)
}

// Query returns the single PromQL expression a Source evaluates: every
// part of Parts, tagged with its name in the dfaas_q label and joined with
// or (the tags keep the parts' series apart).
func Query(c QueryConfig, rng time.Duration) string {
	parts := Parts(c, rng)
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = fmt.Sprintf("label_replace(%s, %q, %q, \"\", \"\")", p.Expr, QueryLabel, p.Name)
	}
	return strings.Join(out, "\nor ")
}
