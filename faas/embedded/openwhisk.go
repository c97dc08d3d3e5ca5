package embedded

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults and bounds of OpenWhiskConfig.
const (
	// DefaultOpenWhiskNamespace is the namespace of OpenWhisk's standalone
	// server.
	DefaultOpenWhiskNamespace = "guest"
	// DefaultConcurrentInvocations and DefaultInvocationsPerMinute are the
	// namespace's limits (higher than OpenWhisk's defaults of 30 and 60, so
	// that load tests measure the functions' capacity model instead).
	DefaultConcurrentInvocations = 1000
	DefaultInvocationsPerMinute  = 60000
	// DefaultBlockingWait is how long a blocking invocation waits for its
	// activation before answering 202 with the activation id (OpenWhisk's
	// controller waits 60 s).
	DefaultBlockingWait = 60 * time.Second
	// DefaultMaxActivations is how many finished activation records are
	// kept for GET .../activations/{id}; older ones are forgotten.
	DefaultMaxActivations = 1000
	// MaxActivationBytes bounds the results the kept activations hold in
	// all; the oldest are forgotten first.
	MaxActivationBytes = 64 << 20
	// MaxOpenWhiskPayload bounds the body of an invocation (OpenWhisk's
	// default payload limit, 1 MiB).
	MaxOpenWhiskPayload = 1 << 20
)

// OpenWhiskConfig configures the OpenWhisk API of a Server.
type OpenWhiskConfig struct {
	// Key is the namespace's API key, "UUID:KEY" (faas/openwhisk has
	// ReadKeyFile and CreateKeyFile). Required: there is no default key.
	Key string
	// Namespace is the one namespace served. If empty,
	// DefaultOpenWhiskNamespace.
	Namespace string
	// ConcurrentInvocations and InvocationsPerMinute are the namespace's
	// limits; an invocation above either is refused with 429. If zero,
	// the defaults.
	ConcurrentInvocations int
	InvocationsPerMinute  int
	// BlockingWait bounds a blocking invocation's wait (see
	// DefaultBlockingWait); a request's ?timeout=MS may shorten it.
	BlockingWait time.Duration
	// MaxActivations bounds the activation records kept. If zero,
	// DefaultMaxActivations.
	MaxActivations int
}

// OpenWhisk serves a Server's functions as the OpenWhisk actions of one
// namespace, through the subset of OpenWhisk's REST API that DFaaS and
// OpenWhisk's clients use:
//
//	GET  /api/v1/namespaces                              ["guest"]
//	GET  /api/v1/namespaces/{ns}/actions[?limit&skip&count]
//	GET  /api/v1/namespaces/{ns}/actions/{name}
//	POST /api/v1/namespaces/{ns}/actions/{name}[?blocking=true[&result=true][&timeout=MS]]
//	DELETE /api/v1/namespaces/{ns}/actions/{name}
//	GET  /api/v1/namespaces/{ns}/activations/{id}[/result|/logs]
//	ANY  /api/v1/web/{ns}/default/{name}[.json|.http|.text|.html|.svg][/path]
//	GET  /ping, /metrics
//
// {ns} is the namespace or "_". Every /api/v1/namespaces/ request needs the
// key (HTTP Basic, 401 otherwise); web actions (annotation web-export=true)
// need none unless they have require-whisk-auth. Actions are listed in name
// order, 30 by default and at most 200 per page, as OpenWhisk pages them;
// an action reports its labels (with the dfaas.* settings of its capacity
// model) and annotations as annotations, and its time-out and per-replica
// concurrency as limits.
//
// An invocation runs the built-in code through the function's capacity
// model. Its parameters are a JSON object; echo returns them as its result;
// the other built-ins take the parameter __ow_body (a raw body) as their
// input and their string and number parameters as options (sleep's d),
// and return {"body": output, "headers": {"Content-Type": "text/plain"}},
// which a web action answers as plain text. Non-blocking invocations answer
// 202 {"activationId"}; blocking ones wait up to BlockingWait and then
// answer 202 the same way; the finished activation is kept (the last
// MaxActivations, with at most MaxActivationBytes of results) for GET
// .../activations/{id}. A function's refusal (full
// queue 429, no slot 503) keeps its status; the namespace's limits
// (ConcurrentInvocations, InvocationsPerMinute) answer 429 with OpenWhisk's
// messages. /metrics has the per-action series of OpenWhisk's user-events
// service (openwhisk_action_activations_total, openwhisk_action_status,
// openwhisk_action_duration_seconds, the limit counters).
//
// Non-blocking invocations, and blocking ones that outlast the blocking
// wait, run on goroutines the OpenWhisk owns: Close cancels and waits for
// them. It is safe for concurrent use.
type OpenWhisk struct {
	s            *Server
	uuid, secret string
	ns           string
	maxInflight  int
	perMinute    int
	wait         time.Duration
	maxActs      int
	now          func() time.Time

	ctx    context.Context // of the activations; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	closed   bool
	inflight int
	minute   int64
	count    int

	store activationStore
	m     owMetrics
}

