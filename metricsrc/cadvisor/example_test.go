package cadvisor_test

import (
	"fmt"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
)

// Per-function usage from the pods of OpenFaaS' function namespace:
// figlet's two replicas are summed, a pod that is not a Deployment's is
// left out unless its faas_function label is known.
func ExampleAttach() {
	rates := []metricsrc.FunctionRates{{Name: "figlet", Offered: 12, Local: 12}}
	pods := []cadvisor.Pod{
		{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-q9zrt", CPU: 0.20, Memory: 30 << 20},
		{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-x7k2p", CPU: 0.15, Memory: 28 << 20},
		{Namespace: "openfaas-fn", Pod: "worker-0", CPU: 0.5, Memory: 64 << 20},
		{Namespace: "openfaas-fn", Pod: "cron-0", Function: "cron", Memory: 8 << 20},
	}
	for _, f := range cadvisor.Attach(rates, pods, cadvisor.OpenFaaS{}) {
		fmt.Printf("%s: %.0f req/s, %.2f cores, %d MiB\n", f.Name, f.Offered, f.CPU, int(f.Memory)>>20)
	}
	// Output:
	// cron: 0 req/s, 0.00 cores, 8 MiB
	// figlet: 12 req/s, 0.35 cores, 58 MiB
}

// The query a Prometheus reader makes for one node of a cluster (its
// kubelet's cAdvisor target carries the node's name).
func ExampleParts() {
	qc := cadvisor.QueryConfig{CAdvisor: promsrc.Selectors{"job": "cadvisor", "node": "edge-1"}, FunctionLabel: cadvisor.DefaultFunctionLabel}
	for _, p := range cadvisor.Parts(qc, "openfaas-fn", 10*time.Second)[:2] {
		fmt.Printf("%s: %s\n", p.Name, p.Expr)
	}
	// Output:
	// cpu: sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{job="cadvisor", node="edge-1", namespace="openfaas-fn", container!="", container!="POD"}[10s]))
	// memory: sum by (namespace, pod) (container_memory_working_set_bytes{job="cadvisor", node="edge-1", namespace="openfaas-fn", container!="", container!="POD"})
}
