package stack

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas/faas/openwhisk"
	"github.com/dfaas-go/dfaas/internal/usage"
)

// openWhisk configures cfg for an OpenWhisk node: the Client lists the
// actions (the node's FaaS), and the proxy sends local requests to the
// Invoker, which the stack serves on loopback (OpenWhiskFront).
func (b Backends) openWhisk(cfg *Config, log *slog.Logger) (*openwhisk.Client, error) {
	if b.OpenWhiskAuthFile == "" {
		return nil, usage.Errorf("--faas openwhisk needs --openwhisk-auth-file FILE (the namespace's API key UUID:KEY)")
	}
	key, err := openwhisk.ReadKeyFile(b.OpenWhiskAuthFile)
	if err != nil {
		return nil, usage.Errorf("--openwhisk-auth-file: %v", err)
	}
	c, err := openwhisk.New(openwhisk.Config{URL: b.OpenWhiskURL, Namespace: b.OpenWhiskNamespace, Key: key, CAFile: b.OpenWhiskCA, Logger: log})
	if err != nil {
		// New's errors name the Config field at fault.
		flagName := "--openwhisk-url"
		switch msg := err.Error(); {
		case strings.Contains(msg, "CAFile"):
			flagName = "--openwhisk-ca"
		case strings.Contains(msg, "Namespace"):
			flagName = "--openwhisk-namespace"
		}
		return nil, usage.Errorf("%s: %v", flagName, err)
	}
	front, err := OpenWhiskFront(c, log)
	if err != nil {
		c.Close()
		return nil, err
	}
	cfg.FaaS, cfg.FaaSURL, cfg.FaaSHandler = c, "", front
	return c, nil
}

// OpenWhiskFront returns what the proxy of an OpenWhisk node sends its
// local requests to, in place of an OpenFaaS gateway: c's Invoker for
// /function/{name}[/...] (nothing else of OpenWhisk's API is reachable
// through it), and GET /healthz for the proxy's health checks (HAProxy
// checks its gateway there), answering 200 while the controller answers
// c's health check with the key, checked at most once a second. Serve it
// on a loopback address only: it adds the operator's key to invocations.
func OpenWhiskFront(c *openwhisk.Client, log *slog.Logger) (http.Handler, error) {
	iv, err := openwhisk.NewInvoker(openwhisk.InvokerConfig{Client: c, Logger: log})
	if err != nil {
		return nil, err
	}
	h := &cachedHealth{check: c.Health, every: time.Second}
	// Not a ServeMux: it would answer a path with dot segments with a
	// redirect to the cleaned path; the Invoker refuses them.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Method != http.MethodGet {
			iv.ServeHTTP(w, r)
			return
		}
		if err := h.get(r.Context()); err != nil {
			http.Error(w, "dfaas: the OpenWhisk controller fails its health check", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}), nil
}

// cachedHealth runs a health check at most once per period and answers
// its last result meanwhile.
type cachedHealth struct {
	check func(context.Context) error
	every time.Duration

	mu  sync.Mutex // held during a check: concurrent callers wait for it
	at  time.Time
	err error
}

func (h *cachedHealth) get(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < h.every {
		return h.err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h.err, h.at = h.check(ctx), time.Now()
	return h.err
}
