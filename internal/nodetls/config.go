package nodetls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Trust is a set of trusted certificates (DER) with the identity each
// stands for. The zero Trust trusts nothing. A Trust is immutable.
type Trust struct {
	ids map[string]string // DER → identity
}

// NewTrust returns the Trust of certs (identity → DER). Empty certificates
// are left out.
func NewTrust(certs map[string][]byte) *Trust {
	t := &Trust{ids: make(map[string]string, len(certs))}
	for id, der := range certs {
		if len(der) > 0 {
			t.ids[string(der)] = id
		}
	}
	return t
}

// ID returns the identity of certificate der, if trusted.
func (t *Trust) ID(der []byte) (string, bool) {
	if t == nil {
		return "", false
	}
	id, ok := t.ids[string(der)]
	return id, ok
}

// Len returns the number of trusted certificates.
func (t *Trust) Len() int {
	if t == nil {
		return 0
	}
	return len(t.ids)
}

// ErrUntrusted is wrapped by the handshake error for a certificate that is
// not trusted.
var ErrUntrusted = errors.New("certificate of no current member")

// Server returns the configuration of a node-to-node listener: TLS 1.3,
// HTTP/1.1, presenting own, and requiring a client certificate that trust()
// (read at every handshake) holds and that is valid at the time.
func Server(own tls.Certificate, trust func() *Trust) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{own},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   []string{"http/1.1"},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verify(raw, func(der []byte) bool { _, ok := trust().ID(der); return ok })
		},
	}
}

// Client returns the configuration for connecting to the node whose
// certificate is want: TLS 1.3, presenting own, accepting exactly want as
// the server's certificate while it is valid. (Names are not checked: the
// certificate itself is the identity.)
func Client(own tls.Certificate, want []byte) *tls.Config {
	want = bytes.Clone(want)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{own},
		NextProtos:         []string{"http/1.1"},
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verify(raw, func(der []byte) bool { return bytes.Equal(der, want) })
		},
	}
}

// verify checks the leaf of a presented chain: trusted and valid now.
func verify(raw [][]byte, trusted func([]byte) bool) error {
	if len(raw) == 0 {
		return fmt.Errorf("nodetls: no certificate: %w", ErrUntrusted)
	}
	if !trusted(raw[0]) {
		return fmt.Errorf("nodetls: %w", ErrUntrusted)
	}
	c, err := Parse(raw[0])
	if err != nil {
		return err
	}
	return Check(c, time.Now())
}
