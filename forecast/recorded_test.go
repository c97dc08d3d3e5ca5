package forecast_test

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dfaas-go/dfaas/forecast"
)

// recordedRun is testdata/resource-run.csv: a real run of "dfaas faas"
// under changing load (see testdata/README.md).
type recordedRun struct {
	rates               []map[string]float64
	nodeCPU, nodeMem    []float64 // node_exporter: cores busy, bytes in use
	procCPU, procRSS    []float64 // the faas process: cores, resident bytes
	functions           []string
	period, length      float64
	rateSum, failedRate float64
}

func loadRecordedRun(t *testing.T) recordedRun {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "resource-run.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	num := func(rec []string, name string) float64 {
		i, ok := col[name]
		if !ok {
			t.Fatalf("no column %q", name)
		}
		v, err := strconv.ParseFloat(rec[i], 64)
		if err != nil {
			t.Fatalf("column %q: %v", name, err)
		}
		return v
	}
	r := recordedRun{functions: []string{"cpu", "mem", "figlet"}}
	for _, rec := range recs[1:] {
		rates := map[string]float64{}
		for _, fn := range r.functions {
			rates[fn] = num(rec, fn+"_rate")
			r.rateSum += rates[fn]
		}
		r.failedRate += num(rec, "failed_rate")
		r.rates = append(r.rates, rates)
		r.nodeCPU = append(r.nodeCPU, num(rec, "node_cpu_cores"))
		r.nodeMem = append(r.nodeMem, num(rec, "node_mem_bytes"))
		r.procCPU = append(r.procCPU, num(rec, "proc_cpu_cores"))
		r.procRSS = append(r.procRSS, num(rec, "proc_rss_bytes"))
		r.length = num(rec, "t")
	}
	r.period = r.length / float64(len(r.rates))
	return r
}

// usageError are WAPEs (sum |actual - predicted| / sum actual) of
// predictions of a metric, and shares of periods at or below the upper
// prediction.
type usageError struct {
	model, modelCover     float64 // Predict: from the period's rates alone
	anchored, anchorCover float64 // PredictFrom: the period before's usage plus the predicted change
	mean, last            float64 // baselines: running mean, and the period before's usage
	n                     int
	costs                 map[string]forecast.Usage // learned by the end
	base                  forecast.Usage
}

// usageErrors replays a recorded metric through a ResourceModel online:
// each period's usage is predicted from that period's rates (and, for
// PredictFrom, the period before) before the model sees it. Periods before warm are observed but not scored; so, in changed
// only, are periods whose rates did not change from the period before by
// more than a fifth of the largest rate.
func usageErrors(t *testing.T, r recordedRun, ys []float64, metric string, warm int, changedOnly bool) (e usageError) {
	t.Helper()
	m, err := forecast.NewResourceModel(forecast.ResourceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var errM, errA, errMean, errLast, sum, runMean float64
	inside, insideA := 0, 0
	pick := func(u forecast.Usage) float64 {
		if metric == "memory" {
			return u.Memory
		}
		return u.CPU
	}
	wrap := func(y float64) forecast.Usage {
		if metric == "memory" {
			return forecast.Usage{Memory: y}
		}
		return forecast.Usage{CPU: y}
	}
	for i, rates := range r.rates {
		y := ys[i]
		score := i >= warm
		if changedOnly && i > 0 {
			diff, top := 0.0, 0.0
			for fn, v := range rates {
				diff = max(diff, math.Abs(v-r.rates[i-1][fn]))
				top = max(top, v)
			}
			score = score && diff > 0.3*top
		}
		if score {
			p, err := m.Predict(rates)
			if err != nil {
				t.Fatalf("period %d: %v", i, err)
			}
			pa, err := m.PredictFrom(wrap(ys[i-1]), r.rates[i-1], rates)
			if err != nil {
				t.Fatalf("period %d: %v", i, err)
			}
			errM += math.Abs(y - pick(p.Mean))
			errA += math.Abs(y - pick(pa.Mean))
			errMean += math.Abs(y - runMean)
			errLast += math.Abs(y - ys[i-1])
			sum += y
			if y <= pick(p.Upper) {
				inside++
			}
			if y <= pick(pa.Upper) {
				insideA++
			}
			e.n++
		}
		if err := m.Observe(rates, wrap(y)); err != nil {
			t.Fatalf("period %d: %v", i, err)
		}
		runMean += (y - runMean) / float64(i+1)
	}
	e.costs = map[string]forecast.Usage{}
	for _, fn := range r.functions {
		e.costs[fn], _ = m.Cost(fn)
	}
	e.base = m.Base()
	e.model, e.anchored, e.mean, e.last = errM/sum, errA/sum, errMean/sum, errLast/sum
	e.modelCover, e.anchorCover = float64(inside)/float64(e.n), float64(insideA)/float64(e.n)
	return e
}

// TestRecordedRun reports the resource model's error on the recorded run
// and checks that it explains the usage of the faas process far better
// than its running mean does. The node-wide readings include whatever else
// ran on the (shared) machine during the recording; they are reported, not
// asserted on.
func TestRecordedRun(t *testing.T) {
	r := loadRecordedRun(t)
	t.Logf("recorded run: %d periods of %.1fs, mean total rate %.1f req/s, failed %.3f req/s", len(r.rates), r.period, r.rateSum/float64(len(r.rates)), r.failedRate/float64(len(r.rates)))
	const warm = 24 // two minutes of five-second periods
	for _, c := range []struct {
		name, metric string
		ys           []float64
		assert       bool
	}{
		{"process CPU", "cpu", r.procCPU, true},
		{"process RSS", "memory", r.procRSS, false},
		{"node CPU", "cpu", r.nodeCPU, false},
		{"node memory", "memory", r.nodeMem, false},
	} {
		for _, changed := range []bool{false, true} {
			e := usageErrors(t, r, c.ys, c.metric, warm, changed)
			which := "all"
			if changed {
				which = "changed"
			}
			t.Logf("%-12s %-7s n=%3d  WAPE: Predict %.3f (upper covers %.2f)  PredictFrom %.3f (covers %.2f)  running mean %.3f  period before %.3f",
				c.name, which, e.n, e.model, e.modelCover, e.anchored, e.anchorCover, e.mean, e.last)
			if !changed {
				pick := func(u forecast.Usage) float64 { return max(u.CPU, u.Memory) }
				t.Logf("%-12s learned: base %.4g, per req/s: cpu %.4g, mem %.4g, figlet %.4g",
					c.name, pick(e.base), pick(e.costs["cpu"]), pick(e.costs["mem"]), pick(e.costs["figlet"]))
			}
			switch {
			case c.assert && !changed:
				if e.model > 0.5*e.mean {
					t.Errorf("%s: Predict WAPE %.3f not under half the running mean's %.3f", c.name, e.model, e.mean)
				}
				if e.modelCover < 0.8 {
					t.Errorf("%s: only %.2f of periods below the upper prediction, want >= 0.8", c.name, e.modelCover)
				}
			case c.assert && changed:
				// Right after the load changes, the model must beat
				// assuming the usage stays as it was.
				if e.model > 0.75*e.last {
					t.Errorf("%s after a load change: Predict WAPE %.3f not under 3/4 of the period before's %.3f", c.name, e.model, e.last)
				}
			}
		}
	}
}
