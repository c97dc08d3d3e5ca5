package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/internal/demo"
)

func runDemo(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("demo", io)
	duration := fs.Duration("duration", 30*time.Second, "how long to send load")
	stratName := fs.String("strategy", defaultStrategy, "strategy: "+strings.Join(io.strategies.Offline(), ", "))
	params := fs.String("params", "", "strategy parameters as a JSON object, as the agent's --strategy-params")
	asJSON := fs.Bool("json", false, "print the result object as JSON instead of a table")
	period := fs.Duration("period", time.Second, "control period of the nodes")
	seed := fs.Uint64("seed", 1, "seed of arrivals and service times")
	logLevel := fs.String("log-level", "warn", "log level of the nodes: debug, info, warn, error")
	faasAPI := fs.String("faas", "openfaas", "API of the nodes' embedded FaaS: openfaas (the gateway API) or openwhisk (OpenWhisk's: actions listed and invoked as on an OpenWhisk node)")
	plain := fs.Bool("insecure-plain-data-plane", false, "forwarded requests travel as plain HTTP between the nodes instead of mutual TLS (lab only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration <= 0 || *duration > 24*time.Hour {
		return usageError{fmt.Sprintf("--duration %v: want a positive duration up to 24h", *duration)}
	}
	if *period < 100*time.Millisecond {
		return usageError{fmt.Sprintf("--period %v: want at least 100ms", *period)}
	}
	log, err := newLogger(io.err, *logLevel)
	if err != nil {
		return err
	}
	if *stratName == "all" {
		return usageError{"--strategy all: the demo runs one strategy (dfaas sim and bench compare them)"}
	}
	if !slices.Contains(io.strategies.Names(), *stratName) { // strategyNames would offer all
		return usageError{fmt.Sprintf("--strategy %q: unknown (known: %s)", *stratName, strings.Join(io.strategies.Offline(), ", "))}
	}
	if _, err := strategyNames(io.strategies, *stratName); err != nil {
		return err
	}
	if err := checkParams(io.strategies, []string{*stratName}, *params); err != nil {
		return err
	}
	if *plain {
		log.Warn("--insecure-plain-data-plane: forwarded requests and their credentials travel as plain HTTP between the nodes")
	}
	res, err := demo.Run(ctx, demo.Options{
		Strategy: *stratName, Registry: io.strategies, Params: json.RawMessage(*params), Duration: *duration, Period: *period, Seed: *seed,
		FaaS: *faasAPI, Log: log, Progress: io.err, PlainDataPlane: *plain,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(io.out).Encode(res)
	}
	return res.WriteTable(io.out)
}
