package openwhisk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/strategy"
)

// Annotations of an action that the Client and the Invoker read besides the
// dfaas.* ones.
const (
	// AnnotationWebExport makes an action a web action, reachable without
	// the API key under /api/v1/web/.
	AnnotationWebExport = "web-export"
	// AnnotationRequireWhiskAuth makes a web action require credentials;
	// the Invoker then calls it through the authenticated API instead.
	AnnotationRequireWhiskAuth = "require-whisk-auth"
)

// Action is an action as OpenWhisk lists it (GET .../actions) or describes
// it (GET .../actions/{name}); fields DFaaS does not use are not decoded.
type Action struct {
	Name string `json:"name"`
	// Namespace is the action's namespace, with its package for an action
	// in a package ("guest/utils").
	Namespace   string     `json:"namespace"`
	Version     string     `json:"version"`
	Publish     bool       `json:"publish"`
	Annotations []KeyValue `json:"annotations"`
	Limits      Limits     `json:"limits"`
	Exec        *Exec      `json:"exec,omitempty"`
	Updated     int64      `json:"updated,omitempty"`
}

// KeyValue is one annotation or parameter.
type KeyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// Limits are an action's limits.
type Limits struct {
	// Timeout is the action's time limit in milliseconds.
	Timeout int64 `json:"timeout,omitempty"`
	// Memory is the memory of one container in MB.
	Memory int64 `json:"memory,omitempty"`
	Logs   int64 `json:"logs,omitempty"`
	// Concurrency is how many activations one container runs at once.
	Concurrency int64 `json:"concurrency,omitempty"`
	// Instances, when set (newer schedulers), bounds the action's
	// containers.
	Instances int64 `json:"instances,omitempty"`
}

// Exec is the part of an action's code description DFaaS reports.
type Exec struct {
	Kind   string `json:"kind,omitempty"`
	Binary bool   `json:"binary"`
}

// Annotation returns the value of annotation key as text: a JSON string
// unquoted, any other JSON value as written.
func (a Action) Annotation(key string) (string, bool) {
	for _, kv := range a.Annotations {
		if kv.Key == key {
			return annotationText(kv.Value), true
		}
	}
	return "", false
}

func annotationText(v json.RawMessage) string {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return string(v)
	}
	return buf.String()
}

// WebExported reports whether the action is a web action that anyone may
// call without credentials: annotation web-export true and no
// require-whisk-auth (other than false).
func (a Action) WebExported() bool {
	v, ok := a.Annotation(AnnotationWebExport)
	if !ok || !truthy(v) {
		return false
	}
	auth, ok := a.Annotation(AnnotationRequireWhiskAuth)
	return !ok || auth == "false" || auth == "null"
}

// truthy is how the wsk CLI's --web flag values read: true or yes.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes":
		return true
	}
	return false
}

// InPackage reports whether the action belongs to a package (its namespace
// has a second path element).
func (a Action) InPackage() bool { return strings.Contains(a.Namespace, "/") }

// DecodeActions decodes the body of GET .../actions: a JSON array of
// actions (null means none). It rejects anything else, trailing data, and
// an action without a name.
func DecodeActions(data []byte) ([]Action, error) {
	var as []Action
	if err := decodeOne(data, &as); err != nil {
		return nil, err
	}
	for i, a := range as {
		if a.Name == "" {
			return nil, fmt.Errorf("action %d has no name", i)
		}
	}
	return as, nil
}

// DecodeAction decodes the body of GET .../actions/{name}.
func DecodeAction(data []byte) (Action, error) {
	var a Action
	if err := decodeOne(data, &a); err != nil {
		return Action{}, err
	}
	if a.Name == "" {
		return Action{}, errors.New("action has no name")
	}
	return a, nil
}

// decodeOne decodes exactly one JSON value into v; unknown fields are
// allowed (OpenWhisk adds fields over time).
func decodeOne(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("decode response: trailing data after the JSON value")
	}
	return nil
}

// Convert turns an action into a faas.Function, resolving its DFaaS
// settings into labels as the package documentation describes. It returns
// the problems found with settings it could not use, each naming the action
// and the field, and an error when the action cannot be a DFaaS function
// (a name DFaaS does not accept, or an action in a package).
func Convert(a Action) (faas.Function, []string, error) {
	if a.InPackage() {
		return faas.Function{}, nil, fmt.Errorf("action %q is in package %q: only actions of the default package are served as functions", a.Name, a.Namespace)
	}
	if err := strategy.ValidName(a.Name); err != nil {
		return faas.Function{}, nil, fmt.Errorf("action %q: %w", a.Name, err)
	}
	f := faas.Function{Name: a.Name, Replicas: 1, AvailableReplicas: 1, Labels: map[string]string{}}
	if len(a.Annotations) > 0 {
		f.Annotations = make(map[string]string, len(a.Annotations))
		for _, kv := range a.Annotations {
			f.Annotations[kv.Key] = annotationText(kv.Value)
		}
	}
	var warns []string
	bad := func(field, v, want string) {
		warns = append(warns, fmt.Sprintf("action %q: %s=%q is not %s", a.Name, field, v, want))
	}
	if v, ok := f.Annotations[faas.LabelMaxRate]; ok {
		if c, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || !(c >= 0) || math.IsInf(c, 0) {
			bad("annotation "+faas.LabelMaxRate, v, "a non-negative number")
		} else {
			f.Labels[faas.LabelMaxRate] = strings.TrimSpace(v)
		}
	}
	// An annotation wins over the limits; an invalid one is ignored with a
	// warning and the limits apply.
	if v, ok := f.Annotations[faas.LabelTimeout]; ok {
		if _, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err != nil {
			bad("annotation "+faas.LabelTimeout, v, "a whole number of milliseconds")
		} else {
			f.Labels[faas.LabelTimeout] = strings.TrimSpace(v)
		}
	}
	if _, ok := f.Labels[faas.LabelTimeout]; !ok {
		if t := a.Limits.Timeout; t > 0 && t <= math.MaxUint32 {
			f.Labels[faas.LabelTimeout] = strconv.FormatInt(t, 10)
		} else if t != 0 {
			bad("limits.timeout", strconv.FormatInt(t, 10), "a positive number of milliseconds")
		}
	}
	if v, ok := f.Annotations[faas.LabelConcurrency]; ok {
		if _, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16); err != nil {
			bad("annotation "+faas.LabelConcurrency, v, "a whole number up to 65535")
		} else {
			f.Labels[faas.LabelConcurrency] = strings.TrimSpace(v)
		}
	}
	if _, ok := f.Labels[faas.LabelConcurrency]; !ok {
		if c, n := a.Limits.Concurrency, a.Limits.Instances; c > 0 && n > 0 {
			// Per container times containers; both bounded first so that
			// the product cannot overflow.
			f.Labels[faas.LabelConcurrency] = strconv.FormatInt(min(min(c, 65535)*min(n, 65535), 65535), 10)
		}
	}
	if len(f.Labels) == 0 {
		f.Labels = nil
	}
	return f, warns, nil
}
