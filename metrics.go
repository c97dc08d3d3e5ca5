package dfaas

import (
	"errors"
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// nodeMetrics are a node's Prometheus metrics. They live in the registry
// given in Config (none: they are kept but not exposed).
type nodeMetrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	cycles        prometheus.Counter
	cycleErrors   *prometheus.CounterVec
	cycleDuration prometheus.Histogram
	componentUp   *prometheus.GaugeVec
	received      prometheus.Counter
	sent          prometheus.Counter
	sendErrors    prometheus.Counter
	dropped       *prometheus.CounterVec
	neighbours    prometheus.Gauge
	peerRTT       *prometheus.GaugeVec
	share         *prometheus.GaugeVec
	peers         *prometheus.GaugeVec
	offered       *prometheus.GaugeVec
	capacity      *prometheus.GaugeVec
	functionCPU   *prometheus.GaugeVec
	functionMem   *prometheus.GaugeVec
	forecast      *prometheus.GaugeVec
	forecastErr   *prometheus.GaugeVec
	forecastAbs   *prometheus.SummaryVec
	unknownNames  prometheus.Gauge
	unknownRate   *prometheus.GaugeVec
	announceFail  *prometheus.CounterVec
	anomalies     *prometheus.CounterVec
	allowance     *prometheus.GaugeVec
	rotations     prometheus.Counter
	restarts      prometheus.Counter
	outOfCycle    *prometheus.CounterVec
	replans       prometheus.Counter

	mu           sync.Mutex
	lastForecast map[string]float64 // per function, the forecast of the previous cycle
	functions    map[string]bool    // functions with per-function series
}

func newNodeMetrics(reg prometheus.Registerer) (*nodeMetrics, error) {
	m := &nodeMetrics{
		reg: reg,
		cycles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dfaas_agent_cycles_total", Help: "Control cycles started.",
		}),
		cycleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dfaas_agent_cycle_errors_total", Help: "Control cycle failures, by failing component.",
		}, []string{"component"}),
		cycleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dfaas_agent_cycle_duration_seconds", Help: "Duration of control cycles.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		componentUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_component_up", Help: "1 if the component worked in the last cycle, else 0.",
		}, []string{"component"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dfaas_agent_peer_messages_received_total", Help: "Peer messages accepted.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dfaas_agent_peer_messages_sent_total", Help: "Peer messages sent.",
		}),
		sendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dfaas_agent_peer_send_errors_total", Help: "Peer messages that could not be sent.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dfaas_agent_peer_messages_dropped_total", Help: "Peer messages dropped, by reason.",
		}, []string{"reason"}),
		neighbours: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dfaas_agent_neighbours", Help: "Neighbours in the data network.",
		}),
		peerRTT: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_peer_rtt_seconds", Help: "Round-trip time to each peer.",
		}, []string{"peer"}),
		share: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_decision_share", Help: "Share of user requests sent to each destination (local, reject, or a neighbour ID), by function.",
		}, []string{"function", "destination"}),
		peers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_peers", Help: "Peers known to the transport, by state (up or down).",
		}, []string{"state"}),
		offered: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_offered_requests_per_second", Help: "User request rate observed over the last period, by function.",
		}, []string{"function"}),
		capacity: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_function_capacity_requests_per_second", Help: "Capacity of each local function (0: unknown).",
		}, []string{"function"}),
		functionCPU: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_function_cpu_cores", Help: "CPU used by each local function's replicas over the last period, in cores (0: unknown; measured per container, e.g. by cAdvisor).",
		}, []string{"function"}),
		functionMem: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_function_memory_bytes", Help: "Memory (working set) used by each local function's replicas (0: unknown; measured per container, e.g. by cAdvisor).",
		}, []string{"function"}),
		forecast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_forecast_requests_per_second", Help: "Forecast user request rate for the next period, by function.",
		}, []string{"function"}),
		forecastErr: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dfaas_agent_forecast_error_requests_per_second", Help: "Observed minus forecast user request rate of the last period, by function.",
		}, []string{"function"}),
		forecastAbs: prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name: "dfaas_agent_forecast_absolute_error_requests_per_second", Help: "Absolute forecast errors, by function (rate of _sum over rate of _count is the mean absolute error).",
		}, []string{"function"}),
		lastForecast: map[string]float64{},
		functions:    map[string]bool{},
	}
	m.hardeningMetrics()
	for _, r := range []string{DropOversize, DropMalformed, DropVersion, DropInvalid, DropStale, DropSelf} {
		m.dropped.WithLabelValues(r)
	}
	m.collectors = []prometheus.Collector{m.cycles, m.cycleErrors, m.cycleDuration, m.componentUp, m.received,
		m.sent, m.sendErrors, m.dropped, m.neighbours, m.peerRTT, m.share,
		m.peers, m.offered, m.capacity, m.functionCPU, m.functionMem, m.forecast, m.forecastErr, m.forecastAbs,
		m.unknownNames, m.unknownRate, m.announceFail, m.anomalies, m.allowance, m.rotations, m.restarts, m.outOfCycle, m.replans}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, r := range m.collectors[:i] {
				reg.Unregister(r)
			}
			return nil, errors.Join(errors.New("register metrics"), err)
		}
	}
	return m, nil
}

func (m *nodeMetrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

func (m *nodeMetrics) setDecision(d strategy.Decision) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.share.Reset()
	for _, r := range d.Routes {
		m.share.WithLabelValues(r.Function, "local").Set(r.Local)
		m.share.WithLabelValues(r.Function, "reject").Set(r.Reject)
		for _, s := range r.Forward {
			m.share.WithLabelValues(r.Function, string(s.Node)).Set(s.Share)
		}
	}
}

