package sim

import (
	"math"
	"slices"
	"time"
)

// Result is the outcome of one run of a scenario with one strategy, in the
// form every mode reports it (dfaas sim, dfaas bench, dfaas demo print it
// as JSON with --json). Counts are numbers of user requests, attributed to
// the node where they arrived; Offered = Served + Rejected + Failed.
type Result struct {
	Scenario string `json:"scenario"`
	Strategy string `json:"strategy"`
	// Mode is "sim", "bench" or "demo".
	Mode      string `json:"mode"`
	Offered   int64  `json:"offered"`
	Served    int64  `json:"served"`
	Forwarded int64  `json:"forwarded"`
	Rejected  int64  `json:"rejected"`
	Failed    int64  `json:"failed"`
	// SuccessRate is Served / Offered.
	SuccessRate float64 `json:"success_rate"`
	// OracleSuccessRate is the fluid upper bound of the success rate (0
	// when not computed).
	OracleSuccessRate float64    `json:"oracle_success_rate"`
	Latency           Quantiles  `json:"latency_ms"`
	Nodes             []NodeStat `json:"nodes"`
	// StrategyErrors counts the control cycles in which the strategy
	// failed, panicked or returned an invalid decision (the previous
	// decision then stayed in force). Only the simulator reports it.
	StrategyErrors int64 `json:"strategy_errors,omitempty"`
}

// Quantiles are latency quantiles in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// NodeStat are the counts of the requests that arrived at one node.
type NodeStat struct {
	ID          string    `json:"id"`
	Offered     int64     `json:"offered"`
	Served      int64     `json:"served"`
	Forwarded   int64     `json:"forwarded"`
	Rejected    int64     `json:"rejected"`
	Failed      int64     `json:"failed"`
	SuccessRate float64   `json:"success_rate"`
	Latency     Quantiles `json:"latency_ms"`
}

// Rate returns served/offered, or 1 when nothing was offered.
func Rate(served, offered int64) float64 {
	if offered == 0 {
		return 1
	}
	return float64(served) / float64(offered)
}

// QuantilesOf returns the 50th, 95th and 99th percentiles of latencies
// (nearest-rank), in milliseconds. It sorts latencies in place.
func QuantilesOf(latencies []time.Duration) Quantiles {
	if len(latencies) == 0 {
		return Quantiles{}
	}
	slices.Sort(latencies)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(latencies)))) - 1
		i = min(max(i, 0), len(latencies)-1)
		return float64(latencies[i]) / float64(time.Millisecond)
	}
	return Quantiles{P50: q(0.50), P95: q(0.95), P99: q(0.99)}
}
