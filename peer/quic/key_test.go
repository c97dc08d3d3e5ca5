package quic

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/peer"
)

// libp2p test vectors: go-libp2p's HTTP peer-ID auth walkthrough test
// (libp2p/specs http/peer-id-auth.md) derives these peer IDs from these
// Ed25519 seeds; the first key is also the Ed25519 vector of the libp2p
// peer-ids spec (public key 1ed1e8fa...).
type libp2pVector struct{ seed, pub, id string }

func libp2pVectors() []libp2pVector {
	return []libp2pVector{
		{
			seed: "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d",
			pub:  "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e",
			id:   "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
		},
		{
			seed: "0000000000000000000000000000000000000000000000000000000000000000",
			pub:  "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
			id:   "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
		},
	}
}

func TestLibp2pIDVectors(t *testing.T) {
	for _, v := range libp2pVectors() {
		t.Run(v.id, func(t *testing.T) {
			seed, _ := hex.DecodeString(v.seed)
			k, err := NewKeyFromSeed(seed)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(k.Public()); got != v.pub {
				t.Fatalf("public key %s, want %s", got, v.pub)
			}
			if k.ID() != peer.ID(v.id) {
				t.Fatalf("ID %s, want %s", k.ID(), v.id)
			}
			pub, err := PublicKeyFromID(k.ID())
			if err != nil || !pub.Equal(k.Public()) {
				t.Fatalf("PublicKeyFromID = %x, %v", pub, err)
			}
			if _, err := ParseID(v.id); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The same vector key as a PKCS#8 PEM file (openssl reads it and prints
// the public key of the vector): loading it gives the libp2p ID.
func TestLoadKeyLibp2pVector(t *testing.T) {
	k, err := LoadKey(privateCopy(t, "testdata/libp2p-vector.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != peer.ID(libp2pVectors()[0].id) {
		t.Fatalf("ID %s, want %s", k.ID(), libp2pVectors()[0].id)
	}
}

// testdata/openssl-ed25519.pem was written by
// "openssl genpkey -algorithm ED25519"; its public key (from "openssl
// pkey -pubout") is below.
func TestLoadOpenSSLKey(t *testing.T) {
	k, err := LoadKey(privateCopy(t, "testdata/openssl-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	want := "26fccf24c3dd8f036dfa26e1eb2af61602e4534944e2eafb151bca768d6854bf"
	if got := hex.EncodeToString(k.Public()); got != want {
		t.Fatalf("public key %s, want %s", got, want)
	}
}

// privateCopy copies a test key file to a file of mode 0600 (git keeps
// no mode but the executable bit, so testdata files are 0644 or so).
func privateCopy(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// LoadKey refuses a key file that group or others may access, naming the
// file and the fix; a private one (0600, 0400) loads.
func TestLoadKeyFileMode(t *testing.T) {
	path := privateCopy(t, "testdata/openssl-ed25519.pem")
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true},
		{0o644, false}, {0o640, false}, {0o604, false}, {0o660, false}, {0o620, false}, {0o602, false}, {0o666, false},
	} {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKey(path)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrKeyFileMode) {
				t.Fatalf("err = %v, want ErrKeyFileMode", err)
			}
			for _, want := range []string{path, fmt.Sprintf("%04o", tt.mode), "chmod 600 " + path} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// A key file far larger than a key is refused without reading it all.
func TestLoadKeyHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.pem")
	if err := os.WriteFile(path, bytes.Repeat([]byte("A"), 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "not a key") {
		t.Fatalf("err = %v", err)
	}
}

// A key written by WriteKeyFile is read back by openssl, which derives
// the same public key (skipped without openssl).
func TestWriteKeyFileOpenSSL(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "node.pem")
	if err := WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := WriteKeyFile(path, k); err == nil {
		t.Error("WriteKeyFile overwrote an existing file")
	}
	k2, err := LoadKey(path)
	if err != nil || k2.ID() != k.ID() {
		t.Fatalf("LoadKey = %v, %v; want ID %s", k2, err, k.ID())
	}
	openssl := promtest.Binary(t, "openssl") // .ci/run installs it
	out, err := exec.Command(openssl, "pkey", "-in", path, "-pubout", "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(out, k.Public()) {
		t.Fatalf("openssl public key %x does not end with %x", out, []byte(k.Public()))
	}
}

func TestParseKeyErrors(t *testing.T) {
	good, _ := os.ReadFile("testdata/openssl-ed25519.pem")
	rsa, _ := os.ReadFile("testdata/rsa.pem") // openssl genpkey -algorithm RSA
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no PEM block"},
		{"garbage", "hello", "no PEM block"},
		{"wrong type", strings.Replace(string(good), "PRIVATE KEY", "EC PRIVATE KEY", 2), "PKCS#8"},
		{"trailing", string(good) + "junk", "data after"},
		{"bad der", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "peer/quic: key"},
		{"rsa", string(rsa), "not an Ed25519 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKey([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestKeyNeverPrintsPrivateKey(t *testing.T) {
	k, err := NewKeyFromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "key", k)
	secret := hex.EncodeToString(k.priv)
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k), logged.String(),
	} {
		if strings.Contains(s, secret) || strings.Contains(strings.ToLower(s), secret[:16]) || strings.Contains(s, string(k.priv[:8])) {
			t.Errorf("formatted key leaks the private key: %s", s)
		}
		if !strings.Contains(s, string(k.ID())) && !strings.Contains(s, hex.EncodeToString([]byte(k.String()))) {
			t.Errorf("formatted key does not show the ID: %s", s)
		}
	}
}

func TestParseIDErrors(t *testing.T) {
	k, _ := NewKeyFromSeed(make([]byte, 32))
	tests := []string{
		"",
		"0OIl", // not base58
		"QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", // sha256 multihash (RSA style)
		string(k.ID())[:20],     // truncated
		"1" + string(k.ID()),    // leading zero byte
		string(k.ID()) + "1",    // longer
		strings.Repeat("z", 65), // too long
	}
	for _, s := range tests {
		if _, err := ParseID(s); err == nil {
			t.Errorf("ParseID(%q) succeeded", s)
		}
	}
}

func TestBase58RoundTrip(t *testing.T) {
	for _, b := range [][]byte{{}, {0}, {0, 0, 1}, {255, 255}, bytes.Repeat([]byte{7}, 40)} {
		got, err := base58Decode(base58Encode(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("round trip of %x = %x, %v", b, got, err)
		}
	}
}

func FuzzParseID(f *testing.F) {
	for _, v := range libp2pVectors() {
		f.Add(v.id)
	}
	f.Add("1")
	f.Add("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		pub, err := PublicKeyFromID(id)
		if err != nil || len(pub) != ed25519.PublicKeySize || IDFromPublicKey(pub) != id {
			t.Fatalf("accepted %q but it does not round-trip", s)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	good, _ := os.ReadFile("testdata/openssl-ed25519.pem")
	f.Add(good)
	rsa, _ := os.ReadFile("testdata/rsa.pem")
	f.Add(rsa)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKey(data)
		if err != nil {
			return
		}
		if _, err := ParseID(string(k.ID())); err != nil {
			t.Fatalf("parsed key has a bad ID: %v", err)
		}
	})
}