// NewOpenWhisk returns the OpenWhisk API of s. Serve its Handler; Close it
// before the Server.
func NewOpenWhisk(s *Server, cfg OpenWhiskConfig) (*OpenWhisk, error) {
	if s == nil {
		return nil, errors.New("embedded openwhisk: nil Server")
	}
	uuid, secret, ok := strings.Cut(strings.TrimSpace(cfg.Key), ":")
	if !ok || uuid == "" || secret == "" || strings.ContainsAny(cfg.Key, " \t\r\n") {
		return nil, errors.New("embedded openwhisk: Key is not UUID:KEY (there is no default key)")
	}
	ns := cmp.Or(cfg.Namespace, DefaultOpenWhiskNamespace)
	if ns == "_" || strings.ContainsAny(ns, "/?#% \t\r\n") || len(ns) > 256 {
		return nil, fmt.Errorf("embedded openwhisk: Namespace %q is not a namespace name", ns)
	}
	switch {
	case cfg.ConcurrentInvocations < 0:
		return nil, fmt.Errorf("embedded openwhisk: negative ConcurrentInvocations %d", cfg.ConcurrentInvocations)
	case cfg.InvocationsPerMinute < 0:
		return nil, fmt.Errorf("embedded openwhisk: negative InvocationsPerMinute %d", cfg.InvocationsPerMinute)
	case cfg.BlockingWait < 0:
		return nil, fmt.Errorf("embedded openwhisk: negative BlockingWait %v", cfg.BlockingWait)
	case cfg.MaxActivations < 0:
		return nil, fmt.Errorf("embedded openwhisk: negative MaxActivations %d", cfg.MaxActivations)
	}
	o := &OpenWhisk{
		s: s, uuid: uuid, secret: secret, ns: ns,
		maxInflight: cmp.Or(cfg.ConcurrentInvocations, DefaultConcurrentInvocations),
		perMinute:   cmp.Or(cfg.InvocationsPerMinute, DefaultInvocationsPerMinute),
		wait:        cmp.Or(cfg.BlockingWait, DefaultBlockingWait),
		maxActs:     cmp.Or(cfg.MaxActivations, DefaultMaxActivations),
		now:         time.Now,
	}
	o.store.max, o.store.maxBytes = o.maxActs, MaxActivationBytes
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.m = newOWMetrics()
	return o, nil
}

// Namespace returns the namespace served.
func (o *OpenWhisk) Namespace() string { return o.ns }

// Close refuses new invocations (503), cancels the running activations and
// waits for them. It is safe to call more than once.
func (o *OpenWhisk) Close() error {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
	return nil
}

