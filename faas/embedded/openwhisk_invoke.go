package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// owParamBody is the parameter that carries a raw request body, as
// OpenWhisk hands it to a web action.
const owParamBody = "__ow_body"

// headerActivationID is the header OpenWhisk answers an invocation with.
const headerActivationID = "X-Openwhisk-Activation-Id"

// activation is one run of an action.
type activation struct {
	id, name   string
	start, end time.Time
	timeout    time.Duration // the action's time limit
	// code is OpenWhisk's status code: 0 success, 1 application error, 2
	// action developer error, 3 whisk internal error.
	code   int
	result json.RawMessage
	// refusal is the HTTP status (429 or 503) when the capacity model
	// refused the activation before it ran, else 0.
	refusal int
}

func (a *activation) statusLabel() string {
	return [...]string{statusSuccess, statusApplicationError, statusDeveloperError, statusWhiskError}[a.code]
}

func (a *activation) statusMessage() string {
	return [...]string{"success", "application error", "action developer error", "whisk internal error"}[a.code]
}

// owResponse is an activation's response as OpenWhisk presents it.
type owResponse struct {
	Result  json.RawMessage `json:"result"`
	Size    int             `json:"size"`
	Success bool            `json:"success"`
	Status  string          `json:"status"`
}

// owActivation is an activation record as OpenWhisk presents it.
type owActivation struct {
	Namespace    string     `json:"namespace"`
	Name         string     `json:"name"`
	Version      string     `json:"version"`
	Subject      string     `json:"subject"`
	ActivationID string     `json:"activationId"`
	Start        int64      `json:"start"`
	End          int64      `json:"end"`
	Duration     int64      `json:"duration"`
	Response     owResponse `json:"response"`
	Logs         []string   `json:"logs"`
	Annotations  []owKV     `json:"annotations"`
	Publish      bool       `json:"publish"`
}

func (a *activation) response() owResponse {
	return owResponse{Result: a.result, Size: len(a.result), Success: a.code == 0, Status: a.statusMessage()}
}

func (o *OpenWhisk) record(a *activation) owActivation {
	return owActivation{
		Namespace: o.ns, Name: a.name, Version: "0.0.1", Subject: o.ns, ActivationID: a.id,
		Start: a.start.UnixMilli(), End: a.end.UnixMilli(), Duration: a.end.Sub(a.start).Milliseconds(),
		Response: a.response(), Logs: []string{},
		Annotations: []owKV{
			{Key: "path", Value: o.ns + "/" + a.name},
			{Key: "kind", Value: owKind},
			{Key: "limits", Value: owLimits{Timeout: a.timeout.Milliseconds(), Memory: owMemory, Logs: 10, Concurrency: 1}},
			{Key: "timeout", Value: a.code == 2},
		},
	}
}

// activationStore keeps the last finished activations, at most max of
// them and maxBytes of results.
type activationStore struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	bytes    int
	byID     map[string]*activation
	order    []string // oldest first
}

func (st *activationStore) put(a *activation) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byID == nil {
		st.byID = map[string]*activation{}
	}
	for len(st.order) > 0 && (len(st.order) >= st.max || st.bytes+len(a.result) > st.maxBytes) {
		st.bytes -= len(st.byID[st.order[0]].result)
		delete(st.byID, st.order[0])
		st.order = st.order[1:]
	}
	st.byID[a.id] = a
	st.order = append(st.order, a.id)
	st.bytes += len(a.result)
}

func (st *activationStore) get(id string) *activation {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.byID[id]
}

// start runs f with params on a goroutine owned by o, once admit let it
// in; the channel receives the finished activation.
func (o *OpenWhisk) start(f *function, params map[string]json.RawMessage) (string, <-chan *activation) {
	id := newActivationID()
	done := make(chan *activation, 1)
	go func() {
		defer o.wg.Done()
		a := o.execute(f, params, id)
		o.store.put(a)
		o.m.record(o.ns, a)
		// The slot is free before anyone hears of the end: a blocking
		// caller answered may invoke again at once (TestOpenWhiskThrottling).
		o.release()
		done <- a
	}()
	return id, done
}

// execute runs f through the Server's capacity model (queue, slots,
// service time) with its time limit, and turns the outcome into an
// activation.
func (o *OpenWhisk) execute(f *function, params map[string]json.RawMessage, id string) *activation {
	a := &activation{id: id, name: f.cfg.Name, start: time.Now(), timeout: f.timeout()}
	ctx, cancel := context.WithTimeout(o.ctx, a.timeout)
	defer cancel()
	body, query := builtinInput(f.cfg.Handler, params)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/function/"+url.PathEscape(f.cfg.Name), bytes.NewReader(body))
	if err != nil {
		a.end, a.code, a.result = time.Now(), 3, errorResult(err.Error())
		return a
	}
	req.URL.RawQuery = query.Encode()
	rec := &recorder{h: http.Header{}}
	code := o.s.run(rec, req, f)
	a.end = time.Now()
	msg := strings.TrimSpace(rec.buf.String())
	switch {
	case code == http.StatusOK:
		a.result = builtinResult(rec.buf.Bytes())
	case code == http.StatusBadRequest:
		a.code, a.result = 1, errorResult(msg)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		a.code, a.refusal, a.result = 3, code, errorResult(msg)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && o.ctx.Err() == nil:
		a.code, a.result = 2, errorResult(fmt.Sprintf("The action exceeded its time limits of %d milliseconds.", a.timeout.Milliseconds()))
	default:
		a.code, a.result = 3, errorResult(msg)
	}
	return a
}

