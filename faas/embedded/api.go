package embedded

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"path"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/strategy"
)

// LabelMaxRatePerReplica is reported next to faas.LabelMaxRate: the
// capacity of one replica.
const LabelMaxRatePerReplica = faas.LabelMaxRatePerReplica

// Environment variables of a deployment that set the capacity model of one
// replica (see DecodeDeployment).
const (
	EnvHandler       = "handler"
	EnvCapacity      = "capacity"
	EnvMaxInflight   = "max_inflight"
	EnvQueue         = "queue"
	EnvQueueTimeout  = "queue_timeout"
	EnvDeterministic = "deterministic"
)

// maxRequestSize bounds the body of a /system/ request.
const maxRequestSize = 1 << 20

// auth wraps a /system/ handler with basic auth when the server has
// credentials.
func (s *Server) auth(h http.HandlerFunc) http.Handler {
	if s.user == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Restricted"`)
			http.Error(w, "invalid credentials", http.StatusUnauthorized)
			return
		}
		h(w, r)
	})
}

// status is what /system/functions reports for f.
func (s *Server) status(f *function) types.FunctionStatus {
	r := uint64(f.getReplicas())
	labels := f.labels()
	st := types.FunctionStatus{
		Name:              f.cfg.Name,
		Image:             f.image(),
		Namespace:         s.ns,
		EnvProcess:        f.cfg.Handler,
		EnvVars:           maps.Clone(f.env),
		Labels:            &labels,
		InvocationCount:   float64(f.calls.Load()),
		Replicas:          r,
		AvailableReplicas: r,
		CreatedAt:         f.created,
	}
	if len(f.cfg.Annotations) > 0 {
		a := maps.Clone(f.cfg.Annotations)
		st.Annotations = &a
	}
	return st
}

// image is the image a function reports: the one it was deployed with, or
// dfaas/builtin-HANDLER.
func (f *function) image() string {
	if f.img != "" {
		return f.img
	}
	return "dfaas/builtin-" + f.cfg.Handler
}

