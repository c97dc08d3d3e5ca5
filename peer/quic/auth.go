package quic

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// tlsBase returns the TLS settings common to both ends.
func (t *Transport) tlsBase() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cert},
		NextProtos:   []string{ALPN},
		// Identities are checked in VerifyPeerCertificate: node
		// certificates are self-signed or issued by a federation key, not
		// by a web PKI authority.
		InsecureSkipVerify: true,
	}
}

func (t *Transport) serverTLS() *tls.Config {
	c := t.tlsBase()
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, err := t.verifyPeer(raw, "")
		return err
	}
	return c
}

func (t *Transport) clientTLS(want peer.ID) *tls.Config {
	c := t.tlsBase()
	c.ServerName = "dfaas-peer"
	c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, err := t.verifyPeer(raw, want)
		return err
	}
	return c
}

// verifyPeer checks a peer's certificate chain: an Ed25519 leaf whose ID
// is want (if not empty), not this node, and admitted by the membership.
func (t *Transport) verifyPeer(raw [][]byte, want peer.ID) (peer.ID, error) {
	if len(raw) == 0 {
		t.reject(RejectBadCertificate)
		return "", errors.New("peer/quic: peer sent no certificate")
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		t.reject(RejectBadCertificate)
		return "", fmt.Errorf("peer/quic: peer certificate: %w", err)
	}
	id, err := certID(cert)
	if err != nil {
		t.reject(RejectBadCertificate)
		return "", err
	}
	switch {
	case id == t.id:
		t.reject(RejectSelf)
		return "", errors.New("peer/quic: peer has this node's key")
	case want != "" && id != want:
		t.reject(RejectIDMismatch)
		return "", fmt.Errorf("peer/quic: peer is %s, want %s", id, want)
	case !t.admitted(id, cert):
		t.reject(RejectNotMember)
		t.log.Warn("peer refused: not a member", "peer", string(id))
		return "", fmt.Errorf("peer/quic: %s is not a member of the federation", id)
	}
	return id, nil
}

func certID(c *x509.Certificate) (peer.ID, error) {
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("peer/quic: peer certificate has a %T key, want Ed25519", c.PublicKey)
	}
	return IDFromPublicKey(pub), nil
}

// admitted reports whether the membership admits id, whose certificate is
// cert.
func (t *Transport) admitted(id peer.ID, cert *x509.Certificate) bool {
	if t.s.open() || t.s.members[id] {
		return true
	}
	return len(t.s.federation) > 0 && issuedBy(cert, t.s.federation, time.Now())
}

// mayDial reports whether a peer learnt from gossip is worth dialling:
// with only a member list configured, peers outside it are not.
func (t *Transport) mayDial(id peer.ID) bool {
	return t.s.open() || t.s.members[id] || len(t.s.federation) > 0
}
