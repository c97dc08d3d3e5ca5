package quic

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	quicgo "github.com/quic-go/quic-go"

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

// errQuiet refuses a connection attempt from the address of a peer that
// must wait before it reconnects.
var errQuiet = errors.New("peer/quic: reconnecting too often")

// serverConfig returns the QUIC settings of the listener: those of every
// connection, and a first cheap refusal (before any cryptography) of the
// address of a peer that reconnects in a loop.
func (t *Transport) serverConfig() *quicgo.Config {
	c := t.qconf.Clone()
	c.GetConfigForClient = func(info *quicgo.ClientInfo) (*quicgo.Config, error) {
		if t.quietAddr(info.RemoteAddr.String(), time.Now()) {
			t.reject(RejectReconnect)
			return nil, errQuiet
		}
		return t.qconf, nil
	}
	return c
}

// verifyPeer checks a peer's certificate chain: an Ed25519 leaf whose ID
// is want (if not empty; else the peer is dialling this node), not this
// node, admitted by the membership, and not reconnecting in a loop.
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
	now := time.Now()
	switch {
	case id == t.id:
		t.reject(RejectSelf)
		return "", errors.New("peer/quic: peer has this node's key")
	case want != "" && id != want:
		t.reject(RejectIDMismatch)
		return "", fmt.Errorf("peer/quic: peer is %s, want %s", id, want)
	}
	switch t.admission(id, cert, now) {
	case admitted:
	case admissionExpired:
		t.reject(RejectExpired)
		t.lim.Warn("refused expired", "peer refused: its federation certificate is not valid now",
			"peer", string(id), "not_before", cert.NotBefore, "not_after", cert.NotAfter)
		return "", fmt.Errorf("peer/quic: %s: federation certificate valid from %v to %v, not now", id, cert.NotBefore, cert.NotAfter)
	default:
		t.reject(RejectNotMember)
		t.lim.Warn("refused not_member", "peer refused: not a member", "peer", string(id))
		return "", fmt.Errorf("peer/quic: %s is not a member of the federation", id)
	}
	if want == "" {
		if wait := t.quietFor(id, now); wait > 0 {
			t.reject(RejectReconnect)
			t.lim.Info("refused reconnect "+string(id), "peer refused: reconnecting too often",
				"peer", string(id), "wait", wait.Round(time.Millisecond))
			return "", fmt.Errorf("peer/quic: %s reconnects too often; wait %v", id, wait.Round(time.Millisecond))
		}
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

// Outcomes of admission.
const (
	admitted         = iota
	admissionExpired // a federation certificate outside its validity
	notMember
)

// admission tells whether the membership admits id, whose certificate is
// cert, at now.
func (t *Transport) admission(id peer.ID, cert *x509.Certificate, now time.Time) int {
	if t.s.open() || t.s.members[id] {
		return admitted
	}
	if len(t.s.federation) == 0 || !signedBy(cert, t.s.federation) {
		return notMember
	}
	if !validAt(cert, now) {
		return admissionExpired
	}
	return admitted
}

// admittedUntil returns when the admission of id, whose certificate is
// cert, ends: the certificate's NotAfter if only a federation certificate
// admits it, zero (never) if the member list or the lab setting does.
func (t *Transport) admittedUntil(id peer.ID, cert *x509.Certificate) time.Time {
	if t.s.open() || t.s.members[id] {
		return time.Time{}
	}
	return cert.NotAfter
}

// mayDial reports whether a peer learnt from gossip is worth dialling:
// with only a member list configured, peers outside it are not.
func (t *Transport) mayDial(id peer.ID) bool {
	return t.s.open() || t.s.members[id] || len(t.s.federation) > 0
}

// checkOwnCertificate logs once when this node's federation certificate
// has expired: federation peers refuse it from then on.
func (t *Transport) checkOwnCertificate(now time.Time) {
	t.mu.Lock()
	expired := !t.ownUntil.IsZero() && now.After(t.ownUntil) && !t.ownExpired
	if expired {
		t.ownExpired = true
	}
	t.mu.Unlock()
	if expired {
		t.log.Warn("this node's federation certificate has expired: federation peers refuse it; issue a new one (dfaas keygen --issue)",
			"not_after", t.ownUntil)
	}
}
