package embedded

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/internal/netlimit"
	"github.com/dfaas-go/dfaas/strategy"
)

// Defaults of a function's capacity model.
const (
	DefaultCapacity     = 100.0 // req/s
	DefaultConcurrency  = 10
	DefaultQueueTimeout = time.Second
	// MaxBodySize is the default of Limits.MaxBodyBytes: the largest
	// request body a function accepts.
	MaxBodySize = netlimit.DefaultMaxBodyBytes
	// MinCapacity is the smallest capacity a function may have (req/s).
	MinCapacity = 0.001
	// DefaultMaxFunctions and DefaultMaxReplicas bound deployments.
	DefaultMaxFunctions = 100
	DefaultMaxReplicas  = 20
)

// Config configures a Server. The zero Config serves every built-in
// function with the default capacity.
type Config struct {
	// Functions are the functions to serve. If empty, one function per
	// built-in handler, named after it, with default capacity.
	Functions []Function
	// Seed seeds the random service times.
	Seed uint64
	// Logger receives the server's logs. If nil, logs are discarded.
	Logger *slog.Logger

	// Namespace, if set, is reported as every function's namespace and
	// appended to the function_name label of the gateway metrics
	// ("figlet.openfaas-fn"), as an OpenFaaS gateway does.
	Namespace string
	// Username and Password, if Username is set, protect the /system/
	// API with HTTP basic auth, like the gateway's basic_auth mode.
	// /function/, /healthz and /metrics stay open.
	Username, Password string
	// MaxFunctions bounds how many functions may be deployed. If zero,
	// DefaultMaxFunctions.
	MaxFunctions int
	// MaxReplicas bounds a function's replicas. If zero,
	// DefaultMaxReplicas.
	MaxReplicas int
	// GenerateCredentials, when Username is empty, makes New protect the
	// /system/ API with generated basic-auth credentials (user "admin", a
	// random 256-bit password), as an OpenFaaS installation does; read
	// them with Server.Credentials to give them to a client.
	GenerateCredentials bool
	// Limits bounds the listener (see Serve) and every request (Handler
	// applies the body caps and time-out).
	Limits Limits
}

// Function configures one function: which built-in code it runs, and its
// capacity model. A request holds one of Concurrency slots for a service
// time drawn from an exponential distribution of mean
// Concurrency/Capacity seconds (or the time its code takes, if longer), so
// that one replica sustains Capacity req/s; requests wait for a slot in a
// bounded queue for at most QueueTimeout. Each replica adds Concurrency
// slots, Capacity req/s and Queue places.
type Function struct {
	// Name is the function's name (as in /function/{name}).
	Name string
	// Handler is the built-in code it runs (see Handlers). If empty, Name.
	Handler string
	// Capacity is the rate it sustains, in req/s. If zero,
	// DefaultCapacity.
	Capacity float64
	// Concurrency is how many requests it serves at once. If zero,
	// DefaultConcurrency.
	Concurrency int
	// Queue is how many requests may wait for a slot; more are refused
	// with 429. If zero, 10 times Concurrency.
	Queue int
	// QueueTimeout is how long a request may wait for a slot before it
	// fails with 503. If zero, DefaultQueueTimeout.
	QueueTimeout time.Duration
	// Deterministic makes every service time equal to the mean instead
	// of exponentially distributed.
	Deterministic bool
	// Replicas is the initial number of replicas. If zero, 1 (scale to
	// zero through the API).
	Replicas int
	// Labels and Annotations are reported by /system/functions, next to
	// the dfaas.* labels derived from the capacity model.
	Labels      map[string]string
	Annotations map[string]string
}

// Server is an embedded FaaS platform: it runs built-in functions with a
// capacity model and speaks the OpenFaaS gateway HTTP API closely enough
// for faas/openfaas and faas-cli-style clients: list, inspect, deploy,
// update, delete and scale functions under /system/, invoke them under
// /function/{name}, /healthz, and /metrics with the gateway's metric names
// and labels. It also implements faas.Backend in-process. It is safe for
// concurrent use.
type Server struct {
	log     *slog.Logger
	font    font
	reg     *prometheus.Registry
	started time.Time
	ns      string
	user    string
	pass    string
	maxFns  int
	maxRepl int
	lim     *netlimit.Limiter

	fnMu  sync.RWMutex // guards fns and order
	fns   map[string]*function
	order []string

	mu  sync.Mutex // guards rnd
	rnd *rand.Rand

	invocations *prometheus.CounterVec
	startedC    *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	waiting     *prometheus.GaugeVec
	replicas    *prometheus.GaugeVec

	closed atomic.Bool
}