func (m *nodeMetrics) setPeers(infos []peer.Info) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.peerRTT.Reset()
	var up, down float64
	for _, p := range infos {
		if p.RTT > 0 {
			m.peerRTT.WithLabelValues(string(p.ID)).Set(p.RTT.Seconds())
		}
		if p.Up {
			up++
		} else {
			down++
		}
	}
	m.peers.WithLabelValues("up").Set(up)
	m.peers.WithLabelValues("down").Set(down)
}

// setFunctions records the observed and forecast rates of a snapshot's
// functions. When observed is true (the sample covered a window), the
// error of the forecast made in the previous cycle is recorded too.
func (m *nodeMetrics) setFunctions(fns []strategy.Function, observed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool, len(fns))
	for _, f := range fns {
		seen[f.Name] = true
		m.functions[f.Name] = true
		m.offered.WithLabelValues(f.Name).Set(f.Offered)
		m.forecast.WithLabelValues(f.Name).Set(f.Forecast)
		if f.Deployed {
			m.capacity.WithLabelValues(f.Name).Set(f.Capacity)
			m.functionCPU.WithLabelValues(f.Name).Set(f.CPU)
			m.functionMem.WithLabelValues(f.Name).Set(f.Memory)
		} else {
			m.capacity.DeleteLabelValues(f.Name)
			m.functionCPU.DeleteLabelValues(f.Name)
			m.functionMem.DeleteLabelValues(f.Name)
		}
		if prev, ok := m.lastForecast[f.Name]; ok && observed {
			e := f.Offered - prev
			m.forecastErr.WithLabelValues(f.Name).Set(e)
			m.forecastAbs.WithLabelValues(f.Name).Observe(math.Abs(e))
		}
		if observed {
			m.lastForecast[f.Name] = f.Forecast
		}
	}
	for name := range m.functions {
		if !seen[name] {
			delete(m.functions, name)
			delete(m.lastForecast, name)
			for _, v := range []*prometheus.GaugeVec{m.offered, m.forecast, m.capacity, m.functionCPU, m.functionMem, m.forecastErr} {
				v.DeleteLabelValues(name)
			}
			m.forecastAbs.DeleteLabelValues(name)
		}
	}
}

// hardeningMetrics makes the metrics of what a node bounds: unknown
// names, failed announcements, neighbours' claims, credentials.
func (m *nodeMetrics) hardeningMetrics() {
	m.unknownNames = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dfaas_agent_unknown_functions", Help: "Names with requests in the last period that are neither deployed here nor run by a neighbour (one aggregate, no series per name).",
	})
	m.unknownRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dfaas_agent_unknown_function_requests_per_second", Help: "Request rates of the unknown names over the last period, summed, by kind (offered, rejected, failed).",
	}, []string{"kind"})
	m.announceFail = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dfaas_agent_announce_failures_total", Help: "Cycles whose announcement was trimmed to fit the message limit, could not be built, or reached no peer, by reason.",
	}, []string{"reason"})
	m.anomalies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dfaas_agent_neighbour_anomalies_total", Help: "Neighbours' claims bounded: grants above the grantor's capacity (grant_bounded), shares capped to what a neighbour's answers support (share_capped).",
	}, []string{"kind"})
	m.allowance = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dfaas_agent_neighbour_allowance_requests_per_second", Help: "The rate each neighbour forwarded to may receive this period, by what its answers support.",
	}, []string{"peer"})
	m.rotations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dfaas_agent_credential_rotations_total", Help: "Forwarding credentials replaced on schedule.",
	})
	m.restarts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dfaas_agent_neighbour_restarts_total", Help: "Neighbours heard from in a new incarnation.",
	})
	m.outOfCycle = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dfaas_agent_out_of_cycle_applies_total", Help: "Proxy applies between cycles: to greet a new or restarted peer (greet), to use a new credential (reapply), or deferred to the next cycle (deferred).",
	}, []string{"kind"})
	m.replans = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dfaas_agent_replans_total", Help: "Cycles run between two periods, on the last observation, because a neighbour joined the data network.",
	})
	for _, r := range []string{announceTrimmed, announceUnbuildable, announceUnsent} {
		m.announceFail.WithLabelValues(r)
	}
	for _, k := range []string{"grant_bounded", "share_capped"} {
		m.anomalies.WithLabelValues(k)
	}
	for _, k := range []string{"greet", "reapply", "deferred"} {
		m.outOfCycle.WithLabelValues(k)
	}
}

// setUnknown records the aggregate of the unknown names.
func (m *nodeMetrics) setUnknown(u control.Unknown) {
	m.unknownNames.Set(float64(u.Names))
	m.unknownRate.WithLabelValues("offered").Set(u.Offered)
	m.unknownRate.WithLabelValues("rejected").Set(u.Rejected)
	m.unknownRate.WithLabelValues("failed").Set(u.Failed)
}

// setAnomalies records what Bound did: the anomalies counted since before
// (in the core, cumulative) and each neighbour's allowance.
func (m *nodeMetrics) setAnomalies(before, after control.Anomalies, caps []control.Cap) {
	if d := after.GrantsBounded - before.GrantsBounded; d > 0 {
		m.anomalies.WithLabelValues("grant_bounded").Add(float64(d))
	}
	if d := after.SharesCapped - before.SharesCapped; d > 0 {
		m.anomalies.WithLabelValues("share_capped").Add(float64(d))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.allowance.Reset()
	for _, c := range caps {
		m.allowance.WithLabelValues(string(c.ID)).Set(c.Allowance)
	}
}
