package embedded

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/faas"
)

// List paging of the OpenWhisk API: the default and largest page, as
// OpenWhisk's controller has them.
const (
	owDefaultListLimit = 30
	owMaxListLimit     = 200
)

// owAction is an action as the OpenWhisk API describes it.
type owAction struct {
	Namespace   string   `json:"namespace"`
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	Publish     bool     `json:"publish"`
	Annotations []owKV   `json:"annotations"`
	Limits      owLimits `json:"limits"`
	Exec        owExec   `json:"exec"`
	Parameters  []owKV   `json:"parameters,omitempty"`
	Updated     int64    `json:"updated"`
}

type owKV struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

type owLimits struct {
	Timeout     int64 `json:"timeout"`
	Memory      int   `json:"memory"`
	Logs        int   `json:"logs"`
	Concurrency int   `json:"concurrency"`
}

type owExec struct {
	Kind   string `json:"kind,omitempty"`
	Image  string `json:"image,omitempty"`
	Binary bool   `json:"binary"`
}

// owBoolAnnotations are annotations OpenWhisk stores as booleans.
var owBoolAnnotations = map[string]bool{"web-export": true, "raw-http": true, "final": true}

// action describes f as an OpenWhisk action: its labels (with the dfaas.*
// settings of its capacity model) and annotations become annotations, its
// time-out and per-replica concurrency its limits. full adds what GET of
// one action reports (the exec kind and image, the parameters).
func (o *OpenWhisk) action(f *function, full bool) owAction {
	merged := f.labels()
	for k, v := range f.cfg.Annotations {
		merged[k] = v
	}
	merged["exec"] = owKind
	keys := slices.Sorted(maps.Keys(merged))
	a := owAction{
		Namespace: o.ns, Name: f.cfg.Name, Version: "0.0.1",
		Limits:  owLimits{Timeout: f.timeout().Milliseconds(), Memory: owMemory, Logs: 10, Concurrency: f.cfg.Concurrency},
		Updated: f.created.UnixMilli(),
	}
	for _, k := range keys {
		var v any = merged[k]
		if b, err := strconv.ParseBool(merged[k]); err == nil && owBoolAnnotations[k] {
			v = b
		}
		a.Annotations = append(a.Annotations, owKV{Key: k, Value: v})
	}
	if full {
		a.Exec = owExec{Kind: owKind, Image: f.image()}
		a.Parameters = []owKV{}
	}
	return a
}

// timeout is the function's time limit: its dfaas.timeout_ms label, else
// the one its capacity model reports.
func (f *function) timeout() time.Duration {
	ms, err := strconv.ParseUint(f.labels()[faas.LabelTimeout], 10, 32)
	if err != nil || ms == 0 {
		return f.cfg.QueueTimeout + 30*time.Second
	}
	return time.Duration(ms) * time.Millisecond
}

// webExported reports whether f is a web action.
func (f *function) webExported() bool {
	v, ok := f.cfg.Annotations["web-export"]
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes":
		return true
	}
	return false
}

// listActions: GET /api/v1/namespaces/{ns}/actions[?limit=&skip=&count=].
func (o *OpenWhisk) listActions(w http.ResponseWriter, r *http.Request) {
	if !o.namespaceOK(w, r.PathValue("ns")) {
		return
	}
	q := r.URL.Query()
	limit, skip := owDefaultListLimit, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			owError(w, http.StatusBadRequest, fmt.Sprintf("The value '%s' is not an integer for actions.", v))
			return
		case n < 0 || n > owMaxListLimit:
			owError(w, http.StatusBadRequest, fmt.Sprintf("The value '%d' is not in the range of 0 to %d for actions.", n, owMaxListLimit))
			return
		case n == 0:
			n = owMaxListLimit
		}
		limit = n
	}
	if v := q.Get("skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			owError(w, http.StatusBadRequest, fmt.Sprintf("The value '%s' is not greater than or equal to 0 for actions.", v))
			return
		}
		skip = n
	}
	fns := o.s.list()
	if q.Get("count") == "true" {
		writeJSON(w, http.StatusOK, map[string]int{"actions": max(len(fns)-skip, 0)})
		return
	}
	out := []owAction{}
	for i := skip; i < len(fns) && len(out) < limit; i++ {
		out = append(out, o.action(fns[i], false))
	}
	writeJSON(w, http.StatusOK, out)
}

// getAction: GET /api/v1/namespaces/{ns}/actions/{name}. Actions in
// packages do not exist here.
func (o *OpenWhisk) getAction(w http.ResponseWriter, r *http.Request) {
	if !o.namespaceOK(w, r.PathValue("ns")) {
		return
	}
	f := o.s.function(r.PathValue("name"))
	if f == nil {
		owError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, o.action(f, true))
}

// deleteAction: DELETE /api/v1/namespaces/{ns}/actions/{name}. OpenWhisk
// answers with the action as it was.
func (o *OpenWhisk) deleteAction(w http.ResponseWriter, r *http.Request) {
	if !o.namespaceOK(w, r.PathValue("ns")) {
		return
	}
	f := o.s.function(r.PathValue("name"))
	if f == nil || !o.s.remove(f.cfg.Name) {
		owError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, o.action(f, true))
}
