package promsrc

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/metricsrc"
)

// Names of the metrics Collector exports. Labels: function, and neighbour
// for the per-neighbour counters.
const (
	MetricOffered            = "dfaas_proxy_offered_requests_total"
	MetricLocal              = "dfaas_proxy_local_requests_total"
	MetricReceived           = "dfaas_proxy_received_requests_total"
	MetricForwarded          = "dfaas_proxy_forwarded_requests_total"
	MetricRejected           = "dfaas_proxy_rejected_requests_total"
	MetricFailed             = "dfaas_proxy_failed_requests_total"
	MetricNeighbourForwarded = "dfaas_proxy_neighbour_forwarded_requests_total"
	MetricNeighbourReceived  = "dfaas_proxy_neighbour_received_requests_total"
	MetricLocalDuration      = "dfaas_proxy_local_request_duration_seconds"
	MetricCountersUp         = "dfaas_proxy_counters_up"
)

// Collector exports the cumulative counters of a metricsrc.TotalsReader as
// Prometheus metrics (see the Metric constants). Each scrape reads the
// counters once. When reading fails, only dfaas_proxy_counters_up (0) is
// exported, so that the rest of the registry is still served.
type Collector struct {
	r       metricsrc.TotalsReader
	timeout time.Duration

	offered, local, received, forwarded, rejected, failed *prometheus.Desc
	nbForwarded, nbReceived, duration, up                 *prometheus.Desc
}

// NewCollector returns a Collector over r; each read is bounded by timeout
// (5s if zero).
func NewCollector(r metricsrc.TotalsReader, timeout time.Duration) *Collector {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	fn := []string{"function"}
	nb := []string{"function", "neighbour"}
	return &Collector{
		r: r, timeout: timeout,
		offered:     prometheus.NewDesc(MetricOffered, "User requests that arrived at the proxy.", fn, nil),
		local:       prometheus.NewDesc(MetricLocal, "Requests the proxy sent to the local FaaS (from users and neighbours).", fn, nil),
		received:    prometheus.NewDesc(MetricReceived, "Requests forwarded to this node by neighbours.", fn, nil),
		forwarded:   prometheus.NewDesc(MetricForwarded, "User requests forwarded to neighbours.", fn, nil),
		rejected:    prometheus.NewDesc(MetricRejected, "Requests the proxy refused on purpose.", fn, nil),
		failed:      prometheus.NewDesc(MetricFailed, "Requests that failed (time-out, error, overload) anywhere.", fn, nil),
		nbForwarded: prometheus.NewDesc(MetricNeighbourForwarded, "User requests forwarded, by neighbour.", nb, nil),
		nbReceived:  prometheus.NewDesc(MetricNeighbourReceived, "Requests received from neighbours, by neighbour.", nb, nil),
		duration:    prometheus.NewDesc(MetricLocalDuration, "Time the local FaaS took for requests that succeeded.", fn, nil),
		up:          prometheus.NewDesc(MetricCountersUp, "1 if the proxy's counters could be read.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.offered, c.local, c.received, c.forwarded, c.rejected, c.failed, c.nbForwarded, c.nbReceived, c.duration, c.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	t, err := c.r.Totals(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	// Label values that are not valid UTF-8 make a metric invalid: such a
	// series is skipped rather than failing the scrape.
	emit := func(m prometheus.Metric, err error) {
		if err == nil {
			ch <- m
		}
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		emit(prometheus.NewConstMetric(d, prometheus.CounterValue, float64(v), labels...))
	}
	for _, f := range t.Functions {
		counter(c.offered, f.Offered, f.Name)
		counter(c.local, f.Local, f.Name)
		counter(c.received, f.FromNeighbours, f.Name)
		counter(c.forwarded, f.Forwarded, f.Name)
		counter(c.rejected, f.Rejected, f.Name)
		counter(c.failed, f.Failed, f.Name)
		emit(prometheus.NewConstSummary(c.duration, f.LatencyCount, f.LatencySeconds, nil, f.Name))
		for _, n := range f.Neighbours {
			counter(c.nbForwarded, n.Forwarded, f.Name, n.ID)
			counter(c.nbReceived, n.Received, f.Name, n.ID)
		}
	}
}

// Interface guards.
var _ prometheus.Collector = (*Collector)(nil)
