package promsrc_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
)

// The rate() range of a control period: at least four scrape intervals,
// in a form every Prometheus 2.x parses.
func ExampleRange() {
	for _, p := range []time.Duration{500 * time.Millisecond, 5 * time.Second, 7500 * time.Millisecond} {
		fmt.Println(p, "→", promsrc.FormatRange(promsrc.Range(p, time.Second)))
	}
	// Output:
	// 500ms → 4s
	// 5s → 5s
	// 7.5s → 7500ms
}

// Selecting one node's targets in a Prometheus that scrapes several.
func ExampleParts() {
	agent, _ := promsrc.ParseSelectors("job=dfaas-agent,instance=10.0.0.5:8080")
	parts := promsrc.Parts(promsrc.QueryConfig{Agent: agent}, 10*time.Second)
	for _, p := range parts {
		if p.Name == "offered" || strings.HasPrefix(p.Name, "node_cpu") {
			fmt.Printf("%s: %s\n", p.Name, p.Expr)
		}
	}
	// Output:
	// offered: sum by (function) (rate(dfaas_proxy_offered_requests_total{instance="10.0.0.5:8080", job="dfaas-agent"}[10s]))
	// node_cpu_busy: sum(rate(node_cpu_seconds_total{mode!~"idle|iowait"}[10s]))
	// node_cpu_cores: count(node_cpu_seconds_total{mode="idle"})
}
