package goproxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// Names of the metrics a Proxy exports besides its listener's (see
// Limits): requests for functions outside the routing state, forwarded
// requests sent elsewhere after a refusal or a connection failure, and
// user requests a neighbour's forwarding cap (proxyctl.ForwardCap) sent
// elsewhere than to the neighbour picked for them.
const (
	MetricUnrouted = "dfaas_proxy_unrouted_requests_total"
	MetricRetries  = "dfaas_proxy_retries_total"
	MetricCapped   = proxyctl.MetricForwardCapped
)

type metrics struct {
	unrouted, retries, capped *prometheus.Desc
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
	}
}

// Describe implements prometheus.Collector: the proxy's metrics and its
// listener's (label listener="proxy").
func (p *Proxy) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.metrics.unrouted
	ch <- p.metrics.retries
	ch <- p.metrics.capped
	p.lim.Describe(ch)
}

// Collect implements prometheus.Collector.
func (p *Proxy) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(p.metrics.unrouted, prometheus.CounterValue, float64(p.counters.Other().Offered.Load()))
	for i := range p.retries {
		ch <- prometheus.MustNewConstMetric(p.metrics.retries, prometheus.CounterValue, float64(p.retries[i].Load()), retryReasonName(i))
	}
	var capped uint64
	if st := p.state.Load(); st != nil {
		capped = st.t.capped()
	}
	ch <- prometheus.MustNewConstMetric(p.metrics.capped, prometheus.CounterValue, float64(capped))
	p.lim.Collect(ch)
}

// Interface guard.
var _ prometheus.Collector = (*Proxy)(nil)