type function struct {
	cfg     Function // Capacity, Concurrency and Queue are per replica
	code    handlerFunc
	slots   limiter
	waiting atomic.Int64
	mean    time.Duration
	calls   atomic.Uint64
	created time.Time
	img     string            // image it was deployed with, if any
	env     map[string]string // environment it was deployed with

	mu       sync.Mutex // guards replicas
	replicas int
}

// New validates cfg and returns a Server. It starts nothing: serve
// Server.Handler with an http.Server.
func New(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.MaxFunctions < 0:
		return nil, fmt.Errorf("embedded faas: negative MaxFunctions %d", cfg.MaxFunctions)
	case cfg.MaxReplicas < 0:
		return nil, fmt.Errorf("embedded faas: negative MaxReplicas %d", cfg.MaxReplicas)
	case cfg.Password != "" && cfg.Username == "":
		return nil, errors.New("embedded faas: Password given without Username")
	}
	if cfg.Namespace != "" {
		if err := strategy.ValidName(cfg.Namespace); err != nil {
			return nil, fmt.Errorf("embedded faas: Namespace: %w", err)
		}
	}
	if cfg.GenerateCredentials && cfg.Username == "" {
		var err error
		if cfg.Username, cfg.Password, err = generateCredentials(); err != nil {
			return nil, fmt.Errorf("embedded faas: %w", err)
		}
	}
	lim, err := netlimit.New("faas", cfg.Limits, log)
	if err != nil {
		return nil, fmt.Errorf("embedded faas: %w", err)
	}
	s := &Server{
		lim:     lim,
		log:     log,
		font:    parseFont(),
		fns:     map[string]*function{},
		reg:     prometheus.NewRegistry(),
		started: time.Now(),
		ns:      cfg.Namespace,
		user:    cfg.Username,
		pass:    cfg.Password,
		maxFns:  cmp.Or(cfg.MaxFunctions, DefaultMaxFunctions),
		maxRepl: cmp.Or(cfg.MaxReplicas, DefaultMaxReplicas),
		rnd:     rand.New(rand.NewPCG(cfg.Seed, 0x66616173)),
	}
	s.initMetrics()
	s.reg.MustRegister(lim)
	fns := cfg.Functions
	if len(fns) == 0 {
		for _, h := range Handlers() {
			fns = append(fns, Function{Name: h})
		}
	}
	if len(fns) > s.maxFns {
		return nil, fmt.Errorf("embedded faas: %d functions, at most %d (MaxFunctions)", len(fns), s.maxFns)
	}
	for i, f := range fns {
		if err := strategy.ValidName(f.Name); err != nil {
			return nil, fmt.Errorf("embedded faas: function %d: %w", i, err)
		}
		if _, dup := s.fns[f.Name]; dup {
			return nil, fmt.Errorf("embedded faas: function %q defined twice", f.Name)
		}
		fn, err := s.newFunction(f)
		if err != nil {
			return nil, fmt.Errorf("embedded faas: function %q: %w", f.Name, err)
		}
		s.add(fn)
	}
	return s, nil
}

func (s *Server) newFunction(f Function) (*function, error) {
	if f.Handler == "" {
		f.Handler = f.Name
	}
	code, ok := s.builtin(f.Handler)
	if !ok {
		return nil, fmt.Errorf("handler %q is not a built-in function (known: %s)", f.Handler, strings.Join(Handlers(), ", "))
	}
	switch {
	case f.Capacity < 0 || math.IsNaN(f.Capacity) || math.IsInf(f.Capacity, 0):
		return nil, fmt.Errorf("capacity %v is not a positive number", f.Capacity)
	case f.Capacity > 0 && f.Capacity < MinCapacity:
		return nil, fmt.Errorf("capacity %v below the minimum %v req/s", f.Capacity, MinCapacity)
	case f.Concurrency < 0 || f.Concurrency > 10000:
		return nil, fmt.Errorf("concurrency %d not in [1, 10000]", f.Concurrency)
	case f.Queue < 0 || f.Queue > 1e6:
		return nil, fmt.Errorf("queue %d not in [0, 1000000]", f.Queue)
	case f.QueueTimeout < 0:
		return nil, fmt.Errorf("negative queue timeout %v", f.QueueTimeout)
	case f.Replicas < 0 || f.Replicas > s.maxRepl:
		return nil, fmt.Errorf("replicas %d not in [0, %d]", f.Replicas, s.maxRepl)
	}
	f.Capacity = cmp.Or(f.Capacity, DefaultCapacity)
	f.Concurrency = cmp.Or(f.Concurrency, DefaultConcurrency)
	f.Queue = cmp.Or(f.Queue, 10*f.Concurrency)
	f.QueueTimeout = cmp.Or(f.QueueTimeout, DefaultQueueTimeout)
	f.Labels = maps.Clone(f.Labels)
	f.Annotations = maps.Clone(f.Annotations)
	fn := &function{
		cfg:      f,
		code:     code,
		mean:     time.Duration(float64(f.Concurrency) / f.Capacity * float64(time.Second)),
		created:  time.Now(),
		replicas: cmp.Or(f.Replicas, 1),
	}
	fn.slots.setLimit(fn.replicas * f.Concurrency)
	return fn, nil
}

