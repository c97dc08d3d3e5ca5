package embedded

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Names of the metrics a Proxy exports besides its listener's (see
// Limits): requests for functions outside the routing state, and
// forwarded requests sent elsewhere after a refusal or a connection
// failure.
const (
	MetricUnrouted = "dfaas_proxy_unrouted_requests_total"
	MetricRetries  = "dfaas_proxy_retries_total"
)

type metrics struct {
	unrouted, retries *prometheus.Desc
}

func newMetrics() metrics {
	return metrics{
		unrouted: prometheus.NewDesc(MetricUnrouted,
			"User requests for functions outside the routing state (no per-function counters), and all requests before the first decision.", nil, nil),
		retries: prometheus.NewDesc(MetricRetries,
			"Forwarded requests sent once more (locally or to another neighbour) because the neighbour answered 403 unknown-node or could not be reached.",
			[]string{"reason"}, nil),
	}
}

// Describe implements prometheus.Collector: the proxy's metrics and its
// listener's (label listener="proxy").
func (p *Proxy) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.metrics.unrouted
	ch <- p.metrics.retries
	p.lim.Describe(ch)
}

// Collect implements prometheus.Collector.
func (p *Proxy) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(p.metrics.unrouted, prometheus.CounterValue, float64(p.counters.Other().Offered.Load()))
	for i := range p.retries {
		ch <- prometheus.MustNewConstMetric(p.metrics.retries, prometheus.CounterValue, float64(p.retries[i].Load()), retryReasonName(i))
	}
	p.lim.Collect(ch)
}

// Interface guard.
var _ prometheus.Collector = (*Proxy)(nil)
