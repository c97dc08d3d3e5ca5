package quic

import (
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
)

func TestDataCertificate(t *testing.T) {
	a, _ := NewKeyFromSeed(make([]byte, 32))
	seed := make([]byte, 32)
	seed[0] = 1
	b, _ := NewKeyFromSeed(seed)
	ca, err := a.DataCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if err := nodetls.CheckOwn(&ca, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataCertificate(a.ID(), ca.Certificate[0]); err != nil {
		t.Fatalf("own certificate refused: %v", err)
	}
	// a's certificate announced by b, or b's key under a's name.
	if err := CheckDataCertificate(b.ID(), ca.Certificate[0]); err == nil {
		t.Error("a's certificate accepted for b")
	}
	misnamed, _ := nodetls.New(b.priv, string(a.ID()), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err := CheckDataCertificate(a.ID(), misnamed.Certificate[0]); err == nil {
		t.Error("b's key named a accepted for a")
	}
	expired, _ := nodetls.New(a.priv, string(a.ID()), time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	if err := CheckDataCertificate(a.ID(), expired.Certificate[0]); err == nil {
		t.Error("expired certificate accepted")
	}
	if err := CheckDataCertificate(a.ID(), []byte("junk")); err == nil {
		t.Error("junk accepted")
	}
}
