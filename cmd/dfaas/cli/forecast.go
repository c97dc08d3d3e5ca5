package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		for _, m := range methods {
			if err := ctx.Err(); err != nil {
				return err
			}
			f, err := forecast.ByName(m)
			if err != nil {
				return err
			}
			w, err := tr.Evaluate(f, skip.Seconds())
			if errors.Is(err, forecast.ErrNothingToScore) {
				return usageError{fmt.Sprintf("--skip %v: trace %s: %v (give a shorter --skip, such as --skip 0)", *skip, path, err)}
			} else if err != nil {
				return fmt.Errorf("--trace %s: %w", path, err)
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
