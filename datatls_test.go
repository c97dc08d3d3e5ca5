package dfaas_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/internal/nodetls/nodetlstest"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// checkByName stands for quic.CheckDataCertificate: a certificate is
// peer id's if its common name is id.
func checkByName(id peer.ID, der []byte) error {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	if c.Subject.CommonName != string(id) {
		return errors.New("certificate of " + c.Subject.CommonName)
	}
	return nil
}

// newDataNode is newTestNode with a data plane of the given kind: TLS
// with certificate cert (announced as the node's own), or plain (nil).
func newDataNode(t *testing.T, net *peer.MemNetwork, id string, cert []byte) *testNode {
	t.Helper()
	tr, err := net.Join(peer.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{tr: tr, proxy: proxyctl.NewRecorder(0), faas: faas.NewStatic(figlet("100")), metrics: metricsrc.NewStatic(metricsrc.Sample{}), reg: prometheus.NewRegistry()}
	cfg := dfaas.Config{
		Strategy: &strategy.Static{LocalShare: 0.5}, Proxy: tn.proxy, FaaS: tn.faas, Metrics: tn.metrics, Peers: tr,
		ProxyURL: "http://" + id + ".example:30080", Period: time.Second, Registerer: tn.reg,
	}
	if cert != nil {
		cfg.ProxyURL, cfg.DataCert, cfg.CheckDataCert = "https://"+id+".example:30443", cert, checkByName
		if id == "m" { // m announces b's certificate as its own
			cfg.CheckDataCert = func(peer.ID, []byte) error { return nil }
		}
	}
	if tn.node, err = dfaas.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.node.Close() })
	return tn
}

func TestDataPlaneCertificates(t *testing.T) {
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	certA := nodetlstest.Cert(t, "a", -time.Hour, time.Hour).Certificate[0]
	certB := nodetlstest.Cert(t, "b", -time.Hour, time.Hour).Certificate[0]
	a, b := newDataNode(t, net, "a", certA), newDataNode(t, net, "b", certB)
	c := newDataNode(t, net, "c", nil) // plain
	m := newDataNode(t, net, "m", certB)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		step(t, t0.Add(time.Duration(i)*time.Second), a, b, c, m)
	}
	st, _ := a.proxy.Last()
	var ids []string
	for _, nb := range st.Neighbours {
		ids = append(ids, string(nb.ID))
	}
	if strings.Join(ids, ",") != "b" {
		t.Fatalf("a's neighbours %v, want only b (c is plain, m announces b's certificate)", ids)
	}
	if nb := st.Neighbours[0]; !bytes.Equal(nb.Cert, certB) || !strings.HasPrefix(nb.URL, "https://") {
		t.Fatalf("b as a's neighbour: URL %q, certificate announced: %v", nb.URL, bytes.Equal(nb.Cert, certB))
	}
	if st, _ := c.proxy.Last(); len(st.Neighbours) != 0 {
		t.Fatalf("plain c has neighbours %v", st.Neighbours)
	}
	if got := a.counter(t, "dfaas_agent_peer_messages_dropped_total", "reason", dfaas.DropInvalid); got < 2 {
		t.Fatalf("a dropped %v invalid messages, want those of c and m", got)
	}

	// Bad configurations, named.
	for name, mod := range map[string]func(*dfaas.Config){
		"DataCert":      func(c *dfaas.Config) { c.ProxyURL = "https://a:1" },
		"ProxyURL":      func(c *dfaas.Config) { c.DataCert = certA },
		"CheckDataCert": func(c *dfaas.Config) { c.ProxyURL, c.DataCert = "https://a:1", certA },
	} {
		cfg := dfaas.Config{Strategy: &strategy.Static{}, Proxy: a.proxy, FaaS: a.faas, Metrics: a.metrics, Peers: a.tr, ProxyURL: "http://a:1"}
		mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDecodeMessageCert(t *testing.T) {
	cert := nodetlstest.Cert(t, "a", -time.Hour, time.Hour).Certificate[0]
	for _, tc := range []struct {
		name  string
		proxy string
		cert  []byte
		ok    bool
	}{
		{"https with certificate", "https://a:1", cert, true},
		{"http without", "http://a:1", nil, true},
		{"https without", "https://a:1", nil, false},
		{"http with", "http://a:1", cert, false},
		{"oversize", "https://a:1", make([]byte, 4096), false},
	} {
		msg := dfaas.StateMessage{Version: dfaas.WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: tc.proxy, Cert: tc.cert}
		data, err := dfaas.EncodeMessage(msg)
		if tc.ok != (err == nil) {
			t.Errorf("%s: encode: %v", tc.name, err)
		}
		if err != nil {
			continue
		}
		got, err := dfaas.DecodeMessage(data, 0)
		if err != nil || !bytes.Equal(got.Cert, tc.cert) {
			t.Errorf("%s: decode: %v", tc.name, err)
		}
	}
}
