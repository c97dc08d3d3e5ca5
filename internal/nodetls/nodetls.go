package nodetls

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// MaxCertSize bounds the DER encoding of a data-plane certificate (one of
// an Ed25519 key is about 300 bytes).
const MaxCertSize = 2048

// Validity of the certificates New makes.
const (
	// Backdate is how far before its creation a certificate is valid
	// (clocks of edge nodes disagree).
	Backdate = time.Hour
	// Lifetime is how long after its creation a certificate is valid: the
	// certificate stands for the node key, which does not change.
	Lifetime = 100 * 365 * 24 * time.Hour
)

// New returns a self-signed data-plane certificate for the Ed25519 key
// priv, with common name id (the node ID), valid from notBefore to
// notAfter.
func New(priv ed25519.PrivateKey, id string, notBefore, notAfter time.Time) (tls.Certificate, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return tls.Certificate{}, errors.New("nodetls: not an Ed25519 private key")
	}
	if !notAfter.After(notBefore) {
		return tls.Certificate{}, fmt.Errorf("nodetls: not-after %v is not after not-before %v", notAfter, notBefore)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("nodetls: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("nodetls: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("nodetls: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// Parse decodes a data-plane certificate: at most MaxCertSize bytes of
// DER, an Ed25519 key, self-signed with it. It does not check the validity
// period (see Check).
func Parse(der []byte) (*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("nodetls: empty certificate")
	}
	if len(der) > MaxCertSize {
		return nil, fmt.Errorf("nodetls: certificate of %d bytes, limit %d", len(der), MaxCertSize)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("nodetls: %w", err)
	}
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("nodetls: certificate key is %T, not Ed25519", c.PublicKey)
	}
	if c.SignatureAlgorithm != x509.PureEd25519 || !ed25519.Verify(pub, c.RawTBSCertificate, c.Signature) {
		return nil, errors.New("nodetls: certificate is not self-signed by its Ed25519 key")
	}
	return c, nil
}

// Check reports an error if now is outside c's validity period.
func Check(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("nodetls: certificate of %q is valid from %v to %v, not at %v",
			c.Subject.CommonName, c.NotBefore.UTC(), c.NotAfter.UTC(), now.UTC())
	}
	return nil
}

// KeyPEM returns the PEM encoding of cert's certificate chain followed by
// its private key (PKCS#8): the file HAProxy's "crt" takes.
func KeyPEM(cert tls.Certificate) ([]byte, error) {
	var b bytes.Buffer
	for _, der := range cert.Certificate {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("nodetls: private key: %w", err)
	}
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: key})
	return b.Bytes(), nil
}

// CertPEM returns the PEM encoding of a DER certificate.
func CertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// CheckOwn checks a certificate a proxy presents: a data-plane
// certificate (Parse) with its private key, valid now.
func CheckOwn(cert *tls.Certificate, now time.Time) error {
	if cert == nil || len(cert.Certificate) == 0 {
		return errors.New("nodetls: no certificate")
	}
	c, err := Parse(cert.Certificate[0])
	if err != nil {
		return err
	}
	priv, ok := cert.PrivateKey.(ed25519.PrivateKey)
	if !ok || !bytes.Equal(priv.Public().(ed25519.PublicKey), c.PublicKey.(ed25519.PublicKey)) {
		return errors.New("nodetls: the private key does not match the certificate")
	}
	return Check(c, now)
}
