package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/embedded"
)

// Child roles (RunChild).
const (
	roleBackend  = "backend"  // args: listen address
	roleEmbedded = "embedded" // args: listen address, FaaS URL, State as JSON
)

// RunChild runs one child role of a measurement in this process (started
// by Run through its ChildFunc): it listens, prints "addr <host:port>" on
// stdout, and serves until stdin reaches its end or ctx is done.
func RunChild(ctx context.Context, role string, args []string, stdin io.Reader, stdout io.Writer) error {
	var h http.Handler
	listen := "127.0.0.1:0"
	if len(args) > 0 {
		listen = args[0]
	}
	switch role {
	case roleBackend:
		h = backend()
	case roleEmbedded:
		if len(args) != 3 {
			return fmt.Errorf("dataplane: child %s: want 3 arguments (listen, FaaS URL, state), got %d", role, len(args))
		}
		var s proxyctl.State
		if err := json.Unmarshal([]byte(args[2]), &s); err != nil {
			return fmt.Errorf("dataplane: child %s: state: %w", role, err)
		}
		p, err := embedded.New(embedded.Config{FaaSURL: args[1], Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		defer p.Close()
		if err := p.Apply(ctx, s); err != nil {
			return err
		}
		h = p
	default:
		return fmt.Errorf("dataplane: unknown child role %q", role)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "addr %s\n", ln.Addr())
	stop := make(chan struct{})
	go func() { // ends at the end of stdin
		io.Copy(io.Discard, stdin)
		close(stop)
	}()
	select {
	case <-stop:
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	srv.Close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// backend is the trivial function: it reads the body and answers "ok",
// and answers health checks.
func backend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	})
}
