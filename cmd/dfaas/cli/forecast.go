package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/internal/usage"
)

// runForecast scores forecasting methods one step ahead on request-rate
// traces (CSV "time,rate"), by WAPE, as a table or as JSON lines.
func runForecast(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("forecast", io)
	var traces usage.Strings
	fs.Var(&traces, "trace", "request-rate trace `FILE` (CSV with columns time,rate); repeat for several")
	method := fs.String("method", "all", "forecasting method `NAME` ("+strings.Join(forecast.Methods(), ", ")+") or all")
	asJSON := fs.Bool("json", false, "print one JSON object per trace and method instead of a table")
	skip := fs.Duration("skip", 48*time.Hour, "observe but do not score the samples of this first part of each trace")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(traces) == 0 {
		return usageError{"forecast: --trace is required"}
	}
	if *skip < 0 {
		return usageError{fmt.Sprintf("forecast: --skip %v is negative", *skip)}
	}
	methods := forecast.Methods()
	if *method != "all" {
		if _, err := forecast.ByName(*method); err != nil {
			return usageError{fmt.Sprintf("forecast: --method: %v", err)}
		}
		methods = []string{*method}
	}
	var scores []forecast.Score
	for _, path := range traces {
		tr, err := readTraceFile(path)
		if err != nil {
			return err
		}
		if err := checkSpacing(path, tr); err != nil {
			return err
		}
		if err := checkSkip(path, tr, *skip); err != nil {
			return err
		}
		for _, m := range methods {
			if err := ctx.Err(); err != nil {
				return err
			}
			f, err := forecast.ByName(m)
			if err != nil {
				return err
			}
			w, err := tr.Evaluate(f, skip.Seconds())
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			scores = append(scores, forecast.Score{Trace: path, Method: m, WAPE: w})
		}
	}
	if !*asJSON {
		return forecast.WriteScores(io.out, scores)
	}
	enc := json.NewEncoder(io.out)
	for _, s := range scores {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

func readTraceFile(path string) (forecast.Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return forecast.Trace{}, fmt.Errorf("forecast: %w", err)
	}
	defer f.Close()
	tr, err := forecast.ReadTrace(f)
	if err != nil {
		return forecast.Trace{}, fmt.Errorf("%s: %w", path, err)
	}
	return tr, nil
}

// checkSkip refuses a --skip that leaves no sample of the trace at path to
// score, naming the flag and the trace's span.
func checkSkip(path string, tr forecast.Trace, skip time.Duration) error {
	if len(tr.Times) == 0 {
		return nil // Evaluate names the fault
	}
	span := time.Duration((tr.Times[len(tr.Times)-1] - tr.Times[0]) * float64(time.Second))
	if span >= skip {
		return nil
	}
	return usageError{fmt.Sprintf("forecast: --skip %v: trace %s spans %v, no sample after the skipped part to score (give a shorter --skip, such as --skip 0)", skip, path, span)}
}

// checkSpacing refuses a trace whose samples are not evenly spaced (as
// docs/scenarios.md asks, and dfaas sim and bench check): a forecaster
// predicts one sample ahead, whatever the time between samples.
func checkSpacing(path string, tr forecast.Trace) error {
	if len(tr.Times) < 3 {
		return nil
	}
	step := tr.Times[1] - tr.Times[0]
	for i := 2; i < len(tr.Times); i++ {
		if d := tr.Times[i] - tr.Times[i-1]; math.Abs(d-step) > 1e-6*max(1, step) {
			return fmt.Errorf("forecast: --trace %s: samples %d and %d are %v s apart, the first two %v s: want even spacing (each rate is forecast one sample ahead)", path, i, i+1, d, step)
		}
	}
	return nil
}
