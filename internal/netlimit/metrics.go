package netlimit

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Names of the metrics a Limiter exports, each with the label listener
// (the Limiter's name).
const (
	MetricConns          = "dfaas_listener_connections"
	MetricAccepted       = "dfaas_listener_connections_accepted_total"
	MetricEvicted        = "dfaas_listener_connections_evicted_total"
	MetricRefused        = "dfaas_listener_refused_total"
	MetricInflightBodies = "dfaas_listener_inflight_body_bytes"
)

// Reasons of connection refusals (the reason label of MetricRefused, with
// the body reasons).
const (
	ReasonConnsPerIP = "conns_per_ip"
	ReasonConnsTotal = "conns_total"
)

// Stats are a Limiter's counts since it was made.
type Stats struct {
	// Conns and InflightBodyBytes are current values.
	Conns             int
	InflightBodyBytes int64
	// Accepted connections; Evicted idle ones closed to make room.
	Accepted, Evicted uint64
	// Refused maps a reason (the Reason constants) to the number of
	// connections or requests refused for it.
	Refused map[string]uint64
}

// Stats returns the Limiter's counts.
func (l *Limiter) Stats() Stats {
	c := &l.counts
	return Stats{
		Conns:             l.Conns(),
		InflightBodyBytes: l.inflight.Load(),
		Accepted:          c.accepted.Load(),
		Evicted:           c.evicted.Load(),
		Refused: map[string]uint64{
			ReasonConnsPerIP:   c.refusedPerIP.Load(),
			ReasonConnsTotal:   c.refusedTotal.Load(),
			ReasonBodyTooLarge: c.bodyTooLarge.Load(),
			ReasonBodyInflight: c.bodyInflight.Load(),
			ReasonBodyTimeout:  c.bodyTimeout.Load(),
		},
	}
}

type metrics struct {
	conns, accepted, evicted, refused, inflight *prometheus.Desc
}

func newMetrics(name string) metrics {
	l := prometheus.Labels{"listener": name}
	return metrics{
		conns:    prometheus.NewDesc(MetricConns, "Connections open now.", nil, l),
		accepted: prometheus.NewDesc(MetricAccepted, "Connections accepted.", nil, l),
		evicted:  prometheus.NewDesc(MetricEvicted, "Idle connections closed to make room for a new one at a connection cap.", nil, l),
		refused: prometheus.NewDesc(MetricRefused,
			"Connections and requests refused by a limit (conns_per_ip 429, conns_total 503, body_too_large 413, body_inflight 503, body_timeout 408).",
			[]string{"reason"}, l),
		inflight: prometheus.NewDesc(MetricInflightBodies, "Request body bytes reserved by requests in flight.", nil, l),
	}
}

// Describe implements prometheus.Collector.
func (l *Limiter) Describe(ch chan<- *prometheus.Desc) {
	m := &l.metrics
	for _, d := range []*prometheus.Desc{m.conns, m.accepted, m.evicted, m.refused, m.inflight} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (l *Limiter) Collect(ch chan<- prometheus.Metric) {
	m, s := &l.metrics, l.Stats()
	ch <- prometheus.MustNewConstMetric(m.conns, prometheus.GaugeValue, float64(s.Conns))
	ch <- prometheus.MustNewConstMetric(m.accepted, prometheus.CounterValue, float64(s.Accepted))
	ch <- prometheus.MustNewConstMetric(m.evicted, prometheus.CounterValue, float64(s.Evicted))
	ch <- prometheus.MustNewConstMetric(m.inflight, prometheus.GaugeValue, float64(s.InflightBodyBytes))
	for reason, n := range s.Refused {
		ch <- prometheus.MustNewConstMetric(m.refused, prometheus.CounterValue, float64(n), reason)
	}
}

// Interface guard.
var _ prometheus.Collector = (*Limiter)(nil)
