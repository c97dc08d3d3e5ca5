// Package nodetls holds the data plane's node identities: the certificate
// a node presents on the node-to-node path (self-signed, carrying the
// node's Ed25519 key, its common name the node ID), and the TLS 1.3
// configurations that make the proxies authenticate each other with them.
//
// Trust is by exact certificate: a node announces its data-plane
// certificate to its peers over the authenticated peer channel, and a
// proxy accepts (as a client certificate) or expects (as a server
// certificate) exactly the certificates of its current neighbours, within
// their validity period. HAProxy applies the same rule: a self-signed
// certificate is accepted only if it is itself in the CA file (OpenSSL's
// rule for self-signed leaves).
//
// The package imports only the standard library: peer/quic makes the
// certificate of a node key, the proxies check and use it.
package nodetls