// add registers fn, replacing a function of the same name. s.fnMu must not
// be held.
func (s *Server) add(fn *function) {
	s.fnMu.Lock()
	defer s.fnMu.Unlock()
	s.insertLocked(fn)
}

// insertLocked registers fn; s.fnMu must be held.
func (s *Server) insertLocked(fn *function) {
	name := fn.cfg.Name
	if _, ok := s.fns[name]; !ok {
		s.order = append(s.order, name)
		slices.Sort(s.order)
	}
	s.fns[name] = fn
	s.startedC.WithLabelValues(s.metricName(name))
	s.replicas.WithLabelValues(s.metricName(name)).Set(float64(fn.getReplicas()))
}

// addNew registers fn unless a function of that name exists or the
// server is full; it returns the HTTP status of the refusal.
func (s *Server) addNew(fn *function) (int, error) {
	s.fnMu.Lock()
	defer s.fnMu.Unlock()
	if _, exists := s.fns[fn.cfg.Name]; exists {
		return http.StatusConflict, fmt.Errorf("function %q is already deployed: update it with PUT", fn.cfg.Name)
	}
	if len(s.fns) >= s.maxFns {
		return http.StatusBadRequest, fmt.Errorf("unable to create function, maximum: %d", s.maxFns)
	}
	s.insertLocked(fn)
	return 0, nil
}

// function returns the function called name, or nil.
func (s *Server) function(name string) *function {
	s.fnMu.RLock()
	defer s.fnMu.RUnlock()
	return s.fns[name]
}

// list returns the functions in name order.
func (s *Server) list() []*function {
	s.fnMu.RLock()
	defer s.fnMu.RUnlock()
	out := make([]*function, len(s.order))
	for i, name := range s.order {
		out[i] = s.fns[name]
	}
	return out
}

// metricName is a function's function_name label: name.namespace when the
// server has a namespace, as the OpenFaaS gateway reports it.
func (s *Server) metricName(name string) string {
	if s.ns == "" {
		return name
	}
	return name + "." + s.ns
}

func (f *function) getReplicas() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replicas
}

func (f *function) setReplicas(n int) {
	f.mu.Lock()
	f.replicas = n
	f.mu.Unlock()
	f.slots.setLimit(n * f.cfg.Concurrency)
}

// labels returns the labels a function reports: its own, and the dfaas.*
// labels of its capacity model for its current replicas (dfaas.maxrate and
// dfaas.concurrency for the whole function, dfaas.maxrate_per_replica for
// one replica).
func (f *function) labels() map[string]string {
	r := f.getReplicas()
	labels := maps.Clone(f.cfg.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[faas.LabelMaxRate] = strconv.FormatFloat(f.cfg.Capacity*float64(r), 'f', -1, 64)
	labels[LabelMaxRatePerReplica] = strconv.FormatFloat(f.cfg.Capacity, 'f', -1, 64)
	labels[faas.LabelConcurrency] = strconv.Itoa(min(f.cfg.Concurrency*r, 65535))
	if _, ok := labels[faas.LabelTimeout]; !ok {
		labels[faas.LabelTimeout] = strconv.FormatInt(f.cfg.QueueTimeout.Milliseconds()+30000, 10)
	}
	return labels
}

func (s *Server) initMetrics() {
	s.invocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_function_invocation_total", Help: "Function invocations by status code.",
	}, []string{"function_name", "code"})
	s.startedC = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_function_invocation_started", Help: "Function invocations started.",
	}, []string{"function_name"})
	s.seconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gateway_functions_seconds", Help: "Function time taken.", Buckets: prometheus.DefBuckets,
	}, []string{"function_name", "code"})
	s.waiting = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dfaas_faas_queue_waiting", Help: "Requests waiting for a function slot.",
	}, []string{"function_name"})
	s.replicas = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_service_count", Help: "Current count of replicas for function.",
	}, []string{"function_name"})
	s.reg.MustRegister(s.invocations, s.startedC, s.seconds, s.waiting, s.replicas)
}

// Functions implements faas.Backend.
func (s *Server) Functions(ctx context.Context) ([]faas.Function, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, errors.New("embedded faas: closed")
	}
	fns := s.list()
	out := make([]faas.Function, 0, len(fns))
	for _, f := range fns {
		r := f.getReplicas()
		out = append(out, faas.Function{
			Name: f.cfg.Name, Replicas: r, AvailableReplicas: r,
			Labels: f.labels(), Annotations: maps.Clone(f.cfg.Annotations),
		})
	}
	return out, nil
}

