package embedded

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Web action content extensions and what they answer.
var webExtensions = map[string]string{
	"json": "application/json",
	"http": "",
	"html": "text/html; charset=utf-8",
	"text": "text/plain; charset=utf-8",
	"svg":  "image/svg+xml",
}

// web serves a web action: ANY /api/v1/web/{ns}/default/{action}[.ext][/path],
// without credentials unless the action has require-whisk-auth.
func (o *OpenWhisk) web(w http.ResponseWriter, r *http.Request) {
	name, ext, path := splitWebPath(r.PathValue("rest"))
	f := o.s.function(name)
	if r.PathValue("ns") != o.ns || r.PathValue("pkg") != "default" || f == nil || !f.webExported() {
		owError(w, http.StatusNotFound, msgNotFound)
		return
	}
	if !o.webAuthorized(f, r) {
		owError(w, http.StatusUnauthorized, msgUnauthenticated)
		return
	}
	params, code, msg := webParams(w, r, path)
	if code != 0 {
		owError(w, code, msg)
		return
	}
	if code, msg := o.admit(); code != 0 {
		owError(w, code, msg)
		return
	}
	id, done := o.start(f, params)
	w.Header().Set(headerActivationID, id)
	t := time.NewTimer(o.wait)
	defer t.Stop()
	select {
	case a := <-done:
		webAnswer(w, a, ext)
	case <-t.C:
		owError(w, http.StatusAccepted, msgNotReady)
	case <-r.Context().Done():
	}
}

// splitWebPath splits "{action}[.ext][/path]": a known extension after the
// last dot of the first segment is the extension (http if none).
func splitWebPath(rest string) (name, ext, path string) {
	seg, tail, found := strings.Cut(rest, "/")
	if found {
		path = "/" + tail
	}
	name, ext = seg, "http"
	if i := strings.LastIndexByte(seg, '.'); i > 0 {
		if _, ok := webExtensions[seg[i+1:]]; ok {
			name, ext = seg[:i], seg[i+1:]
		}
	}
	return name, ext, path
}

// webAuthorized applies the action's require-whisk-auth annotation: absent
// or false, anyone; true, the namespace's key; any other value, that value
// in the X-Require-Whisk-Auth header.
func (o *OpenWhisk) webAuthorized(f *function, r *http.Request) bool {
	v := strings.TrimSpace(f.cfg.Annotations["require-whisk-auth"])
	switch v {
	case "", "false":
		return true
	case "true":
		return o.authorized(r)
	}
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Require-Whisk-Auth")), []byte(v)) == 1
}

// webParams builds a web action's parameters from the request, as
// OpenWhisk does: the query's values, overridden by the fields of a JSON
// object or form body; any other body as __ow_body (text, or base64 when
// not UTF-8); and __ow_method, __ow_headers, __ow_path. A request may not
// set __ow_* parameters itself. It returns the status and message of a
// refusal, or 0.
func webParams(w http.ResponseWriter, r *http.Request, path string) (map[string]json.RawMessage, int, string) {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions:
	default:
		return nil, http.StatusMethodNotAllowed, "HTTP method not allowed."
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxOpenWhiskPayload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request content is larger than %d bytes.", MaxOpenWhiskPayload)
		}
		return nil, http.StatusBadRequest, msgMalformed
	}
	params := map[string]json.RawMessage{}
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	for k, vs := range r.URL.Query() {
		params[k] = str(vs[0])
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var raw []byte
	switch {
	case len(data) == 0:
	case ct == "application/json" && isJSONObject(data):
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return nil, http.StatusBadRequest, msgMalformed
		}
		for k, v := range fields {
			params[k] = v
		}
	case ct == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, http.StatusBadRequest, msgMalformed
		}
		for k, vs := range form {
			params[k] = str(vs[0])
		}
	default:
		raw = data
	}
	for k := range params {
		if strings.HasPrefix(k, "__ow_") {
			return nil, http.StatusBadRequest, msgReserved
		}
	}
	switch {
	case raw == nil:
	case utf8.Valid(raw):
		params[owParamBody] = str(string(raw))
	default:
		params[owParamBody] = str(base64.StdEncoding.EncodeToString(raw))
	}
	headers := map[string]string{}
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = vs[0]
	}
	params["__ow_method"] = str(strings.ToLower(r.Method))
	params["__ow_headers"], _ = json.Marshal(headers)
	params["__ow_path"] = str(path)
	return params, 0, ""
}

