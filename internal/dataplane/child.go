package dataplane

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas/internal/gctune"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
)

// Child roles (RunChild).
const (
	roleBackend  = "backend"  // args: listen address
	roleEmbedded = "embedded" // args: listen address, FaaS URL, State as JSON[, certificate and key PEM]
	roleLoad     = "load"     // no args: jobs on stdin (loadJob), reports on stdout
)

// RunChild runs one child role of a measurement in this process (started
// by Run through its ChildFunc): it listens, prints "addr <host:port>" on
// stdout (an embedded proxy first prints "gc <JSON>", the garbage
// collector settings it applied as the agent does, and "node <host:port>",
// its node port), and serves until stdin reaches its end or ctx is done. The load
// generator instead takes jobs on stdin and answers each on stdout
// (runLoadChild).
func RunChild(ctx context.Context, role string, args []string, stdin io.Reader, stdout io.Writer) error {
	if role == roleLoad {
		return runLoadChild(ctx, stdin, stdout)
	}
	listen := "127.0.0.1:0"
	if len(args) > 0 {
		listen = args[0]
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends at the end of stdin
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	switch role {
	case roleBackend:
		return serveBackend(ctx, listen, stdout)
	case roleEmbedded:
		if len(args) != 3 && len(args) != 4 {
			return fmt.Errorf("dataplane: child %s: want 3 or 4 arguments (listen, FaaS URL, state, [certificate]), got %d", role, len(args))
		}
		return serveEmbedded(ctx, listen, args[1:], stdout)
	}
	return fmt.Errorf("dataplane: unknown child role %q", role)
}

// serveEmbedded serves an embedded proxy as the agent does: the user port
// on listen, the node port on another loopback port (mutual TLS when a
// certificate is given), until ctx is done, with the agent's garbage
// collector settings (applyGC). args: FaaS URL, state as JSON, optionally
// the certificate and key as PEM.
func serveEmbedded(ctx context.Context, listen string, args []string, stdout io.Writer) error {
	if err := applyGC(stdout); err != nil {
		return err
	}
	var s proxyctl.State
	if err := json.Unmarshal([]byte(args[1]), &s); err != nil {
		return fmt.Errorf("dataplane: child %s: state: %w", roleEmbedded, err)
	}
	cfg := goproxy.Config{FaaSURL: args[0], Logger: slog.New(slog.DiscardHandler)}
	if len(args) == 3 {
		cert, err := tls.X509KeyPair([]byte(args[2]), []byte(args[2]))
		if err != nil {
			return fmt.Errorf("dataplane: child %s: certificate: %w", roleEmbedded, err)
		}
		cfg.Certificate = &cert
	}
	p, err := goproxy.New(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Apply(ctx, s); err != nil {
		return err
	}
	user, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	node, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		user.Close()
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Serve(ctx, user) })
	g.Go(func() error { return p.ServeNodes(ctx, node) })
	fmt.Fprintf(stdout, "node %s\naddr %s\n", node.Addr(), user.Addr())
	return g.Wait()
}

// applyGC applies to this process the garbage collector settings of the
// agent: its --gc-percent and --memory-limit as AGENT_GC_PERCENT and
// AGENT_MEMORY_LIMIT give them (Config.AgentGC; the agent's defaults if
// unset), GOGC and GOMEMLIMIT winning as in the agent. It prints what is
// in effect: "gc <JSON of gctune.Applied>".
func applyGC(stdout io.Writer) error {
	f, err := gctune.FromEnv(os.LookupEnv)
	if err != nil {
		return fmt.Errorf("dataplane: child %s: %w", roleEmbedded, err)
	}
	a, err := f.Apply(slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("dataplane: child %s: %w", roleEmbedded, err)
	}
	js, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "gc %s\n", js)
	return err
}
