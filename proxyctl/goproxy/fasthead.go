package goproxy

import (
	"bytes"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// maxFastHeaders is the most header lines parseHead handles; an answer
// with more takes the general path.
const maxFastHeaders = 32

// head is the parsed head of an answer (see parseHead).
type head struct {
	status int
	length int64 // of the body; 0 when there is none
	close  bool  // the connection must not be reused
	size   int   // bytes of the head, to discard once relayed
	n      int   // header lines in lines
	lines  [maxFastHeaders]headerLine
	// peer: the answer is a neighbour proxy's, whose DFaaS-Served-By is
	// relayed; rejected locates its first DFaaS-Rejected value.
	peer                    bool
	hasRejected             bool
	rejectedAt, rejectedEnd int
}

// rejected returns the first DFaaS-Rejected value of the head in buf and
// whether there is one.
func (h *head) rejected(buf []byte) ([]byte, bool) {
	return buf[h.rejectedAt:h.rejectedEnd], h.hasRejected
}

// headerLine locates one end-to-end header in the head's bytes.
type headerLine struct {
	key        string // canonical, a constant or a substring of the head
	start, end int    // of the value
	canonical  bool   // key was canonical already
	keyStart   int
	keyEnd     int
}

// parseHead parses the head of an HTTP/1.x answer to a request with
// method from buf, which holds the bytes buffered so far, without
// allocating. It handles the common case only: the whole head in buf, a
// final status (200-599), a body delimited by one Content-Length (or none,
// as for HEAD, 204 and 304), no Transfer-Encoding, at most maxFastHeaders
// well-formed header lines. For anything else ok is false, and the caller
// reads the answer with http.ReadResponse, which handles every case.
func parseHead(buf []byte, method string, h *head) (ok bool) {
	return parseHeadFrom(buf, method, false, h)
}

// parseHeadFrom is parseHead for the answer of the local FaaS or, if peer,
// of a neighbour's proxy (see head.peer).
func parseHeadFrom(buf []byte, method string, peer bool, h *head) (ok bool) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	*h = head{size: end + 4, length: -1, peer: peer}
	block := buf[:end+2] // every line ends with \r\n
	nl := bytes.IndexByte(block, '\n')
	if nl < 1 || block[nl-1] != '\r' || !parseStatusLine(block[:nl-1], h) {
		return false
	}
	for pos := nl + 1; pos < len(block); {
		i := bytes.IndexByte(block[pos:], '\n')
		line := block[pos : pos+i]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return false
		}
		if !h.addLine(block, pos, pos+len(line)-1) {
			return false
		}
		pos += i + 1
	}
	switch {
	case method == http.MethodHead || h.status == http.StatusNoContent || h.status == http.StatusNotModified:
		h.length = 0
	case h.length < 0:
		return false // until close: the general path
	}
	return true
}

// parseStatusLine parses "HTTP/1.x NNN reason".
func parseStatusLine(line []byte, h *head) bool {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return false
	}
	switch line[7] {
	case '1':
	case '0':
		h.close = true
	default:
		return false
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 {
		return false
	}
	for _, c := range line[12:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	h.status = code
	return true
}

// addLine parses the header line block[start:end] (without its \r\n).
func (h *head) addLine(block []byte, start, end int) bool {
	line := block[start:end]
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	key := line[:colon]
	for _, c := range key {
		if !tokenChar(c) {
			return false
		}
	}
	vs, ve := start+colon+1, end
	for vs < ve && (block[vs] == ' ' || block[vs] == '\t') {
		vs++
	}
	for ve > vs && (block[ve-1] == ' ' || block[ve-1] == '\t') {
		ve--
	}
	for _, c := range block[vs:ve] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	canon, isConst := commonKey(key)
	switch canon {
	case "Content-Length":
		n, ok := parseLength(block[vs:ve])
		if !ok || (h.length >= 0 && h.length != n) {
			return false
		}
		h.length = n
	case "Transfer-Encoding", "Trailer", "Upgrade":
		return false
	case "Connection":
		h.close = h.close || hasClose(block[vs:ve])
		return true
	case "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te":
		return true
	case keyServedBy:
		if !h.peer {
			return true // this node's is set instead
		}
	case keyRejected:
		if !h.hasRejected {
			h.hasRejected, h.rejectedAt, h.rejectedEnd = true, vs, ve
		}
	}
	if h.n == maxFastHeaders {
		return false
	}
	h.lines[h.n] = headerLine{key: canon, canonical: isConst || isCanonical(key), keyStart: start, keyEnd: start + colon, start: vs, end: ve}
	h.n++
	return true
}

// commit sets the parsed headers into dst, allocating one string for all
// of their bytes and one slice for all of their values (and a key for
// each header not in canonical form).
func (h *head) commit(buf []byte, dst http.Header) {
	if h.n == 0 {
		return
	}
	s := string(buf[:h.size])
	vals := make([]string, h.n)
	var keys [maxFastHeaders]string
	for i := range h.n {
		l := &h.lines[i]
		key := l.key
		switch {
		case key != "":
		case l.canonical:
			key = s[l.keyStart:l.keyEnd]
		default:
			key = textproto.CanonicalMIMEHeaderKey(s[l.keyStart:l.keyEnd])
		}
		keys[i] = key
		vals[i] = s[l.start:l.end]
		if slices.Contains(keys[:i], key) {
			dst[key] = append(dst[key], vals[i]) // a repeated header
			continue
		}
		dst[key] = vals[i : i+1 : i+1]
	}
}

// commonKey returns the canonical form of key when it is one of the
// headers a FaaS usually answers with, or one parseHead treats specially,
// in any case (without allocating); else "".
func commonKey(key []byte) (string, bool) {
	switch string(key) {
	case "Content-Length":
		return "Content-Length", true
	case "Content-Type":
		return "Content-Type", true
	case "Date":
		return "Date", true
	case "X-Duration-Seconds":
		return "X-Duration-Seconds", true
	}
	for _, k := range [...]string{"Content-Length", "Content-Type", "Date", "X-Duration-Seconds",
		"Transfer-Encoding", "Connection", "Keep-Alive", "Trailer", "Upgrade", "Te",
		"Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", keyServedBy, keyRejected} {
		if len(k) == len(key) && bytes.EqualFold(key, []byte(k)) {
			return k, true
		}
	}
	return "", false
}

// isCanonical reports whether key is in canonical MIME header form.
func isCanonical(key []byte) bool {
	upper := true
	for _, c := range key {
		switch {
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		}
		upper = c == '-'
	}
	return true
}

func tokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c != 0 && c < 0x7f && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parseLength parses a Content-Length value.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// hasClose reports whether a Connection value lists "close".
func hasClose(v []byte) bool {
	for f := range bytes.SplitSeq(v, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(f), []byte("close")) {
			return true
		}
	}
	return false
}