// Handler returns the HTTP handler of the OpenWhisk API: the REST API under
// /api/v1/ (Basic auth with the key), web actions under /api/v1/web/ (no
// auth), GET /ping and GET /metrics (user-events series and the Server's
// queue gauges).
func (o *OpenWhisk) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("pong")) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{o.m.reg, o.s.reg}, promhttp.HandlerOpts{}))
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, o.auth(h)) }
	api("GET /api/v1/namespaces", o.namespaces)
	api("GET /api/v1/namespaces/{ns}/actions", o.listActions)
	api("GET /api/v1/namespaces/{ns}/actions/{name...}", o.getAction)
	api("POST /api/v1/namespaces/{ns}/actions/{name...}", o.invokeAction)
	api("DELETE /api/v1/namespaces/{ns}/actions/{name...}", o.deleteAction)
	api("GET /api/v1/namespaces/{ns}/activations/{id}", o.getActivation)
	api("GET /api/v1/namespaces/{ns}/activations/{id}/{part}", o.getActivation)
	api("/api/v1/namespaces/", func(w http.ResponseWriter, r *http.Request) {
		owError(w, http.StatusNotImplemented, "This operation is not supported by the embedded FaaS.")
	})
	mux.HandleFunc("/api/v1/web/{ns}/{pkg}/{rest...}", o.web)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		owError(w, http.StatusNotFound, msgNotFound)
	})
	return mux
}

// OpenWhisk's messages, as its controller words them.
const (
	msgNotFound        = "The requested resource does not exist."
	msgUnauthenticated = "The supplied authentication is invalid."
	msgForbidden       = "The supplied authentication is not authorized to access this resource."
	msgMalformed       = "The request content was malformed."
	msgNotReady        = "Response not yet ready."
	msgReserved        = "Request defines parameters that are not allowed (e.g., reserved properties)."
	msgProcessing      = "There was an error processing your request."
	msgNoProperty      = "Response does not include requested property."
)

// auth wraps a REST handler with Basic auth against the key.
func (o *OpenWhisk) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="whisk rest service"`)
			owError(w, http.StatusUnauthorized, msgUnauthenticated)
			return
		}
		h(w, r)
	})
}

func (o *OpenWhisk) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(o.uuid)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(o.secret)) == 1
}

// namespaceOK answers 403 and returns false when a path names a namespace
// other than the one served ("_" is the key's default namespace).
func (o *OpenWhisk) namespaceOK(w http.ResponseWriter, ns string) bool {
	if ns == "_" || ns == o.ns {
		return true
	}
	owError(w, http.StatusForbidden, msgForbidden)
	return false
}

func (o *OpenWhisk) namespaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []string{o.ns})
}

// admit takes an invocation slot under the namespace's limits. It returns
// the HTTP status and message of a refusal, or 0. An admitted invocation
// must call release, and o.wg.Done when its goroutine ends (start does both).
func (o *OpenWhisk) admit() (int, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.s.closed.Load() {
		return http.StatusServiceUnavailable, "The embedded FaaS is shutting down."
	}
	if o.inflight >= o.maxInflight {
		o.m.limitConcurrent.WithLabelValues(o.ns).Inc()
		return http.StatusTooManyRequests, fmt.Sprintf("Too many concurrent requests in flight (count: %d, allowed: %d).", o.inflight, o.maxInflight)
	}
	if m := o.now().Unix() / 60; m != o.minute {
		o.minute, o.count = m, 0
	}
	if o.count >= o.perMinute {
		o.m.limitTimed.WithLabelValues(o.ns).Inc()
		return http.StatusTooManyRequests, fmt.Sprintf("Too many requests in the last minute (count: %d, allowed: %d).", o.count, o.perMinute)
	}
	o.count++
	o.inflight++
	o.wg.Add(1)
	return 0, ""
}

// release returns an invocation slot. The invocation's goroutine calls it
// before it hands the activation on, so that a caller answered has its slot
// back; the goroutine's own end is marked by o.wg.Done.
func (o *OpenWhisk) release() {
	o.mu.Lock()
	o.inflight--
	o.mu.Unlock()
}

// newActivationID returns 32 random hexadecimal digits, as OpenWhisk's
// activation ids.
func newActivationID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// owError writes an OpenWhisk error body: {"error": msg, "code": id}.
func owError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg, "code": newActivationID()})
}
