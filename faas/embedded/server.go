package embedded

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/dfaas-go/dfaas/strategy"
)

// Defaults of a function's capacity model.
const (
	DefaultCapacity     = 100.0 // req/s
	DefaultConcurrency  = 10
	DefaultQueueTimeout = time.Second
	// MaxBodySize is the largest request body a function accepts.
	MaxBodySize = 10 << 20
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
}

// Function configures one function: which built-in code it runs, and its
// capacity model. A function holds one of Concurrency slots for a service
// time drawn from an exponential distribution of mean
// Concurrency/Capacity seconds (or the time its code takes, if longer), so
// that it sustains Capacity req/s; requests wait for a slot in a bounded
// queue for at most QueueTimeout.
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
	// Labels and Annotations are reported by /system/functions, next to
	// the dfaas.* labels derived from the capacity model.
	Labels      map[string]string
	Annotations map[string]string
}

// Server is an embedded FaaS platform: it runs built-in functions with a
// capacity model and speaks the part of the OpenFaaS gateway HTTP API that
// DFaaS uses (GET /system/functions, GET /system/function/{name},
// /function/{name}, /healthz, /metrics with the gateway's metric names). It
// also implements faas.Backend in-process. It is safe for concurrent use.
type Server struct {
	log     *slog.Logger
	font    font
	fns     map[string]*function
	order   []string
	reg     *prometheus.Registry
	started time.Time

	mu  sync.Mutex // guards rnd
	rnd *rand.Rand

	invocations *prometheus.CounterVec
	startedC    *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	waiting     *prometheus.GaugeVec

	closed atomic.Bool
}

type function struct {
	cfg     Function
	code    handlerFunc
	slots   chan struct{}
	waiting atomic.Int64
	mean    time.Duration
	calls   atomic.Uint64
}

// New validates cfg and returns a Server. It starts nothing: serve
// Server.Handler with an http.Server.
func New(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:     log,
		font:    parseFont(),
		fns:     map[string]*function{},
		reg:     prometheus.NewRegistry(),
		started: time.Now(),
		rnd:     rand.New(rand.NewPCG(cfg.Seed, 0x66616173)),
	}
	fns := cfg.Functions
	if len(fns) == 0 {
		for _, h := range Handlers() {
			fns = append(fns, Function{Name: h})
		}
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
		s.fns[f.Name] = fn
		s.order = append(s.order, f.Name)
	}
	slices.Sort(s.order)
	s.initMetrics()
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
	case f.Concurrency < 0 || f.Concurrency > 10000:
		return nil, fmt.Errorf("concurrency %d not in [1, 10000]", f.Concurrency)
	case f.Queue < 0:
		return nil, fmt.Errorf("negative queue %d", f.Queue)
	case f.QueueTimeout < 0:
		return nil, fmt.Errorf("negative queue timeout %v", f.QueueTimeout)
	}
	f.Capacity = cmp.Or(f.Capacity, DefaultCapacity)
	f.Concurrency = cmp.Or(f.Concurrency, DefaultConcurrency)
	f.Queue = cmp.Or(f.Queue, 10*f.Concurrency)
	f.QueueTimeout = cmp.Or(f.QueueTimeout, DefaultQueueTimeout)
	labels := map[string]string{}
	for k, v := range f.Labels {
		labels[k] = v
	}
	labels[faas.LabelMaxRate] = strconv.FormatFloat(f.Capacity, 'f', -1, 64)
	labels[faas.LabelConcurrency] = strconv.Itoa(f.Concurrency)
	if _, ok := labels[faas.LabelTimeout]; !ok {
		labels[faas.LabelTimeout] = strconv.FormatInt(f.QueueTimeout.Milliseconds()+30000, 10)
	}
	f.Labels = labels
	return &function{
		cfg:   f,
		code:  code,
		slots: make(chan struct{}, f.Concurrency),
		mean:  time.Duration(float64(f.Concurrency) / f.Capacity * float64(time.Second)),
	}, nil
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
	replicas := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_service_count", Help: "Current count of replicas for function.",
	}, []string{"function_name"})
	for _, name := range s.order {
		replicas.WithLabelValues(name).Set(1)
		s.startedC.WithLabelValues(name)
	}
	s.reg.MustRegister(s.invocations, s.startedC, s.seconds, s.waiting, replicas)
}

