// Package cadvisorreal tests metricsrc/cadvisor against real cAdvisor
// output: an in-process collector built from the cAdvisor library
// (github.com/google/cadvisor/lib, as the kubelet embeds it) over this
// machine's cgroups, with function processes placed in cgroups laid out
// like a kubelet's pods, served as the kubelet serves /metrics/cadvisor,
// read directly and through a real Prometheus.
//
// It is a module of its own so that cAdvisor's dependencies stay out of
// the library's module; ./scripts/test runs it. The tests need root and
// writable cgroups (v1 or v2): they skip without, and fail under
// DFAAS_INTEGRATION=1.
package cadvisorreal
