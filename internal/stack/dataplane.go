package stack

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/peer/quic"
)

// The node-to-node path (docs/tls.md). A node has two ports: the user port
// (ProxyListen), and the node port (NodeListen), where neighbours' proxies
// send forwarded requests over mutual TLS with their data-plane
// certificates, made of their node keys. The node announces its node port
// (https://) with its certificate. Without a Key the node port is plain
// HTTP, a lab setting.

// dataTLS is the data plane's security settings of a stack.
type dataTLS struct {
	cert     *tls.Certificate // nil: plain node-to-node path
	userTLS  *tls.Config      // an operator's certificate on the user port
	userFile string
}

// openDataTLS makes the node's data-plane certificate from its key and
// loads the operator's certificate of the user port.
func openDataTLS(cfg Config) (dataTLS, error) {
	var d dataTLS
	if cfg.Key != nil {
		c, err := cfg.Key.DataCertificate()
		if err != nil {
			return d, err
		}
		d.cert = &c
	}
	if cfg.UserCertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.UserCertFile, cfg.UserCertFile)
		if err != nil {
			return d, usage.Errorf("--proxy-cert %q: %v (want a PEM file with the certificate chain and its private key)", cfg.UserCertFile, err)
		}
		d.userTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}
		d.userFile = cfg.UserCertFile
	}
	return d, nil
}

// scheme returns the scheme of a port: https with TLS.
func scheme(secure bool) string {
	if secure {
		return "https://"
	}
	return "http://"
}

// nodeConfig returns what the control loop needs of the data plane: the
// announced certificate and the check of the peers' ones.
func (d dataTLS) nodeConfig(c *dfaas.Config) {
	if d.cert != nil {
		c.DataCert = d.cert.Certificate[0]
		c.CheckDataCert = quic.CheckDataCertificate
	}
}

// nodeListen returns the address of the node port.
func nodeListen(cfg Config) string {
	if cfg.NodeListen == "" {
		return "127.0.0.1:0"
	}
	return cfg.NodeListen
}

// listenNode opens the node port of the embedded proxy.
func listenNode(cfg Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", nodeListen(cfg))
	if err != nil {
		return nil, fmt.Errorf("--node-listen %q: %w", nodeListen(cfg), err)
	}
	return ln, nil
}
