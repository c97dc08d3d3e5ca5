package haproxy

import (
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/internal/nodetls/nodetlstest"
)

// TestRenderTLS renders the golden state with a Certificate: the node
// port requires the neighbours' certificates, forwarded requests are
// refused on the user port, slots present and expect certificates, and
// the CA files hold exactly the neighbours' certificates.
func TestRenderTLS(t *testing.T) {
	own := nodetlstest.Cert(t, "node-a", -time.Hour, time.Hour)
	certB := nodetlstest.Cert(t, "node b", -time.Hour, time.Hour)
	certC := nodetlstest.Cert(t, "node-c", -time.Hour, time.Hour)
	cfg := goldenConfig()
	cfg.Certificate = &own
	s := goldenState()
	for i, c := range [][]byte{certB.Certificate[0], certC.Certificate[0], nil} {
		if c != nil {
			s.Neighbours[i].URL = strings.Replace(strings.Replace(s.Neighbours[i].URL, "http:", "https:", 1), "30080", "30443", 1)
			s.Neighbours[i].Cert = c
		}
	}
	f, err := Render(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"bind :30443 id 2 ssl crt /run/dfaas/tls/node.pem ca-file /run/dfaas/tls/members.pem verify required alpn http/1.1",
		"ssl-default-bind-options ssl-min-ver TLSv1.3",
		"forwarded requests are taken on the node port only\\n\" if from_node !node_port",
		"acl cert_ok req.fhdr(DFaaS-Node-ID),strcmp(sess.cn) eq 0",
		"server nb 10.0.0.2:30443 ssl crt /run/dfaas/tls/node.pem ca-file /run/dfaas/tls/n1.pem verify required check inter", // slot 1
		"server nb ipv6@fd00::3:30443 ssl crt /run/dfaas/tls/node.pem ca-file /run/dfaas/tls/n2.pem verify required\n",       // once.n2
	} {
		if !strings.Contains(f.Config, want) {
			t.Errorf("configuration lacks %q", want)
		}
	}
	members := f.CAFiles["tls/members.pem"]
	for _, c := range [][]byte{own.Certificate[0], certB.Certificate[0], certC.Certificate[0]} {
		if !strings.Contains(members, string(nodetls.CertPEM(c))) {
			t.Error("members.pem lacks a certificate")
		}
	}
	if f.CAFiles["tls/n1.pem"] != string(nodetls.CertPEM(certB.Certificate[0])) || f.CAFiles["tls/n2.pem"] != string(nodetls.CertPEM(certC.Certificate[0])) {
		t.Error("slot CA files are not the slot neighbours' certificates")
	}
	if strings.Contains(f.Config, "PRIVATE KEY") {
		t.Error("the private key is in the configuration")
	}

	// A plain neighbour with a Certificate, and an https one without.
	plain := goldenState()
	if _, err := Render(cfg, plain); err == nil || !strings.Contains(err.Error(), "TLS only") {
		t.Errorf("http neighbour with a Certificate: %v", err)
	}
	if _, err := Render(goldenConfig(), s); err == nil || !strings.Contains(err.Error(), "Certificate") {
		t.Errorf("https neighbour without a Certificate: %v", err)
	}
	expired := nodetlstest.Cert(t, "node-a", -2*time.Hour, -time.Hour)
	cfg.Certificate = &expired
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "Certificate") {
		t.Errorf("expired Certificate: %v", err)
	}
}
