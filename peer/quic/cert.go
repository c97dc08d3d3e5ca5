package quic

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// Certificates.
//
// A node's TLS certificate carries its Ed25519 node key; the TLS 1.3
// handshake proves that the peer holds the private key, so the ID derived
// from the certificate's public key is authenticated. By default the
// certificate is self-signed and only the key matters. In a federation
// (Config.Federation) each node instead presents a certificate issued by a
// federation key (IssueCertificate); a peer accepts it if the signature is
// from one of the federation keys it trusts and the certificate is within
// its validity period.

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// selfSigned returns a self-signed certificate for k.
func selfSigned(k *Key) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(k.ID())},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(100 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.priv)
}

// IssueCertificate returns a PEM certificate, signed by the federation key
// fed, that makes node a member of the federation from notBefore to
// notAfter. The node's public key is recovered from its ID, so issuing
// needs only the ID the node's operator reports ("dfaas keygen" prints it).
func IssueCertificate(fed *Key, node peer.ID, notBefore, notAfter time.Time) ([]byte, error) {
	pub, err := PublicKeyFromID(node)
	if err != nil {
		return nil, err
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("peer/quic: issue certificate: not-after %v is not after not-before %v", notAfter, notBefore)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(node)},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	parent := &x509.Certificate{Subject: pkix.Name{CommonName: "dfaas federation " + string(fed.ID())}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, fed.priv)
	if err != nil {
		return nil, fmt.Errorf("peer/quic: issue certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// ParseCertificate decodes one PEM "CERTIFICATE" block (as written by
// IssueCertificate) and returns its DER bytes, after checking that it
// carries an Ed25519 key.
func ParseCertificate(data []byte) ([]byte, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("peer/quic: certificate: no PEM block found")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("peer/quic: certificate: PEM block type %q, want \"CERTIFICATE\"", block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("peer/quic: certificate: data after the PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("peer/quic: certificate: %w", err)
	}
	if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("peer/quic: certificate: %T is not an Ed25519 key", c.PublicKey)
	}
	return block.Bytes, nil
}

// LoadCertificate reads a PEM certificate file (see ParseCertificate).
func LoadCertificate(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("peer/quic: load certificate: %w", err)
	}
	der, err := ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return der, nil
}

// signedBy reports whether c was signed by one of the federation keys.
func signedBy(c *x509.Certificate, feds []ed25519.PublicKey) bool {
	if c.SignatureAlgorithm != x509.PureEd25519 {
		return false
	}
	for _, f := range feds {
		if ed25519.Verify(f, c.RawTBSCertificate, c.Signature) {
			return true
		}
	}
	return false
}

// validAt reports whether now is within c's validity period.
func validAt(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}
