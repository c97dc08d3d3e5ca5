package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 6, 64) }
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}
func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// WriteRecords writes one CSV row per request: t_s (when it was sent),
// node, function, outcome, status, latency_ms, forwarded_to, served_by,
// error, reason (the proxy's DFaaS-Rejected), class (Class, with routes).
func WriteRecords(w io.Writer, recs []Record, routes Routes) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"t_s", "node", "function", "outcome", "status", "latency_ms", "forwarded_to", "served_by", "error", "reason", "class"})
	for _, r := range recs {
		cw.Write([]string{secs(r.At), r.Node, r.Function, r.Outcome.String(), strconv.Itoa(r.Status), ms(r.Latency), r.ForwardedTo, r.ServedBy, r.Error,
			r.Reason, routes.Classify(r).String()})
	}
	cw.Flush()
	return cw.Error()
}

// WriteSeries writes one CSV row per node and second: t_s, node, offered,
// served_local, forwarded, rejected, failed, served_for_neighbours,
// p50_ms, p95_ms, p99_ms (of the requests served), then the count of
// each Class (columns class_ + Class.String: class_served_locally, ...,
// class_failed), which add up to offered.
func WriteSeries(w io.Writer, ss []Second) error {
	cw := csv.NewWriter(w)
	head := []string{"t_s", "node", "offered", "served_local", "forwarded", "rejected", "failed", "served_for_neighbours", "p50_ms", "p95_ms", "p99_ms"}
	for c := range NumClasses {
		head = append(head, "class_"+c.String())
	}
	cw.Write(head)
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	f3 := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, s := range ss {
		row := []string{strconv.Itoa(s.T), s.Node, i64(s.Offered), i64(s.ServedLocal), i64(s.Forwarded), i64(s.Rejected), i64(s.Failed), i64(s.ServedForOthers),
			f3(s.Latency.P50), f3(s.Latency.P95), f3(s.Latency.P99)}
		for _, v := range s.ByClass {
			row = append(row, i64(v))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// WriteDecisions writes one CSV row per decision: t_s, node, function,
// local, forward (total), reject, local_limit, forward_to (the shares as
// node=share separated by semicolons).
func WriteDecisions(w io.Writer, ds []Decision) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"t_s", "node", "function", "local", "forward", "reject", "local_limit", "forward_to"})
	for _, d := range ds {
		parts := make([]string, len(d.Forward))
		for i, s := range d.Forward {
			parts[i] = s.Node + "=" + num(s.Share)
		}
		cw.Write([]string{secs(d.At), d.Node, d.Function, num(d.Local), num(d.Forwarded()), num(d.Reject), num(d.LocalLimit), strings.Join(parts, ";")})
	}
	cw.Flush()
	return cw.Error()
}

// WriteSimSeries writes one CSV row per simulated node and control
// period: from_s, to_s, node, then the rates (req/s) its snapshot held:
// offered, served_local, forwarded, rejected, failed,
// served_for_neighbours.
func WriteSimSeries(w io.Writer, ps []SimPeriod) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"from_s", "to_s", "node", "offered", "served_local", "forwarded", "rejected", "failed", "served_for_neighbours"})
	for _, p := range ps {
		cw.Write([]string{secs(p.From), secs(p.To), p.Node, num(p.Offered), num(p.ServedLocal), num(p.Forwarded), num(p.Rejected), num(p.Failed), num(p.ServedForOthers)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteSimLatencies writes the latency of each request the simulator
// served, one per row (latency_ms), in the order they completed.
func WriteSimLatencies(w io.Writer, ls []time.Duration) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"latency_ms"})
	for _, l := range ls {
		cw.Write([]string{ms(l)})
	}
	cw.Flush()
	return cw.Error()
}
