package haproxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/proxyctl"
)

// newCappedDesc describes proxyctl.MetricForwardCapped.
func newCappedDesc() *prometheus.Desc {
	return prometheus.NewDesc(proxyctl.MetricForwardCapped,
		"User requests served locally or rejected because the neighbour picked for them had reached its forwarding cap.", nil, nil)
}

// Describe implements prometheus.Collector: proxyctl.MetricForwardCapped.
// (HAProxy's own metrics are on its exporter, Config.MetricsAddr.)
func (c *Controller) Describe(ch chan<- *prometheus.Desc) { ch <- c.cappedDesc }

// Collect implements prometheus.Collector. It reads HAProxy's counters
// first (as Totals does), so the count is current; if HAProxy cannot be
// read, or the controller is closed, it is the count of the last reading.
func (c *Controller) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if !c.closed {
		if err := c.collect(); err != nil {
			c.o.log.Debug("haproxy: counters not read for the metrics", "err", err)
		}
	}
	capped := c.acc.capped
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.cappedDesc, prometheus.CounterValue, float64(capped))
}

// Interface guard.
var _ prometheus.Collector = (*Controller)(nil)
