package embedded

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Activation statuses, as OpenWhisk's user-events service labels them.
const (
	statusSuccess          = "success"
	statusApplicationError = "application_error"
	statusDeveloperError   = "action_developer_error"
	statusWhiskError       = "whisk_internal_error"
)

// The kind and memory every built-in action reports.
const (
	owKind   = "blackbox"
	owMemory = 256
)

// owMetrics are the per-action series of OpenWhisk's user-events service
// (names, labels and default buckets as it exports them).
type owMetrics struct {
	reg             *prometheus.Registry
	activations     *prometheus.CounterVec
	status          *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	limitConcurrent *prometheus.CounterVec
	limitTimed      *prometheus.CounterVec
}

func newOWMetrics() owMetrics {
	action := []string{"namespace", "initiator", "action"}
	m := owMetrics{
		reg: prometheus.NewRegistry(),
		activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "openwhisk_action_activations_total", Help: "Activation Count",
		}, append(action, "kind", "memory")),
		status: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "openwhisk_action_status", Help: "Activation failure status type",
		}, append(action, "status")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "openwhisk_action_duration_seconds", Help: "Actual time the action code was running",
			Buckets: prometheus.DefBuckets,
		}, action),
		limitConcurrent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "openwhisk_action_limit_concurrent_total", Help: "a user has exceeded its limit for concurrent invocations",
		}, []string{"namespace"}),
		limitTimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "openwhisk_action_limit_timed_total", Help: "the user has reached its per minute limit for the number of invocations",
		}, []string{"namespace"}),
	}
	m.reg.MustRegister(m.activations, m.status, m.duration, m.limitConcurrent, m.limitTimed)
	return m
}

// record counts a finished activation.
func (m owMetrics) record(ns string, a *activation) {
	m.activations.WithLabelValues(ns, ns, a.name, owKind, "256").Inc()
	m.status.WithLabelValues(ns, ns, a.name, a.statusLabel()).Inc()
	m.duration.WithLabelValues(ns, ns, a.name).Observe(a.end.Sub(a.start).Seconds())
}
