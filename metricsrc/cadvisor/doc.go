// Package cadvisor measures each function's own CPU and memory from
// cAdvisor, which the kubelet of every Kubernetes (and k3s) node embeds,
// and adds them to the samples of another metric source.
//
// Source wraps any metricsrc.Source (the proxy's counters, metricsrc/scrape,
// metricsrc/promsrc) and fills metricsrc.FunctionRates.CPU (cores,
// averaged over the window) and Memory (bytes of working set), summed over
// the function's replicas, from a Reader:
//
//   - Kubelet scrapes the kubelet's /metrics/cadvisor endpoint directly
//     (https on port 10250, with the service account's bearer token and CA
//     when the agent runs in a pod) and computes the rates itself from the
//     counters' successive samples (Tracker);
//   - Prometheus asks a Prometheus server that scrapes that endpoint, in
//     one instant query (Query, built by pure functions like
//     metricsrc/promsrc's).
//
// Both read container_cpu_usage_seconds_total and
// container_memory_working_set_bytes, labelled by the kubelet with
// namespace, pod and container, keep the function namespace's containers
// (not the pod-level cgroups, label container "", nor pause containers,
// "POD") and sum them per pod. A Mapper then tells which function each pod
// runs:
//
//   - OpenFaaS: the pod's faas_function label when Prometheus has it (from
//     kube-state-metrics' kube_pod_labels), else the pod's name, which for
//     the Deployment faas-netes creates per function is
//     <function>-<pod-template-hash>-<random suffix> (see OpenFaaS for the
//     exact rule and its limits: cut names of functions longer than 46
//     characters);
//   - OpenWhisk: the action pods of the invoker's Kubernetes container
//     factory, by comparing their names' ends with the known actions;
//     prewarmed containers cannot be attributed (see OpenWhisk).
//
// # Units and unknowns
//
// CPU is in cores (CPU seconds per second) averaged over the window (the
// rate() range with Prometheus; with Kubelet, between cAdvisor's samples,
// which it takes every housekeeping interval, 10 to 15 s in a kubelet);
// memory is the working set in bytes at the end of the window. Zero means
// unknown: a replica seen in one reading only has no CPU rate yet, as in
// Prometheus' rate(), so a function's CPU is a lower bound while replicas
// start.
//
// # Failure
//
// Bad input gets a bounded answer: expositions, lines and series are
// bounded (Limits), only the lines of the two metrics in the namespace are
// parsed, every request has a time-out, and errors name the URL, line,
// metric or label at fault. When the usage cannot be read, Source returns
// the inner sample with an error wrapping metricsrc.ErrDegraded: the node
// keeps deciding and its resource model falls back on what it learned from
// the node's usage.
package cadvisor