// Functions implements faas.Backend.
func (s *Server) Functions(ctx context.Context) ([]faas.Function, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, errors.New("embedded faas: closed")
	}
	out := make([]faas.Function, 0, len(s.order))
	for _, name := range s.order {
		f := s.fns[name]
		out = append(out, faas.Function{
			Name: name, Replicas: 1, AvailableReplicas: 1,
			Labels: f.cfg.Labels, Annotations: f.cfg.Annotations,
		}.Clone())
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

// Handler returns the HTTP handler of the gateway API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.closed.Load() {
			http.Error(w, "closed", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "OK")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /system/functions", s.listFunctions)
	mux.HandleFunc("GET /system/function/{name}", s.getFunction)
	mux.HandleFunc("GET /system/info", s.info)
	mux.HandleFunc("/system/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not supported by the embedded FaaS", http.StatusNotImplemented)
	})
	mux.HandleFunc("/function/{name}", s.invoke)
	mux.HandleFunc("/function/{name}/{rest...}", s.invoke)
	return mux
}

// functionStatus has the JSON fields of OpenFaaS's types.FunctionStatus.
type functionStatus struct {
	Name              string            `json:"name"`
	Image             string            `json:"image"`
	Namespace         string            `json:"namespace,omitempty"`
	EnvProcess        string            `json:"envProcess,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	InvocationCount   float64           `json:"invocationCount,omitempty"`
	Replicas          uint64            `json:"replicas,omitempty"`
	AvailableReplicas uint64            `json:"availableReplicas,omitempty"`
	CreatedAt         time.Time         `json:"createdAt"`
}

func (s *Server) status(name string) functionStatus {
	f := s.fns[name]
	return functionStatus{
		Name: name, Image: "dfaas/builtin-" + f.cfg.Handler, EnvProcess: f.cfg.Handler,
		Labels: f.cfg.Labels, Annotations: f.cfg.Annotations,
		InvocationCount: float64(f.calls.Load()), Replicas: 1, AvailableReplicas: 1, CreatedAt: s.started,
	}
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request) {
	out := make([]functionStatus, 0, len(s.order))
	for _, name := range s.order {
		out = append(out, s.status(name))
	}
	writeJSON(w, out)
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := s.fns[name]; !ok {
		http.Error(w, fmt.Sprintf("function %q not found", name), http.StatusNotFound)
		return
	}
	writeJSON(w, s.status(name))
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"provider": map[string]any{"provider": "dfaas-embedded", "orchestration": "in-process"},
		"version":  map[string]any{"release": "dfaas"},
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// invoke runs a function: wait for a slot (bounded queue, time-out), run
// the code, hold the slot for the drawn service time, answer.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f, ok := s.fns[name]
	if !ok {
		http.Error(w, fmt.Sprintf("function %q is not deployed", name), http.StatusNotFound)
		return
	}
	if s.closed.Load() {
		http.Error(w, "embedded faas closed", http.StatusServiceUnavailable)
		return
	}
	start := time.Now()
	s.startedC.WithLabelValues(name).Inc()
	code := s.run(w, r, f)
	c := strconv.Itoa(code)
	s.invocations.WithLabelValues(name, c).Inc()
	s.seconds.WithLabelValues(name, c).Observe(time.Since(start).Seconds())
}

func (s *Server) run(w http.ResponseWriter, r *http.Request, f *function) int {
	fail := func(code int, format string, a ...any) int {
		http.Error(w, fmt.Sprintf(format, a...), code)
		return code
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", MaxBodySize)
		}
		return fail(http.StatusBadRequest, "reading request body: %v", err)
	}
	// Queue for a slot.
	if n := f.waiting.Add(1); n > int64(f.cfg.Queue) {
		f.waiting.Add(-1)
		return fail(http.StatusTooManyRequests, "function %q: queue full (%d waiting)", f.cfg.Name, f.cfg.Queue)
	}
	s.waiting.WithLabelValues(f.cfg.Name).Inc()
	timer := time.NewTimer(f.cfg.QueueTimeout)
	var got bool
	select {
	case f.slots <- struct{}{}:
		got = true
	case <-timer.C:
	case <-r.Context().Done():
	}
	timer.Stop()
	f.waiting.Add(-1)
	s.waiting.WithLabelValues(f.cfg.Name).Dec()
	if !got {
		if r.Context().Err() != nil {
			return fail(499, "client went away while queued")
		}
		return fail(http.StatusServiceUnavailable, "function %q: no slot free within %v", f.cfg.Name, f.cfg.QueueTimeout)
	}
	defer func() { <-f.slots }()
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
