package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/dfaas-go/dfaas/internal/churn"
)

func runChurn(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("churn", io)
	var o churn.Options
	fs.StringVar(&o.Proxy, "proxy", "haproxy", "proxy under test: haproxy or embedded")
	fs.IntVar(&o.Updates, "updates", 1000, "random weight changes to apply")
	fs.Float64Var(&o.Rate, "rate", 500, "user requests per second during the run")
	fs.DurationVar(&o.Interval, "interval", 10*time.Millisecond, "time between two updates")
	fs.BoolVar(&o.Baseline, "baseline", true, "also do the run the original way: HAProxy rewritten and reloaded at every update")
	fs.IntVar(&o.BaselineUpdates, "baseline-updates", 0, "updates of the baseline run (0: as many as --updates)")
	fs.StringVar(&o.Binary, "haproxy", "haproxy", "haproxy binary")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the random weights")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	verbose := fs.Bool("v", false, "log each event and failed request to standard error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case o.Proxy != "haproxy" && o.Proxy != "embedded":
		return usageError{fmt.Sprintf("--proxy %q: want haproxy or embedded", o.Proxy)}
	case o.Updates < 4:
		return usageError{fmt.Sprintf("--updates %d: want at least 4", o.Updates)}
	case !(o.Rate > 0) || math.IsInf(o.Rate, 0) || o.Rate > 100000:
		return usageError{fmt.Sprintf("--rate %v: want a rate above 0 and up to 100000 req/s", o.Rate)}
	case o.Interval <= 0:
		return usageError{fmt.Sprintf("--interval %v: want a positive duration", o.Interval)}
	case o.BaselineUpdates < 0:
		return usageError{fmt.Sprintf("--baseline-updates %d: want 0 or more", o.BaselineUpdates)}
	}
	if *verbose {
		o.Verbose = io.err
	}
	res, err := churn.Measure(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return churn.WriteTable(io.out, res)
}
