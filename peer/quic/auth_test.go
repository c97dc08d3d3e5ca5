package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/dfaas-go/dfaas/peer"
)

// rawDial connects to tr with key k (and certificate der, if not nil),
// speaking QUIC and the ALPN only: the test drives the protocol by hand.
func rawDial(t *testing.T, tr *Transport, k *Key, der []byte) (*quicgo.Conn, error) {
	t.Helper()
	if der == nil {
		var err error
		if der, err = selfSigned(k); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conf := &tls.Config{
		Certificates:       []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k.priv}},
		NextProtos:         []string{ALPN},
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS13,
	}
	qc, err := quicgo.DialAddr(ctx, tr.Addr().String(), conf, &quicgo.Config{HandshakeIdleTimeout: 2 * time.Second})
	if err == nil {
		t.Cleanup(func() { qc.CloseWithError(0, "") })
	}
	return qc, err
}

// tryInject opens a control stream, sends a hello, and sends a message on
// a stream of its own. It returns the first error.
func tryInject(qc *quicgo.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ctrl, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := ctrl.Write(hello{Version: ProtocolVersion, MaxMessage: 1 << 16}.append(nil)); err != nil {
		return err
	}
	ctrl.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := readFrame(ctrl, maxControlFrame); err != nil {
		return err
	}
	s, err := qc.OpenUniStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := s.Write(appendFrame(nil, frameData, []byte("injected"))); err != nil {
		return err
	}
	return s.Close()
}

// noMessage fails if tr receives anything within d.
func noMessage(t *testing.T, tr *Transport, d time.Duration) {
	t.Helper()
	select {
	case m := <-tr.Recv():
		t.Fatalf("%s received %q from %s", tr.LocalID(), m.Data, m.From)
	case <-time.After(d):
	}
}

func TestMembersListRefusesOutsider(t *testing.T) {
	ka, kb, kc := mustKey(t), mustKey(t), mustKey(t)
	members := []peer.ID{ka.ID(), kb.ID()}
	ca := fastConfig(t, ka)
	ca.Members = members
	a := listen(t, ca)
	cb := fastConfig(t, kb)
	cb.Members = members
	cb.Bootstrap = []Addr{a.Self()}
	b := listen(t, cb)
	// The outsider runs in the lab setting: it accepts anyone, but nobody
	// accepts it.
	cc := fastConfig(t, kc)
	cc.Bootstrap = []Addr{a.Self(), b.Self()}
	c := listen(t, cc)

	eventually(t, 5*time.Second, "members connected", func() bool { return fullyConnected([]*Transport{a, b}) })
	eventually(t, 5*time.Second, "outsider refused", func() bool {
		return a.Stats().Rejected[RejectNotMember] > 0 && b.Stats().Rejected[RejectNotMember] > 0
	})
	for _, tr := range []*Transport{a, b} {
		if upPeers(tr)[kc.ID()] {
			t.Fatalf("%s lists the outsider as up", tr.LocalID())
		}
	}
	if len(upPeers(c)) != 0 {
		t.Fatalf("outsider is connected to %v", upPeers(c))
	}
	if err := c.Send(context.Background(), a.LocalID(), []byte("x")); !errors.Is(err, peer.ErrUnknownPeer) {
		t.Fatalf("outsider Send: err = %v, want ErrUnknownPeer", err)
	}
	// By hand: the handshake fails, and nothing gets through.
	if qc, err := rawDial(t, a, kc, nil); err == nil {
		if err := tryInject(qc); err == nil {
			t.Fatal("outsider completed a hello and sent a message")
		}
	}
	noMessage(t, a, 300*time.Millisecond)
	// A member can do the same by hand (the test would pass for the
	// wrong reason otherwise).
	qc, err := rawDial(t, a, kb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tryInject(qc); err != nil {
		t.Fatalf("member injection by hand: %v", err)
	}
	select {
	case m := <-a.Recv():
		if m.From != kb.ID() || string(m.Data) != "injected" {
			t.Fatalf("got %q from %s", m.Data, m.From)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a member's hand-made message did not arrive")
	}
}

func TestFederationCertificates(t *testing.T) {
	fed, other := mustKey(t), mustKey(t)
	now := time.Now()
	issue := func(by *Key, k *Key, from, to time.Time) []byte {
		pemCert, err := IssueCertificate(by, k.ID(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		der, err := ParseCertificate(pemCert)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	ka, kb := mustKey(t), mustKey(t)
	ca := fastConfig(t, ka)
	ca.Federation = []peer.ID{fed.ID()}
	ca.Certificate = issue(fed, ka, now.Add(-time.Hour), now.Add(time.Hour))
	a := listen(t, ca)
	cb := fastConfig(t, kb)
	cb.Federation = []peer.ID{fed.ID()}
	cb.Certificate = issue(fed, kb, now.Add(-time.Hour), now.Add(time.Hour))
	cb.Bootstrap = []Addr{a.Self()}
	b := listen(t, cb)
	eventually(t, 5*time.Second, "federation members connected", func() bool { return fullyConnected([]*Transport{a, b}) })

	tests := []struct {
		name, reason string
		cert         func(k *Key) []byte
	}{
		{"self-signed", RejectNotMember, func(*Key) []byte { return nil }},
		{"other federation", RejectNotMember, func(k *Key) []byte { return issue(other, k, now.Add(-time.Hour), now.Add(time.Hour)) }},
		{"expired", RejectExpired, func(k *Key) []byte { return issue(fed, k, now.Add(-2*time.Hour), now.Add(-time.Hour)) }},
		{"not yet valid", RejectExpired, func(k *Key) []byte { return issue(fed, k, now.Add(time.Hour), now.Add(2*time.Hour)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustKey(t)
			before := a.Stats().Rejected
			qc, err := rawDial(t, a, k, tt.cert(k))
			if err == nil {
				if err := tryInject(qc); err == nil {
					t.Fatal("handshake and injection succeeded")
				}
			}
			after := a.Stats().Rejected
			for _, r := range []string{RejectNotMember, RejectExpired} {
				want := before[r]
				if r == tt.reason {
					want++
				}
				if after[r] != want {
					t.Errorf("%s rejections %d -> %d, want %d", r, before[r], after[r], want)
				}
			}
		})
	}
	noMessage(t, a, 200*time.Millisecond)
	// The certificate of another node does not work with one's own key.
	if _, err := Listen(Config{Listen: "127.0.0.1:0", Key: mustKey(t), Certificate: ca.Certificate}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Listen with another node's certificate: err = %v, want ErrConfig", err)
	}
}
