package nodetls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

func newCert(t testing.TB, id string, from, to time.Time) tls.Certificate {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(priv, id, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParse(t *testing.T) {
	now := time.Now()
	good := newCert(t, "a", now.Add(-time.Hour), now.Add(time.Hour))
	// Signed by another Ed25519 key: not self-signed.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "b"}, NotBefore: now, NotAfter: now.Add(time.Hour)}
	pub := good.PrivateKey.(ed25519.PrivateKey).Public()
	foreign, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, other)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		der  []byte
		want string
	}{
		{"good", good.Certificate[0], ""},
		{"empty", nil, "empty"},
		{"garbage", []byte("not a certificate"), "nodetls:"},
		{"too large", make([]byte, MaxCertSize+1), "limit"},
		{"not self-signed", foreign, "not self-signed"},
		{"ECDSA", ecCert, "not Ed25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.der)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Parse: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckOwn(t *testing.T) {
	now := time.Now()
	a := newCert(t, "a", now.Add(-time.Hour), now.Add(time.Hour))
	b := newCert(t, "b", now.Add(-time.Hour), now.Add(time.Hour))
	expired := newCert(t, "a", now.Add(-2*time.Hour), now.Add(-time.Hour))
	mixed := tls.Certificate{Certificate: a.Certificate, PrivateKey: b.PrivateKey}
	if err := CheckOwn(&a, now); err != nil {
		t.Errorf("good: %v", err)
	}
	for name, c := range map[string]*tls.Certificate{"nil": nil, "expired": &expired, "other key": &mixed} {
		if err := CheckOwn(c, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(nil, "x", now, now.Add(time.Hour)); err == nil {
		t.Error("New with no key: no error")
	}
	if _, err := New(a.PrivateKey.(ed25519.PrivateKey), "x", now, now); err == nil {
		t.Error("New with an empty validity: no error")
	}
	if _, err := KeyPEM(a); err != nil {
		t.Error(err)
	}
}

// handshake runs a TLS handshake between a client and a server over
// loopback and returns the server's and the client's errors.
func handshake(t *testing.T, srv, cli *tls.Config) (error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		s := tls.Server(c, srv)
		s.SetDeadline(time.Now().Add(10 * time.Second))
		err = s.Handshake()
		if err == nil {
			_, err = s.Write([]byte("x"))
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err == nil {
		// TLS 1.3: the client may finish before the server checks its
		// certificate; reading the server's byte surfaces its verdict.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	return <-done, err
}

func TestHandshake(t *testing.T) {
	now := time.Now()
	valid := func(id string) tls.Certificate { return newCert(t, id, now.Add(-time.Hour), now.Add(time.Hour)) }
	server, member, stranger := valid("s"), valid("m"), valid("x")
	expired := newCert(t, "e", now.Add(-2*time.Hour), now.Add(-time.Hour))
	trust := NewTrust(map[string][]byte{"m": member.Certificate[0], "e": expired.Certificate[0], "empty": nil})
	if trust.Len() != 2 {
		t.Fatalf("Len %d, want 2", trust.Len())
	}
	if id, ok := trust.ID(member.Certificate[0]); !ok || id != "m" {
		t.Fatalf("ID = %q %v", id, ok)
	}
	srv := Server(server, func() *Trust { return trust })
	for _, tc := range []struct {
		name   string
		client *tls.Config
		ok     bool
	}{
		{"member", Client(member, server.Certificate[0]), true},
		{"non-member", Client(stranger, server.Certificate[0]), false},
		{"expired member", Client(expired, server.Certificate[0]), false},
		{"no certificate", &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}, false},
		{"wrong server expected", Client(member, stranger.Certificate[0]), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serr, cerr := handshake(t, srv, tc.client)
			if ok := serr == nil && cerr == nil; ok != tc.ok {
				t.Fatalf("server %v, client %v; want ok=%v", serr, cerr, tc.ok)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	now := time.Now()
	f.Add(newCert(f, "a", now, now.Add(time.Hour)).Certificate[0])
	f.Add([]byte{0x30, 0x82, 0x01})
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := Parse(der)
		if err == nil {
			_ = Check(c, now)
		}
	})
}
