package goproxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// Names of the metrics a Proxy exports besides its listener's (see
// Limits): requests for functions outside the routing state, forwarded
// requests sent elsewhere after a refusal or a connection failure, user
// requests a neighbour's forwarding cap (proxyctl.ForwardCap) sent
// elsewhere than to the neighbour picked for them, requests refused
// because their function's queue was full (proxyctl.Function.MaxQueue),
// and requests refused before any function's counters (no function's
// request: a bad path, the management API, another path; or a forwarded
// request from an unknown node or with a wrong credential).
const (
	MetricUnrouted  = "dfaas_proxy_unrouted_requests_total"
	MetricRetries   = "dfaas_proxy_retries_total"
	MetricCapped    = proxyctl.MetricForwardCapped
	MetricQueueFull = "dfaas_proxy_queue_full_total"
	MetricRefused   = "dfaas_proxy_refused_requests_total"
)

type metrics struct {
	unrouted, retries, capped, queueFull, refused *prometheus.Desc
}

func newMetrics() metrics {
	return metrics{
		unrouted: prometheus.NewDesc(MetricUnrouted,
			"User requests for functions outside the routing state (no per-function counters), and all requests before the first decision.", nil, nil),
		retries: prometheus.NewDesc(MetricRetries,
			"Forwarded requests sent once more (locally or to another neighbour) because the neighbour answered 403 unknown-node or could not be reached.",
			[]string{"reason"}, nil),
		capped: prometheus.NewDesc(MetricCapped,
			"User requests sent to another neighbour, served locally or rejected because the neighbour picked for them had reached its forwarding cap.", nil, nil),
		queueFull: prometheus.NewDesc(MetricQueueFull,
			"Requests (from users and neighbours) refused 429 queue-full because the function's concurrency slots and queue on this node were all taken, by function deployed here.",
			[]string{"function"}, nil),
		refused: prometheus.NewDesc(MetricRefused,
			"Requests refused before any function's counters, by reason: bad-path (400: an invalid function name, a dot segment or a backslash), management-api (403: /system), not-a-function (404: a path outside /function/{name}), unknown-node (403: a forwarded request whose node identity or credential is not a current neighbour's).",
			[]string{"reason"}, nil),
	}
}

// Describe implements prometheus.Collector: the proxy's metrics and its
// listener's (label listener="proxy").
func (p *Proxy) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.metrics.unrouted
	ch <- p.metrics.retries
	ch <- p.metrics.capped
	ch <- p.metrics.queueFull
	ch <- p.metrics.refused
	p.lim.Describe(ch)
}

// Collect implements prometheus.Collector.
func (p *Proxy) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(p.metrics.unrouted, prometheus.CounterValue, float64(p.counters.Other().Offered.Load()))
	for i := range p.retries {
		ch <- prometheus.MustNewConstMetric(p.metrics.retries, prometheus.CounterValue, float64(p.retries[i].Load()), retryReasonName(i))
	}
	for i := range p.refusals {
		ch <- prometheus.MustNewConstMetric(p.metrics.refused, prometheus.CounterValue, float64(p.refusals[i].Load()), refusedReasonName(i))
	}
	var capped uint64
	st := p.state.Load()
	if st != nil {
		capped = st.t.capped()
		for fn, q := range st.t.queues {
			ch <- prometheus.MustNewConstMetric(p.metrics.queueFull, prometheus.CounterValue, float64(q.full.Load()), fn)
		}
	}
	ch <- prometheus.MustNewConstMetric(p.metrics.capped, prometheus.CounterValue, float64(capped))
	p.lim.Collect(ch)
}

// Interface guard.
var _ prometheus.Collector = (*Proxy)(nil)
