package quic

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// TestVerifyPeer: each way a peer's certificate chain can be wrong is
// refused with its own reason and counted once: no certificate, a
// certificate that does not parse, a key that is not Ed25519, this node's
// own key (dialling in or dialled), another ID than the one dialled, a
// key outside the membership. A member is admitted under its ID.
func TestVerifyPeer(t *testing.T) {
	self, member, other, outsider := mustKey(t), mustKey(t), mustKey(t), mustKey(t)
	c := fastConfig(t, self)
	c.Members = []peer.ID{member.ID(), other.ID()}
	tr := listen(t, c)
	cert := func(k *Key) [][]byte {
		der, err := selfSigned(k)
		if err != nil {
			t.Fatal(err)
		}
		return [][]byte{der}
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ecdsa"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	ecDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		raw    [][]byte
		want   peer.ID // the ID dialled; "" for a peer dialling in
		reason string  // "" if admitted
		errSub string
	}{
		{"no certificate", nil, "", RejectBadCertificate, "no certificate"},
		{"garbage certificate", [][]byte{{0x30, 0x03, 0x01, 0x02, 0x03}}, "", RejectBadCertificate, "peer certificate"},
		{"ECDSA key", [][]byte{ecDER}, "", RejectBadCertificate, "want Ed25519"},
		{"this node's key dialling in", cert(self), "", RejectSelf, "this node's key"},
		{"this node's key answering a dial", cert(self), member.ID(), RejectSelf, "this node's key"},
		{"another member answering a dial", cert(other), member.ID(), RejectIDMismatch, "want " + string(member.ID())},
		{"outsider answering a dial", cert(outsider), member.ID(), RejectIDMismatch, "want"},
		{"outsider dialling in", cert(outsider), "", RejectNotMember, "not a member"},
		{"member answering a dial", cert(member), member.ID(), "", ""},
		{"member dialling in", cert(other), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tr.Stats().Rejected
			id, err := tr.verifyPeer(tt.raw, tt.want)
			after := tr.Stats().Rejected
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id != peerID(tt.raw) {
					t.Fatalf("admitted as %s", id)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.errSub) || id != "" {
				t.Fatalf("got %q, %v; want an error mentioning %q", id, err, tt.errSub)
			}
			for _, r := range []string{RejectBadCertificate, RejectSelf, RejectIDMismatch, RejectNotMember, RejectExpired, RejectReconnect} {
				want := before[r]
				if r == tt.reason {
					want++
				}
				if after[r] != want {
					t.Errorf("rejected[%s] = %d, want %d", r, after[r], want)
				}
			}
		})
	}
}

// peerID is the ID of the leaf of raw.
func peerID(raw [][]byte) peer.ID {
	c, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return ""
	}
	id, _ := certID(c)
	return id
}

// TestBootstrapIDMismatch: a bootstrap address answered by another node
// than the one configured (a moved address, or an impostor) is refused:
// no connection, counted as id_mismatch, and nothing is delivered.
func TestBootstrapIDMismatch(t *testing.T) {
	a, b, c := mustKey(t), mustKey(t), mustKey(t)
	trC := listen(t, fastConfig(t, c))
	conf := fastConfig(t, a)
	conf.Bootstrap = []Addr{{HostPort: trC.Addr().String(), ID: b.ID()}} // c answers at b's address
	trA := listen(t, conf)
	eventually(t, 5*time.Second, "a refuses c answering as b", func() bool { return trA.Stats().Rejected[RejectIDMismatch] > 0 })
	for _, p := range trA.Peers() {
		if p.Up {
			t.Fatalf("a connected to %s", p.ID)
		}
	}
	noMessage(t, trC, 100*time.Millisecond)
}