// checkNamespace answers 400 and returns false when a request names a
// namespace other than the server's.
func (s *Server) checkNamespace(w http.ResponseWriter, ns string) bool {
	if ns == "" || s.ns == "" || ns == s.ns {
		return true
	}
	http.Error(w, fmt.Sprintf("namespace %q is not served here (only %q)", ns, s.ns), http.StatusBadRequest)
	return false
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request) {
	if !s.checkNamespace(w, r.URL.Query().Get("namespace")) {
		return
	}
	fns := s.list()
	out := make([]types.FunctionStatus, 0, len(fns))
	for _, f := range fns {
		out = append(out, s.status(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request) {
	if !s.checkNamespace(w, r.URL.Query().Get("namespace")) {
		return
	}
	name := r.PathValue("name")
	f := s.function(name)
	if f == nil {
		http.Error(w, fmt.Sprintf("function %q not found", name), http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, s.status(f))
}

// gatewayInfo is the body of GET /system/info.
type gatewayInfo struct {
	Provider *types.ProviderInfo `json:"provider"`
	Version  *types.VersionInfo  `json:"version"`
	Arch     string              `json:"arch"`
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	v := &types.VersionInfo{Release: "dfaas", SHA: "embedded"}
	writeJSON(w, http.StatusOK, gatewayInfo{
		Provider: &types.ProviderInfo{Name: "dfaas-embedded", Orchestration: "in-process", Version: v},
		Version:  v,
		Arch:     runtime.GOARCH,
	})
}

func (s *Server) namespaces(w http.ResponseWriter, r *http.Request) {
	out := []string{}
	if s.ns != "" {
		out = append(out, s.ns)
	}
	writeJSON(w, http.StatusOK, out)
}

// deploy: POST /system/functions.
func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	var d types.FunctionDeployment
	if !decodeBody(w, r, &d) || !s.checkNamespace(w, d.Namespace) {
		return
	}
	f, err := DecodeDeployment(d, 1)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fn, err := s.newFunction(f)
	if err != nil {
		http.Error(w, fmt.Sprintf("function %q: %v", d.Service, err), http.StatusBadRequest)
		return
	}
	fn.img, fn.env = d.Image, maps.Clone(d.EnvVars)
	if code, err := s.addNew(fn); err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	s.log.Info("function deployed", "function", f.Name, "handler", f.Handler, "capacity", f.Capacity, "concurrency", f.Concurrency)
	w.WriteHeader(http.StatusAccepted)
}

// updateFunction: PUT /system/functions. The function keeps its replicas
// and its invocation count; requests in flight finish under the old
// settings.
func (s *Server) updateFunction(w http.ResponseWriter, r *http.Request) {
	var d types.FunctionDeployment
	if !decodeBody(w, r, &d) || !s.checkNamespace(w, d.Namespace) {
		return
	}
	old := s.function(d.Service)
	if old == nil {
		http.Error(w, fmt.Sprintf("function %q not found", d.Service), http.StatusNotFound)
		return
	}
	replicas := old.getReplicas()
	f, err := DecodeDeployment(d, replicas)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.Replicas = replicas
	fn, err := s.newFunction(f)
	if err != nil {
		http.Error(w, fmt.Sprintf("function %q: %v", d.Service, err), http.StatusBadRequest)
		return
	}
	fn.replicas = replicas // newFunction makes 0 into 1
	fn.slots.setLimit(replicas * fn.cfg.Concurrency)
	fn.img, fn.env, fn.created = d.Image, maps.Clone(d.EnvVars), old.created
	fn.calls.Store(old.calls.Load())
	s.add(fn)
	s.log.Info("function updated", "function", f.Name, "handler", f.Handler, "capacity", f.Capacity, "concurrency", f.Concurrency)
	w.WriteHeader(http.StatusAccepted)
}

// deleteFunction: DELETE /system/functions.
func (s *Server) deleteFunction(w http.ResponseWriter, r *http.Request) {
	var d types.DeleteFunctionRequest
	if !decodeBody(w, r, &d) || !s.checkNamespace(w, d.Namespace) {
		return
	}
	if !s.remove(d.FunctionName) {
		http.Error(w, fmt.Sprintf("function %q not found", d.FunctionName), http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// remove deletes function name; it reports whether it was deployed.
func (s *Server) remove(name string) bool {
	s.fnMu.Lock()
	_, ok := s.fns[name]
	if ok {
		delete(s.fns, name)
		i := 0
		for _, n := range s.order {
			if n != name {
				s.order[i] = n
				i++
			}
		}
		s.order = s.order[:i]
		s.replicas.DeleteLabelValues(s.metricName(name))
	}
	s.fnMu.Unlock()
	if ok {
		s.log.Info("function deleted", "function", name)
	}
	return ok
}

// scale: POST /system/scale-function/{name}.
func (s *Server) scale(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req types.ScaleServiceRequest
	if !decodeBody(w, r, &req) || !s.checkNamespace(w, req.Namespace) {
		return
	}
	if req.ServiceName != "" && req.ServiceName != name {
		http.Error(w, fmt.Sprintf("serviceName %q differs from the function %q in the path", req.ServiceName, name), http.StatusBadRequest)
		return
	}
	if req.Replicas > uint64(s.maxRepl) {
		http.Error(w, fmt.Sprintf("replicas %d above the maximum %d", req.Replicas, s.maxRepl), http.StatusBadRequest)
		return
	}
	f := s.function(name)
	if f == nil {
		http.Error(w, fmt.Sprintf("function %q not found", name), http.StatusNotFound)
		return
	}
	f.setReplicas(int(req.Replicas))
	s.replicas.WithLabelValues(s.metricName(name)).Set(float64(req.Replicas))
	s.log.Info("function scaled", "function", name, "replicas", req.Replicas)
	w.WriteHeader(http.StatusAccepted)
}

// decodeBody decodes a JSON request body into v, answering 400 on error.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestSize))
	if err == nil {
		err = decodeJSON(data, v)
	}
	if err != nil {
		http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// decodeJSON decodes exactly one JSON value. Unknown fields are allowed, as
// the gateway allows them.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// DecodeDeployment turns an OpenFaaS deployment request into a Function of
// the embedded FaaS for a function with the given replicas.
//
// The built-in code is the envProcess if it names a built-in; else the
// image's last path element without tag or digest (with a "builtin-"
// prefix removed: "ghcr.io/openfaas/figlet:latest" and
// "dfaas/builtin-figlet" both run figlet); else the environment variable
// handler; else the service name.
//
// The capacity model of one replica comes from the environment variables
// capacity (req/s), max_inflight (concurrency, as for the OpenFaaS
// watchdog), queue, queue_timeout (a Go duration) and deterministic; when
// capacity is absent, from the label or annotation dfaas.maxrate_per_replica,
// else dfaas.maxrate divided by replicas; when max_inflight is absent, from
// dfaas.concurrency divided by replicas (rounded up).
func DecodeDeployment(d types.FunctionDeployment, replicas int) (Function, error) {
	if err := strategy.ValidName(d.Service); err != nil {
		return Function{}, fmt.Errorf("service: %w", err)
	}
	replicas = max(replicas, 1)
	f := Function{Name: d.Service}
	if d.Labels != nil {
		f.Labels = maps.Clone(*d.Labels)
	}
	if d.Annotations != nil {
		f.Annotations = maps.Clone(*d.Annotations)
	}
	setting := func(key string) (string, bool) {
		if v, ok := f.Labels[key]; ok {
			return v, true
		}
		v, ok := f.Annotations[key]
		return v, ok
	}
	bad := func(what, v, want string) error {
		return fmt.Errorf("function %q: %s=%q is not %s", d.Service, what, v, want)
	}

	f.Handler = handlerOf(d)

	if v, ok := d.EnvVars[EnvCapacity]; ok {
		c, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(c > 0) || math.IsInf(c, 0) {
			return Function{}, bad("environment "+EnvCapacity, v, "a positive number")
		}
		f.Capacity = c
	} else if v, ok := setting(LabelMaxRatePerReplica); ok {
		c, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(c > 0) || math.IsInf(c, 0) {
			return Function{}, bad("label "+LabelMaxRatePerReplica, v, "a positive number")
		}
		f.Capacity = c
	} else if v, ok := setting(faas.LabelMaxRate); ok {
		c, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(c > 0) || math.IsInf(c, 0) {
			return Function{}, bad("label "+faas.LabelMaxRate, v, "a positive number")
		}
		f.Capacity = c / float64(replicas)
	}
	if v, ok := d.EnvVars[EnvMaxInflight]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 10000 {
			return Function{}, bad("environment "+EnvMaxInflight, v, "a whole number in [1, 10000]")
		}
		f.Concurrency = n
	} else if v, ok := setting(faas.LabelConcurrency); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 65535 {
			return Function{}, bad("label "+faas.LabelConcurrency, v, "a whole number in [1, 65535]")
		}
		f.Concurrency = (n + replicas - 1) / replicas
	}
	if v, ok := d.EnvVars[EnvQueue]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1e6 {
			return Function{}, bad("environment "+EnvQueue, v, "a whole number in [1, 1000000]")
		}
		f.Queue = n
	}
	if v, ok := d.EnvVars[EnvQueueTimeout]; ok {
		t, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || t <= 0 || t > time.Hour {
			return Function{}, bad("environment "+EnvQueueTimeout, v, "a duration in (0, 1h]")
		}
		f.QueueTimeout = t
	}
	if v, ok := d.EnvVars[EnvDeterministic]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return Function{}, bad("environment "+EnvDeterministic, v, "a boolean")
		}
		f.Deterministic = b
	}
	// The derived labels are recomputed from the capacity model.
	delete(f.Labels, faas.LabelMaxRate)
	delete(f.Labels, LabelMaxRatePerReplica)
	delete(f.Labels, faas.LabelConcurrency)
	return f, nil
}

// handlerOf picks the built-in code a deployment runs (see
// DecodeDeployment). It returns a name even when it is not a built-in, so
// that the error names what was asked for.
func handlerOf(d types.FunctionDeployment) string {
	known := func(h string) bool {
		for _, k := range Handlers() {
			if h == k {
				return true
			}
		}
		return false
	}
	if known(d.EnvProcess) {
		return d.EnvProcess
	}
	if d.Image != "" {
		img := d.Image
		if i := strings.IndexByte(img, '@'); i >= 0 {
			img = img[:i]
		}
		img = path.Base(img)
		if i := strings.IndexByte(img, ':'); i >= 0 {
			img = img[:i]
		}
		img = strings.TrimPrefix(img, "builtin-")
		if known(img) {
			return img
		}
	}
	if h, ok := d.EnvVars[EnvHandler]; ok {
		return h
	}
	if d.EnvProcess != "" {
		return d.EnvProcess
	}
	return d.Service
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
