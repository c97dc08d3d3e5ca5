package dfaas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/dfaas-go/dfaas/strategy"
)

// WireVersion is the version of the peer message format this package
// writes and accepts. Version 2 added the sender's incarnation ("inc").
const WireVersion = 2

// DefaultMaxMessageSize is the default limit on an encoded peer message.
const DefaultMaxMessageSize = 256 << 10

// Limits on what one peer message may carry.
const (
	maxAnnouncedFunctions = 4096
	maxAnnouncedGrants    = 4096
	maxURLLen             = 512
	tokenLen              = 64 // hex characters of a 32-byte token
	maxCertLen            = 2048
)

// Reasons a peer message is dropped, as counted in
// dfaas_agent_peer_messages_dropped_total and Status.Dropped.
const (
	DropOversize  = "oversize"  // larger than the size limit
	DropMalformed = "malformed" // not a single JSON object of the known fields
	DropVersion   = "version"   // unknown version or type
	DropInvalid   = "invalid"   // well formed but with invalid values
	DropStale     = "stale"     // older than one already received from the sender
	DropSelf      = "self"      // claims to come from this node
)

// MessageError is the error for a peer message that was dropped; Reason is
// one of the Drop* constants.
type MessageError struct {
	Reason string
	Err    error
}

func (e *MessageError) Error() string { return "peer message " + e.Reason + ": " + e.Err.Error() }
func (e *MessageError) Unwrap() error { return e.Err }

// StateMessage is what a node sends each peer every control period.
type StateMessage struct {
	// Version is WireVersion.
	Version int `json:"v"`
	// Type is "state".
	Type string `json:"type"`
	// Incarnation identifies the sender's run: a node that restarts uses
	// a larger one (the agent: its start time in nanoseconds), so that
	// its peers take it as new rather than drop its messages as stale.
	// Positive.
	Incarnation uint64 `json:"inc"`
	// Seq increases with every message a node sends within an
	// incarnation; a receiver drops messages older, by (Incarnation,
	// Seq), than the newest it has.
	Seq uint64 `json:"seq"`
	// Proxy is the base URL of the sender's proxy (http or https).
	Proxy string `json:"proxy"`
	// Token is the credential the recipient must present (header
	// DFaaS-Node-Token) when forwarding requests to the sender: 64
	// lowercase hex characters, different for every recipient and every
	// incarnation of the sender, and replaced every few periods (the
	// sender's proxy accepts the previous one for a grace period). It is
	// empty until the sender's proxy accepts the recipient: until then the
	// recipient must not forward to the sender.
	Token string `json:"token"`
	// Announcement is the sender's announcement, with only the grants
	// addressed to the recipient.
	Announcement strategy.Announcement `json:"ann"`
	// Cert is the sender's data-plane certificate (DER; base64 in JSON):
	// the one its proxy presents on the node-to-node path. Required with
	// an https Proxy, absent with an http one (see Config.DataCert).
	Cert []byte `json:"cert,omitempty"`
}

// EncodeMessage encodes m after validating it.
func EncodeMessage(m StateMessage) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// DecodeMessage decodes and validates a peer message of at most maxSize
// bytes (DefaultMaxMessageSize if maxSize <= 0). Decoding is strict: one
// JSON object, no unknown fields, known version and type. Errors are
// *MessageError.
func DecodeMessage(data []byte, maxSize int) (StateMessage, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if len(data) > maxSize {
		return StateMessage{}, &MessageError{DropOversize, fmt.Errorf("%d bytes, limit %d", len(data), maxSize)}
	}
	// Read the version first so that a future version with other fields
	// is reported as a version mismatch, not as malformed.
	var head struct {
		Version *int   `json:"v"`
		Type    string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return StateMessage{}, &MessageError{DropMalformed, err}
	}
	if head.Version == nil {
		return StateMessage{}, &MessageError{DropMalformed, errors.New("no version field \"v\"")}
	}
	if *head.Version != WireVersion || head.Type != "state" {
		return StateMessage{}, &MessageError{DropVersion, fmt.Errorf("version %d type %q, want version %d type \"state\"", *head.Version, head.Type, WireVersion)}
	}
	var m StateMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return StateMessage{}, &MessageError{DropMalformed, err}
	}
	if dec.More() {
		return StateMessage{}, &MessageError{DropMalformed, errors.New("trailing data after the message")}
	}
	if err := m.validate(); err != nil {
		return StateMessage{}, err
	}
	if len(m.Announcement.Data) > 0 {
		// Canonical form, so that equal data compares equal.
		var c bytes.Buffer
		if err := json.Compact(&c, m.Announcement.Data); err != nil {
			return StateMessage{}, &MessageError{DropMalformed, err}
		}
		m.Announcement.Data = c.Bytes()
	}
	return m, nil
}

func (m StateMessage) validate() error {
	invalid := func(format string, a ...any) error {
		return &MessageError{DropInvalid, fmt.Errorf(format, a...)}
	}
	if m.Version != WireVersion || m.Type != "state" {
		return &MessageError{DropVersion, fmt.Errorf("version %d type %q", m.Version, m.Type)}
	}
	if m.Incarnation == 0 {
		return invalid("incarnation is 0")
	}
	if len(m.Proxy) > maxURLLen {
		return invalid("proxy URL longer than %d bytes", maxURLLen)
	}
	u, err := url.Parse(m.Proxy)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return invalid("proxy %q is not an http(s) URL with a host", m.Proxy)
	}
	if err := m.validateCert(u.Scheme); err != nil {
		return err
	}
	if m.Token != "" && len(m.Token) != tokenLen {
		return invalid("token has %d characters, want %d (or none)", len(m.Token), tokenLen)
	}
	for _, c := range []byte(m.Token) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return invalid("token is not lowercase hex")
		}
	}
	if len(m.Announcement.Functions) > maxAnnouncedFunctions || len(m.Announcement.Grants) > maxAnnouncedGrants {
		return invalid("announcement has %d functions and %d grants, limits %d and %d",
			len(m.Announcement.Functions), len(m.Announcement.Grants), maxAnnouncedFunctions, maxAnnouncedGrants)
	}
	if err := m.Announcement.Validate(); err != nil {
		return invalid("announcement: %v", err)
	}
	return nil
}
