package goproxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// Names of the metrics a Proxy exports besides its listener's (see
// Limits): requests for functions outside the routing state, forwarded
// requests sent elsewhere after a refusal or a connection failure, user
// requests a neighbour's forwarding cap (proxyctl.ForwardCap) sent
// elsewhere than to the neighbour picked for them, and requests refused
// because their function's queue was full (proxyctl.Function.MaxQueue).
const (
	MetricUnrouted  = "dfaas_proxy_unrouted_requests_total"
	MetricRetries   = "dfaas_proxy_retries_total"
	MetricCapped    = proxyctl.MetricForwardCapped
	MetricQueueFull = "dfaas_proxy_queue_full_total"
)

type metrics struct {
	unrouted, retries, capped, queueFull *prometheus.Desc
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
	}
}

// Describe implements prometheus.Collector: the proxy's metrics and its
// listener's (label listener="proxy").
func (p *Proxy) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.metrics.unrouted
	ch <- p.metrics.retries
	ch <- p.metrics.capped
	ch <- p.metrics.queueFull
	p.lim.Describe(ch)
}

// Collect implements prometheus.Collector.
func (p *Proxy) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(p.metrics.unrouted, prometheus.CounterValue, float64(p.counters.Other().Offered.Load()))
	for i := range p.retries {
		ch <- prometheus.MustNewConstMetric(p.metrics.retries, prometheus.CounterValue, float64(p.retries[i].Load()), retryReasonName(i))
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
