package proxyctl_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/proxyctl"
)

func TestValidateNeighbourCert(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	c, err := nodetls.New(priv, "b", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	der := c.Certificate[0]
	for _, tc := range []struct {
		name string
		nb   proxyctl.Neighbour
		want string
	}{
		{"http without certificate", proxyctl.Neighbour{ID: "b", URL: "http://10.0.0.2:30080"}, ""},
		{"https with certificate", proxyctl.Neighbour{ID: "b", URL: "https://10.0.0.2:30443", Cert: der}, ""},
		{"https without certificate", proxyctl.Neighbour{ID: "b", URL: "https://10.0.0.2:30443"}, "needs its certificate"},
		{"junk certificate", proxyctl.Neighbour{ID: "b", URL: "https://10.0.0.2:30443", Cert: []byte("junk")}, "Cert:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := proxyctl.State{Self: "a", Neighbours: []proxyctl.Neighbour{tc.nb}}
			err := s.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
			if cl := s.Clone(); len(tc.nb.Cert) > 0 && &cl.Neighbours[0].Cert[0] == &s.Neighbours[0].Cert[0] {
				t.Fatal("Clone shares Cert")
			}
		})
	}
}
