// Package churn measures a proxy under weight churn, the machinery of
// dfaas churn: user requests at a constant rate through a local proxy
// (HAProxy driven by its runtime API, or the embedded proxy) while random
// weight changes, two neighbour leaves and joins and one function addition
// are applied, counting failed requests and the latency of each update;
// optionally again with the original prototype's method, HAProxy
// rewritten and reloaded at every update, as the baseline.
package churn

import (
	"context"
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"text/tabwriter"
	"time"
)

// Options configure a churn measurement. The dfaas churn flag of each is
// in brackets.
type Options struct {
	Proxy           string        // [--proxy] haproxy or embedded
	Updates         int           // [--updates] weight changes to apply (at least 4)
	Rate            float64       // [--rate] user requests per second
	Interval        time.Duration // [--interval] time between two updates
	Baseline        bool          // [--baseline] also the reload-per-update run
	BaselineUpdates int           // [--baseline-updates] updates of the baseline run (0: Updates)
	Binary          string        // [--haproxy] the haproxy executable
	Seed            uint64        // [--seed] of the random weights
	Verbose         io.Writer     // [-v] where to log events and failures; nil for none
}

// Percentiles are the median and 99th percentile of update latencies, in
// milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// Run is what one run measured.
type Run struct {
	Updates  int                `json:"updates"`
	Requests int64              `json:"requests"`
	Failed   int64              `json:"failed"`
	Rejected int64              `json:"rejected"`
	Failures map[string]int     `json:"failures,omitempty"`
	UpdateMS Percentiles        `json:"update_ms"`
	EventMS  map[string]float64 `json:"event_ms,omitempty"`
	Reloads  int                `json:"reloads"`
	Seconds  float64            `json:"seconds"`
}

// Result is the output of dfaas churn (its JSON with --json).
type Result struct {
	Proxy    string      `json:"proxy"`
	Rate     float64     `json:"rate"`
	Requests int64       `json:"requests"`
	Failed   int64       `json:"failed"`
	UpdateMS Percentiles `json:"update_ms"`
	Run      Run         `json:"run"`

	ReloadRequests *int64       `json:"reload_requests,omitempty"`
	ReloadFailed   *int64       `json:"reload_failed,omitempty"`
	ReloadUpdateMS *Percentiles `json:"reload_update_ms,omitempty"`
	Reload         *Run         `json:"reload,omitempty"`
	ReloadSkipped  string       `json:"reload_skipped,omitempty"`
}

// Measure does the run of o, then the baseline run if o asks for it and
// haproxy is installed (else the result says why it was skipped).
func Measure(ctx context.Context, o Options) (Result, error) {
	if o.Updates < 4 {
		return Result{}, fmt.Errorf("churn: %d updates: want at least 4", o.Updates)
	}
	if !(o.Rate > 0) || math.IsInf(o.Rate, 0) || o.Interval <= 0 {
		return Result{}, fmt.Errorf("churn: rate %v and interval %v must be positive", o.Rate, o.Interval)
	}
	res := Result{Proxy: o.Proxy, Rate: o.Rate}
	run, err := measure(ctx, o, o.Proxy, false, o.Updates)
	if err != nil {
		return Result{}, err
	}
	res.Run, res.Requests, res.Failed, res.UpdateMS = run, run.Requests, run.Failed, run.UpdateMS
	if !o.Baseline {
		return res, nil
	}
	if _, lerr := exec.LookPath(o.Binary); lerr != nil {
		res.ReloadSkipped = "haproxy not found: " + lerr.Error()
		return res, nil
	}
	updates := o.BaselineUpdates
	if updates == 0 {
		updates = o.Updates
	}
	base, err := measure(ctx, o, "haproxy", true, max(updates, 4))
	if err != nil {
		return Result{}, fmt.Errorf("baseline: %w", err)
	}
	res.Reload = &base
	res.ReloadRequests, res.ReloadFailed, res.ReloadUpdateMS = &base.Requests, &base.Failed, &base.UpdateMS
	return res, nil
}

// WriteTable writes r as a text table, one row per run.
func WriteTable(w io.Writer, r Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tupdates\treloads\trequests\tfailed\trejected\tupdate p50 ms\tupdate p99 ms\t")
	line := func(name string, c Run) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t\n", name, c.Updates, c.Reloads, c.Requests, c.Failed, c.Rejected, c.UpdateMS.P50, c.UpdateMS.P99)
	}
	name := "haproxy (runtime API)"
	if r.Proxy == "embedded" {
		name = "embedded (in memory)"
	}
	line(name, r.Run)
	if r.Reload != nil {
		line("haproxy (reload per update)", *r.Reload)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.ReloadSkipped != "" {
		fmt.Fprintln(w, "baseline skipped:", r.ReloadSkipped)
	}
	for _, c := range []*Run{&r.Run, r.Reload} {
		if c != nil && len(c.Failures) > 0 {
			fmt.Fprintf(w, "failures: %v\n", c.Failures)
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentilesOf returns the p50 and p99 of v (nearest rank).
func percentilesOf(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Percentiles{P50: rank(0.50), P99: rank(0.99)}
}