// builtinInput turns an action's parameters into the body and query a
// built-in function takes. The body is the parameter __ow_body when it is a
// string (a raw body, as a web action receives it); else, for echo, the
// parameters as a JSON object (echo returns its parameters), and for the
// other built-ins nothing. The query holds the string and number parameters
// other than __ow_* ones (so that sleep reads d, cpu ms).
func builtinInput(handler string, params map[string]json.RawMessage) ([]byte, url.Values) {
	q := url.Values{}
	for k, v := range params {
		if strings.HasPrefix(k, "__ow_") {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			q.Set(k, s)
		} else if _, err := strconv.ParseFloat(string(v), 64); err == nil {
			q.Set(k, string(v))
		}
	}
	if raw, ok := params[owParamBody]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s), q
		}
	}
	if handler != HandlerEcho {
		return nil, q
	}
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	body, _ := json.Marshal(params)
	return body, q
}

// builtinResult turns a built-in's output into an action result: a JSON
// object as it is (echo returns its parameters), any other output as a web
// action's text answer {"body": ..., "headers": {"Content-Type": ...}}.
func builtinResult(out []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(trimmed, &obj) == nil {
			return json.RawMessage(trimmed)
		}
	}
	b, _ := json.Marshal(map[string]any{
		"body":    string(out),
		"headers": map[string]string{"Content-Type": "text/plain; charset=utf-8"},
	})
	return b
}

func errorResult(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// recorder is the ResponseWriter a built-in writes its answer to.
type recorder struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.buf.Write(b)
}

// invokeAction: POST /api/v1/namespaces/{ns}/actions/{name}
// [?blocking=true[&result=true][&timeout=MS]].
func (o *OpenWhisk) invokeAction(w http.ResponseWriter, r *http.Request) {
	if !o.namespaceOK(w, r.PathValue("ns")) {
		return
	}
	f := o.s.function(r.PathValue("name"))
	if f == nil {
		owError(w, http.StatusNotFound, msgNotFound)
		return
	}
	q := r.URL.Query()
	blocking, result := q.Get("blocking") == "true", q.Get("result") == "true"
	wait, err := o.blockingWait(q.Get("timeout"))
	if err != nil {
		owError(w, http.StatusBadRequest, err.Error())
		return
	}
	params, ok := readParams(w, r)
	if !ok {
		return
	}
	if code, msg := o.admit(); code != 0 {
		owError(w, code, msg)
		return
	}
	id, done := o.start(f, params)
	w.Header().Set(headerActivationID, id)
	if !blocking {
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": id})
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case a := <-done:
		status := invokeStatus(a)
		if result {
			writeJSON(w, status, a.result)
		} else {
			writeJSON(w, status, o.record(a))
		}
	case <-t.C:
		// The activation goes on; the caller may fetch it later.
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": id})
	case <-r.Context().Done():
	}
}

// invokeStatus is the HTTP status of a blocking invocation's answer, as
// OpenWhisk's controller sets it (200, 502 for application and developer
// errors, 500), except that a refusal by the capacity model keeps its 429
// or 503.
func invokeStatus(a *activation) int {
	switch {
	case a.code == 0:
		return http.StatusOK
	case a.code == 1 || a.code == 2:
		return http.StatusBadGateway
	case a.refusal != 0:
		return a.refusal
	}
	return http.StatusInternalServerError
}

// blockingWait is the blocking wait: BlockingWait, or ?timeout=MS when
// shorter.
func (o *OpenWhisk) blockingWait(v string) (time.Duration, error) {
	if v == "" {
		return o.wait, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 || time.Duration(ms)*time.Millisecond > o.wait {
		return 0, fmt.Errorf("Timeout must be number of milliseconds up to %d.", o.wait.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// readParams reads an invocation's body: empty, or a JSON object of
// parameters, at most MaxOpenWhiskPayload bytes. It answers the error and
// returns false otherwise.
func readParams(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxOpenWhiskPayload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			owError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request content is larger than %d bytes.", MaxOpenWhiskPayload))
		} else {
			owError(w, http.StatusBadRequest, msgMalformed)
		}
		return nil, false
	}
	params := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(data)) == 0 {
		return params, true
	}
	if err := decodeJSON(data, &params); err != nil {
		owError(w, http.StatusBadRequest, msgMalformed)
		return nil, false
	}
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	return params, true
}

// getActivation: GET /api/v1/namespaces/{ns}/activations/{id}[/result|/logs].
func (o *OpenWhisk) getActivation(w http.ResponseWriter, r *http.Request) {
	if !o.namespaceOK(w, r.PathValue("ns")) {
		return
	}
	a := o.store.get(r.PathValue("id"))
	if a == nil {
		owError(w, http.StatusNotFound, msgNotFound)
		return
	}
	switch r.PathValue("part") {
	case "":
		writeJSON(w, http.StatusOK, o.record(a))
	case "result":
		writeJSON(w, http.StatusOK, a.response())
	case "logs":
		writeJSON(w, http.StatusOK, map[string][]string{"logs": {}})
	default:
		owError(w, http.StatusNotFound, msgNotFound)
	}
}