func isJSONObject(data []byte) bool {
	var obj map[string]json.RawMessage
	return json.Unmarshal(data, &obj) == nil && obj != nil
}

// webAnswer turns a finished activation into the web answer the extension
// asks for. A failed activation answers 400, as OpenWhisk's controller does,
// except a refusal by the capacity model, which keeps its 429 or 503.
func webAnswer(w http.ResponseWriter, a *activation, ext string) {
	var result map[string]json.RawMessage
	_ = json.Unmarshal(a.result, &result)
	switch {
	case a.refusal != 0:
		owError(w, a.refusal, errorText(result))
		return
	case a.code == 1:
		// An application error answers its error property.
		var inner map[string]json.RawMessage
		if json.Unmarshal(result["error"], &inner) != nil {
			owError(w, http.StatusBadRequest, errorText(result))
			return
		}
		result = inner
	case a.code != 0:
		owError(w, http.StatusBadRequest, msgProcessing)
		return
	}
	switch ext {
	case "json":
		writeJSON(w, http.StatusOK, result)
	case "http":
		httpAnswer(w, result)
	default:
		var s string
		if json.Unmarshal(result[ext], &s) != nil {
			owError(w, http.StatusBadRequest, msgNoProperty)
			return
		}
		w.Header().Set("Content-Type", webExtensions[ext])
		io.WriteString(w, s)
	}
}

func errorText(result map[string]json.RawMessage) string {
	var s string
	if json.Unmarshal(result["error"], &s) != nil {
		return msgProcessing
	}
	return s
}

// httpAnswer writes a web action's result {headers, statusCode, body} as an
// HTTP answer: the status defaults to 200 with a body and 204 without; a
// string body is text (base64-decoded for a binary Content-Type), any other
// JSON body is sent as JSON; the Content-Type defaults to text/html for a
// string body and application/json otherwise.
func httpAnswer(w http.ResponseWriter, result map[string]json.RawMessage) {
	h := http.Header{}
	var hs map[string]json.RawMessage
	if raw, ok := result["headers"]; ok && json.Unmarshal(raw, &hs) != nil {
		owError(w, http.StatusBadRequest, msgProcessing)
		return
	}
	for k, raw := range hs {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			list = []json.RawMessage{raw}
		}
		for _, v := range list {
			if s, ok := scalarText(v); ok {
				h.Add(k, s)
			}
		}
	}
	body, defaultType, err := httpBody(result["body"], h.Get("Content-Type"))
	if err != nil {
		owError(w, http.StatusBadRequest, err.Error())
		return
	}
	status := http.StatusOK
	if len(body) == 0 {
		status = http.StatusNoContent
	}
	if raw, ok := result["statusCode"]; ok {
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 100 || n > 599 {
			owError(w, http.StatusBadRequest, msgProcessing)
			return
		}
		status = n
	}
	for k, vs := range h {
		w.Header()[k] = vs
	}
	if h.Get("Content-Type") == "" && len(body) > 0 {
		w.Header().Set("Content-Type", defaultType)
	}
	w.WriteHeader(status)
	w.Write(body)
}

// scalarText writes a string, number or boolean header value as text.
func scalarText(v json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, true
	}
	var x any
	if json.Unmarshal(v, &x) == nil {
		switch x.(type) {
		case float64, bool:
			return string(v), true
		}
	}
	return "", false
}

// httpBody decodes a web result's body for content type ct (set by the
// action, or empty); it returns the bytes and the default content type.
func httpBody(raw json.RawMessage, ct string) ([]byte, string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return raw, "application/json", nil
	}
	mt, _, _ := mime.ParseMediaType(ct)
	if ct == "" || textual(mt) {
		return []byte(s), "text/html; charset=utf-8", nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, "", fmt.Errorf("Response is not valid '%s'.", mt)
	}
	return b, "", nil
}

func textual(mt string) bool {
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || mt == "application/xml" ||
		mt == "application/javascript" || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")
}
