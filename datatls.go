package dfaas

import (
	"errors"
	"fmt"

	"github.com/dfaas-go/dfaas/peer"
)

// The data plane's node identities (docs/tls.md). Each node announces the
// certificate its proxy presents on the node-to-node path; a peer's
// announced certificate must be its own (Config.CheckDataCert), and both
// ends must agree on the path's security: a node whose data plane is TLS
// drops the messages of a peer whose data plane is plain, and the other
// way round, so that neither forwards to a proxy that would refuse it.

// validateDataTLS checks DataCert and CheckDataCert against the scheme of
// ProxyURL.
func (c Config) validateDataTLS(scheme string) error {
	bad := func(field, msg string) error { return fmt.Errorf("%w: %s: %s", ErrConfig, field, msg) }
	switch {
	case scheme == "https" && len(c.DataCert) == 0:
		return bad("DataCert", "required with an https ProxyURL")
	case scheme == "http" && len(c.DataCert) > 0:
		return bad("ProxyURL", "must be https with a DataCert")
	case len(c.DataCert) > maxCertLen:
		return bad("DataCert", fmt.Sprintf("%d bytes, limit %d", len(c.DataCert), maxCertLen))
	case len(c.DataCert) > 0 && c.CheckDataCert == nil:
		return bad("CheckDataCert", "required with DataCert")
	case len(c.DataCert) > 0:
		if err := c.CheckDataCert(c.Peers.LocalID(), c.DataCert); err != nil {
			return bad("DataCert", err.Error())
		}
	}
	return nil
}

// validateCert checks the certificate field of a message whose proxy URL
// has the given scheme.
func (m StateMessage) validateCert(scheme string) error {
	switch {
	case len(m.Cert) > maxCertLen:
		return &MessageError{DropInvalid, fmt.Errorf("certificate of %d bytes, limit %d", len(m.Cert), maxCertLen)}
	case scheme == "https" && len(m.Cert) == 0:
		return &MessageError{DropInvalid, errors.New("https proxy without a certificate")}
	case scheme == "http" && len(m.Cert) > 0:
		return &MessageError{DropInvalid, errors.New("certificate with an http proxy")}
	}
	return nil
}

// checkDataCert checks the data-plane certificate of a message from a
// peer: the same kind of data plane as this node's, and the peer's own
// certificate.
func (n *Node) checkDataCert(from peer.ID, m StateMessage) error {
	tls := len(n.cfg.DataCert) > 0
	switch {
	case tls && len(m.Cert) == 0:
		return &MessageError{DropInvalid, errors.New("the peer's data plane is plain HTTP, this node's TLS")}
	case !tls && len(m.Cert) > 0:
		return &MessageError{DropInvalid, errors.New("the peer's data plane is TLS, this node's plain HTTP")}
	case tls:
		if err := n.cfg.CheckDataCert(from, m.Cert); err != nil {
			return &MessageError{DropInvalid, fmt.Errorf("data-plane certificate: %w", err)}
		}
	}
	return nil
}
