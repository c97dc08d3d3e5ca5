package quic

import "github.com/prometheus/client_golang/prometheus"

// collector exposes a Transport's Stats as Prometheus metrics.
type collector struct {
	t                                  *Transport
	sent, received, dropped, refused   *prometheus.Desc
	dials, dialsFailed, bytesS, bytesR *prometheus.Desc
	known, up, unverified              *prometheus.Desc
	connects, ignored, gossipDropped   *prometheus.Desc
}

// Collector returns a prometheus.Collector of the transport's counters
// (metrics dfaas_transport_*), to register with the agent's registry.
func (t *Transport) Collector() prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("dfaas_transport_"+name, help, labels, nil)
	}
	return &collector{
		t:             t,
		sent:          d("messages_sent_total", "Messages handed to QUIC."),
		received:      d("messages_received_total", "Messages delivered to the agent."),
		dropped:       d("messages_dropped_total", "Incoming messages and frames dropped, by reason.", "reason"),
		refused:       d("connections_refused_total", "Peer connections refused, by reason.", "reason"),
		dials:         d("dials_total", "Connection attempts."),
		dialsFailed:   d("dial_failures_total", "Connection attempts that failed."),
		bytesS:        d("bytes_sent_total", "QUIC bytes sent over all connections."),
		bytesR:        d("bytes_received_total", "QUIC bytes received over all connections."),
		known:         d("peers_known", "Peers known."),
		up:            d("peers_up", "Peers connected now."),
		unverified:    d("peers_unverified", "Gossiped peers (or new addresses of known ones) not reached yet."),
		connects:      d("connections_total", "Connections established, either way."),
		ignored:       d("gossip_ignored_total", "Gossiped peers ignored: their member had too many unverified ones held, or the table was full."),
		gossipDropped: d("gossip_dropped_total", "Gossiped peers or addresses dropped unverified: unreachable, displaced by a verified peer, or their member gone."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sent, c.received, c.dropped, c.refused, c.dials, c.dialsFailed, c.bytesS, c.bytesR, c.known, c.up, c.unverified, c.connects, c.ignored, c.gossipDropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.t.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.sent, st.Sent)
	counter(c.received, st.Received)
	for _, r := range dropReasons() {
		counter(c.dropped, st.Dropped[r], r)
	}
	for _, r := range rejectReasons() {
		counter(c.refused, st.Rejected[r], r)
	}
	counter(c.dials, st.Dials)
	counter(c.dialsFailed, st.DialsFailed)
	counter(c.bytesS, st.BytesSent)
	counter(c.bytesR, st.BytesReceived)
	ch <- prometheus.MustNewConstMetric(c.known, prometheus.GaugeValue, float64(st.Known))
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, float64(st.Up))
	ch <- prometheus.MustNewConstMetric(c.unverified, prometheus.GaugeValue, float64(st.Unverified))
	counter(c.connects, st.Connects)
	counter(c.ignored, st.GossipIgnored)
	counter(c.gossipDropped, st.GossipDropped)
}

var _ prometheus.Collector = (*collector)(nil)
