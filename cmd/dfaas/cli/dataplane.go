package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/dfaas-go/dfaas/internal/dataplane"
	"github.com/dfaas-go/dfaas/internal/gctune"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
)

func runDataplane(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("dataplane", io)
	duration := fs.Duration("duration", 10*time.Second, "load time of each proxy in each scenario, split into --rounds alternating rounds")
	rounds := fs.Int("rounds", 3, "alternating rounds")
	conns := fs.Int("conns", 32, "connections of the closed-loop load (keep-alive HTTP/1.1 POSTs)")
	bin := fs.String("haproxy", haproxy.DefaultBinary, "the haproxy executable")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios: local, forwarded, rejected (default all)")
	proxies := fs.String("proxies", "", "comma-separated proxies: haproxy (the baseline), agent-haproxy, embedded, haproxy-tls, agent-haproxy-tls, embedded-tls (default the first three)")
	withTLS := fs.Bool("tls", true, "also measure each proxy with the node-to-node path over mutual TLS, the agent's default (haproxy-tls, agent-haproxy-tls, embedded-tls), each against its plain variant and against haproxy-tls")
	pin := fs.Bool("pin", false, "run the load generator and the backend on one CPU and every proxy under test on another, the same for all rounds (needs 2 CPUs; on a machine with other work it made the rates less steady, docs/haproxy.md)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	gc := gctune.Register(fs)
	if len(args) >= 2 && args[0] == "--child" { // a child process of the measurement
		return dataplane.RunChild(ctx, args[1], args[2:], io.in, io.out)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration <= 0 || *rounds < 1 || *conns < 1 {
		return usageError{"--duration, --rounds and --conns must be positive"}
	}
	sc, err := dataplane.ParseList(*scenarios, dataplane.Local, dataplane.Forwarded, dataplane.Rejected)
	if err != nil {
		return usageError{"--scenarios: " + err.Error()}
	}
	px, err := dataplane.ParseList(*proxies, dataplane.Plain, dataplane.Agent, dataplane.Embedded, dataplane.PlainTLS, dataplane.AgentTLS, dataplane.EmbeddedTLS)
	if err != nil {
		return usageError{"--proxies: " + err.Error()}
	}
	log, err := newLogger(io.err, *logLevel)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	rep, err := dataplane.Run(ctx, dataplane.Config{
		Duration: *duration, Rounds: *rounds, Conns: *conns, HAProxy: *bin, Scenarios: sc, Proxies: px, TLS: *withTLS, Pin: *pin, Logger: log, AgentGC: gc,
		Child: func(role string, a ...string) *exec.Cmd {
			return exec.CommandContext(ctx, exe, append([]string{"dataplane", "--child", role}, a...)...)
		},
	})
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(io.out)
}
