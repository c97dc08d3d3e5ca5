package goproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/strategy"
)

// The node-to-node path.
//
// With a Certificate, the proxy has two ports: the user port (Serve) and
// the node port (ServeNodes), where neighbours send forwarded requests over
// mutual TLS 1.3. The node port accepts a connection only from a client
// presenting the certificate a current neighbour announced
// (proxyctl.Neighbour.Cert), checks at every request that the client's
// certificate is still a current neighbour's and that it names the node in
// DFaaS-Node-ID, and only then applies the credential check
// (DFaaS-Node-Token), the second factor. A request the node port refuses
// never reaches the FaaS.

// ServeNodes serves the node port on ln until ctx is done, like Serve: with
// a Certificate over mutual TLS (see above), else as plain HTTP. It takes
// only forwarded requests (and the health path); it closes ln.
func (p *Proxy) ServeNodes(ctx context.Context, ln net.Listener) error {
	var err error
	if p.cert != nil {
		cfg := nodetls.Server(*p.cert, p.trust)
		err = p.lim.ServeTLS(ctx, ln, http.HandlerFunc(p.serveNode), cfg)
	} else {
		err = p.lim.Serve(ctx, ln, http.HandlerFunc(p.serveNode))
	}
	if err != nil {
		return fmt.Errorf("embedded proxy: node port: %w", err)
	}
	return nil
}

// trust returns the certificates the node port accepts now.
func (p *Proxy) trust() *nodetls.Trust {
	if st := p.state.Load(); st != nil {
		return st.t.trust
	}
	return nil
}

// UserHandler returns the handler of the user port (what Serve serves),
// for a server of the caller's own: with a Certificate, it refuses
// forwarded requests.
func (p *Proxy) UserHandler() http.Handler { return http.HandlerFunc(p.serveUser) }

// serveUser serves a request on the user port.
func (p *Proxy) serveUser(w http.ResponseWriter, r *http.Request) {
	if p.cert != nil && (len(r.Header[keyNodeID]) > 0 || len(r.Header[keyNodeToken]) > 0) {
		p.refuseNode(w, "dfaas: forwarded requests are taken on the node port only")
		return
	}
	p.ServeHTTP(w, r)
}

// serveNode serves a request on the node port.
func (p *Proxy) serveNode(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == HealthPath {
		io.WriteString(w, "ok\n")
		return
	}
	from := r.Header[keyNodeID]
	if len(from) != 1 || from[0] == "" {
		p.refuseNode(w, "dfaas: the node port takes forwarded requests only (one DFaaS-Node-ID)")
		return
	}
	if p.cert != nil {
		var id string
		ok := r.TLS != nil && len(r.TLS.PeerCertificates) > 0
		if ok {
			id, ok = p.trust().ID(r.TLS.PeerCertificates[0].Raw)
		}
		if !ok || id != from[0] {
			p.refuseNode(w, fmt.Sprintf("dfaas: the client certificate is not that of current neighbour %q", from[0]))
			return
		}
	}
	p.ServeHTTP(w, r)
}

// refuseNode answers 403 unknown-node.
func (p *Proxy) refuseNode(w http.ResponseWriter, msg string) {
	h := w.Header()
	h[keyRejected] = p.fixed.unknownNode
	if st := p.state.Load(); st != nil {
		h[keyServedBy] = st.servedBy
	}
	http.Error(w, msg, http.StatusForbidden)
}

// peerTransports keeps a transport for each https neighbour, which
// presents this node's certificate and accepts only the neighbour's. It is
// kept across Apply while the neighbour and its certificate stay.
type peerTransports map[strategy.NodeID]*peerTransport

type peerTransport struct {
	cert []byte
	rt   *http.Transport
}

// attach gives t's https neighbours their transports, making new ones for
// new neighbours or certificates, and closes the idle connections of
// those no longer used (connections in use finish their request).
func (pt *peerTransports) attach(t *table, own *tls.Certificate, l Limits) error {
	next := peerTransports{}
	for id, nb := range t.neighbours {
		if nb.base.Scheme != "https" {
			continue
		}
		if own == nil {
			return fmt.Errorf("neighbour %q has an https URL but this proxy has no Certificate", id)
		}
		cur := (*pt)[id]
		if cur == nil || !bytes.Equal(cur.cert, nb.cert) {
			tr := newTransport(l, peerDialTimeout)
			tr.TLSClientConfig = nodetls.Client(*own, nb.cert)
			cur = &peerTransport{cert: nb.cert, rt: tr}
		}
		next[id] = cur
		nb.rt = cur.rt
	}
	for id, old := range *pt {
		if next[id] != old {
			old.rt.CloseIdleConnections()
		}
	}
	*pt = next
	return nil
}

// closeIdle closes the idle connections of every transport.
func (pt peerTransports) closeIdle() {
	for _, x := range pt {
		x.rt.CloseIdleConnections()
	}
}

// peerPools keeps the fast client (see upstream) of each neighbour, kept
// across Apply while the neighbour's URL and certificate stay.
type peerPools map[strategy.NodeID]*peerPool

type peerPool struct {
	url  string
	cert []byte
	up   *upstream
}

// attach gives t's neighbours their fast clients, making new ones for new
// neighbours, URLs or certificates, and closes those no longer used (their
// connections in use finish their request, then close). An https
// neighbour's presents own and accepts only the neighbour's certificate;
// without own, https neighbours have none (Apply refuses them anyway).
func (pp *peerPools) attach(t *table, own *tls.Certificate, l Limits) {
	next := peerPools{}
	for id, nb := range t.neighbours {
		https := nb.base.Scheme == "https"
		if https && own == nil {
			continue
		}
		cur := (*pp)[id]
		if cur == nil || cur.url != nb.base.String() || !bytes.Equal(cur.cert, nb.cert) {
			up := newUpstream(nb.base, fastConns(), l.MaxHeaderBytes)
			up.dialTimeout = peerDialTimeout
			if https {
				up.tls = nodetls.Client(*own, nb.cert)
			}
			cur = &peerPool{url: nb.base.String(), cert: nb.cert, up: up}
		}
		next[id] = cur
		nb.fast = cur.up
	}
	for id, old := range *pp {
		if next[id] != old {
			old.up.close()
		}
	}
	*pp = next
}

// closeIdle closes the idle connections of every fast client.
func (pp peerPools) closeIdle() {
	for _, x := range pp {
		x.up.closeIdle()
	}
}