// Health implements faas.HealthChecker.
func (s *Server) Health(ctx context.Context) error {
	if s.closed.Load() {
		return errors.New("embedded faas: closed")
	}
	return ctx.Err()
}

// Close makes the server answer 503 and report itself unhealthy. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closed.Store(true)
	return nil
}

// Handler returns the HTTP handler of the gateway API, with the body caps
// and time-out of the server's Limits.
func (s *Server) Handler() http.Handler { return s.lim.Handler(s.mux()) }

func (s *Server) mux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.closed.Load() {
			http.Error(w, "closed", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "OK")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	sys := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.auth(h)) }
	sys("GET /system/functions", s.listFunctions)
	sys("POST /system/functions", s.deploy)
	sys("PUT /system/functions", s.updateFunction)
	sys("DELETE /system/functions", s.deleteFunction)
	sys("GET /system/function/{name}", s.getFunction)
	sys("POST /system/scale-function/{name}", s.scale)
	sys("GET /system/info", s.info)
	sys("GET /system/namespaces", s.namespaces)
	sys("/system/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not supported by the embedded FaaS", http.StatusNotImplemented)
	})
	mux.HandleFunc("/async-function/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "asynchronous invocation is not supported by the embedded FaaS", http.StatusNotImplemented)
	})
	mux.HandleFunc("/function/{name}", s.invoke)
	mux.HandleFunc("/function/{name}/{rest...}", s.invoke)
	return mux
}

// invoke runs a function: wait for a slot (bounded queue, time-out), run
// the code, hold the slot for the drawn service time, answer.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f := s.function(name)
	if f == nil {
		http.Error(w, fmt.Sprintf("function %q is not deployed", name), http.StatusNotFound)
		return
	}
	if s.closed.Load() {
		http.Error(w, "embedded faas closed", http.StatusServiceUnavailable)
		return
	}
	start := time.Now()
	mname := s.metricName(name)
	s.startedC.WithLabelValues(mname).Inc()
	code := s.run(w, r, f)
	c := strconv.Itoa(code)
	s.invocations.WithLabelValues(mname, c).Inc()
	s.seconds.WithLabelValues(mname, c).Observe(time.Since(start).Seconds())
}

func (s *Server) run(w http.ResponseWriter, r *http.Request, f *function) int {
	fail := func(code int, format string, a ...any) int {
		http.Error(w, fmt.Sprintf(format, a...), code)
		return code
	}
	body, err := readBody(w, r, s.lim.Config().MaxBodyBytes)
	if err != nil {
		return fail(netlimit.BodyFailure(w, err), "reading request body: %v", err)
	}
	replicas := f.getReplicas()
	if replicas == 0 {
		return fail(http.StatusServiceUnavailable, "function %q has no replicas (scaled to zero)", f.cfg.Name)
	}
	// Queue for a slot.
	mname := s.metricName(f.cfg.Name)
	if n := f.waiting.Add(1); n > int64(f.cfg.Queue*replicas) {
		f.waiting.Add(-1)
		return fail(http.StatusTooManyRequests, "function %q: queue full (%d waiting)", f.cfg.Name, f.cfg.Queue*replicas)
	}
	s.waiting.WithLabelValues(mname).Inc()
	got := f.slots.acquire(r.Context(), f.cfg.QueueTimeout)
	f.waiting.Add(-1)
	s.waiting.WithLabelValues(mname).Dec()
	if !got {
		if r.Context().Err() != nil {
			return fail(499, "client went away while queued")
		}
		return fail(http.StatusServiceUnavailable, "function %q: no slot free within %v", f.cfg.Name, f.cfg.QueueTimeout)
	}
	defer f.slots.release()
	f.calls.Add(1)

	service := f.mean
	if !f.cfg.Deterministic {
		s.mu.Lock()
		service = time.Duration(s.rnd.ExpFloat64() * float64(f.mean))
		s.mu.Unlock()
	}
	start := time.Now()
	out, err := f.code(r.Context(), body, r.URL.Query())
	if err != nil {
		if r.Context().Err() != nil {
			return fail(499, "client went away")
		}
		return fail(http.StatusBadRequest, "%v", err)
	}
	if rest := service - time.Since(start); rest > 0 {
		t := time.NewTimer(rest)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return fail(499, "client went away")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Duration-Seconds", strconv.FormatFloat(time.Since(start).Seconds(), 'f', 6, 64))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return http.StatusOK
}

// Interface guards.
var (
	_ faas.Backend       = (*Server)(nil)
	_ faas.HealthChecker = (*Server)(nil)
)
