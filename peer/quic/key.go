package quic

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/dfaas-go/dfaas/internal/secretfile"
	"github.com/dfaas-go/dfaas/peer"
)

// Key is a node's Ed25519 private key. Its formatting (String, GoString,
// LogValue) shows only the node ID, never the private key, so that a Key
// can be logged or printed by mistake without leaking it.
type Key struct {
	priv ed25519.PrivateKey
	id   peer.ID
}

// GenerateKey returns a new random key.
func GenerateKey() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("peer/quic: generate key: %w", err)
	}
	return newKey(priv), nil
}

// NewKeyFromSeed returns the key with the given 32-byte Ed25519 seed
// (RFC 8032); use it for deterministic keys in tests.
func NewKeyFromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("peer/quic: key seed has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return newKey(ed25519.NewKeyFromSeed(seed)), nil
}

func newKey(priv ed25519.PrivateKey) *Key {
	return &Key{priv: priv, id: IDFromPublicKey(priv.Public().(ed25519.PublicKey))}
}

// ID returns the node ID derived from the key's public half.
func (k *Key) ID() peer.ID { return k.id }

// Public returns the public key.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// String returns "quic.Key(ID)".
func (k *Key) String() string {
	if k == nil {
		return "quic.Key(nil)"
	}
	return "quic.Key(" + string(k.id) + ")"
}

// GoString is String: %#v never shows the private key either.
func (k *Key) GoString() string { return k.String() }

// LogValue logs a key as its ID.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalPEM encodes the key as a PKCS#8 "PRIVATE KEY" PEM block, the
// format "openssl genpkey -algorithm ED25519" writes.
func (k *Key) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("peer/quic: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey decodes a PKCS#8 PEM Ed25519 private key ("-----BEGIN PRIVATE
// KEY-----", as written by "openssl genpkey -algorithm ED25519" and by
// MarshalPEM). Anything else in the input (another block, trailing data,
// another algorithm) is an error.
func ParseKey(data []byte) (*Key, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("peer/quic: key: no PEM block found")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("peer/quic: key: PEM block type %q, want \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("peer/quic: key: data after the PEM block")
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("peer/quic: key: encrypted or annotated PEM blocks are not supported")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("peer/quic: key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("peer/quic: key: %T is not an Ed25519 key", k)
	}
	return newKey(priv), nil
}

// ErrKeyFileMode is wrapped by the error LoadKey returns for a key file
// that group or others may access.
var ErrKeyFileMode = secretfile.ErrShared

// maxKeyFile bounds what LoadKey reads: a PEM Ed25519 key is 119 bytes.
const maxKeyFile = 64 << 10

// LoadKey reads a key file written by WriteKeyFile or by "openssl genpkey
// -algorithm ED25519". On Unix it refuses (with an error wrapping
// ErrKeyFileMode that names the file and the fix, "chmod 600 FILE") a file
// that group or others may read or write. One exception, the rule
// PostgreSQL applies to its key files: a file owned by root may be
// readable (not writable) by its group when this process is not root,
// which is how a Kubernetes secret volume with an fsGroup or an
// administrator grants the key to a service's group.
func LoadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("peer/quic: load key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("peer/quic: load key: %w", err)
	}
	if err := secretfile.Check(path, fi); err != nil {
		return nil, fmt.Errorf("peer/quic: load key: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("peer/quic: load key %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("peer/quic: key file %s is over %d bytes: not a key", path, maxKeyFile)
	}
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return k, nil
}

// WriteKeyFile writes k to a new file at path with mode 0600. It refuses
// to overwrite an existing file.
func WriteKeyFile(path string, k *Key) error {
	data, err := k.MarshalPEM()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("peer/quic: write key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("peer/quic: write key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("peer/quic: write key %s: %w", path, err)
	}
	return nil
}

// The libp2p encoding of an Ed25519 public key (a protobuf PublicKey
// message: field 1 KeyType = 1 (Ed25519), field 2 Data = 32 bytes) wrapped
// in an identity multihash (code 0x00, length 36).
const idPrefix = "\x00\x24\x08\x01\x12\x20"

const idBytes = len(idPrefix) + ed25519.PublicKeySize

// IDFromPublicKey returns the node ID of an Ed25519 public key: the same
// string libp2p derives for the key (base58btc of the identity multihash
// of the protobuf-encoded public key, "12D3KooW..."), so that a libp2p key
// keeps its identity.
func IDFromPublicKey(pub ed25519.PublicKey) peer.ID {
	b := make([]byte, 0, idBytes)
	b = append(b, idPrefix...)
	b = append(b, pub...)
	return peer.ID(base58Encode(b))
}

// PublicKeyFromID returns the public key an ID was derived from. It is an
// error if id is not the ID of an Ed25519 key.
func PublicKeyFromID(id peer.ID) (ed25519.PublicKey, error) {
	if len(id) == 0 || len(id) > 64 {
		return nil, fmt.Errorf("peer/quic: node ID %q: not a libp2p Ed25519 peer ID", truncate(string(id)))
	}
	b, err := base58Decode(string(id))
	if err != nil {
		return nil, fmt.Errorf("peer/quic: node ID %q: %w", truncate(string(id)), err)
	}
	if len(b) != idBytes || !bytes.HasPrefix(b, []byte(idPrefix)) {
		return nil, fmt.Errorf("peer/quic: node ID %q: not a libp2p Ed25519 peer ID", truncate(string(id)))
	}
	return ed25519.PublicKey(b[len(idPrefix):]), nil
}

// ParseID checks that s is the ID of an Ed25519 key and returns it.
func ParseID(s string) (peer.ID, error) {
	pub, err := PublicKeyFromID(peer.ID(s))
	if err != nil {
		return "", err
	}
	// Canonical form: re-encoding gives s back (base58 has no aliases for
	// a fixed length, but leading '1's would be a different length).
	if id := IDFromPublicKey(pub); string(id) != s {
		return "", fmt.Errorf("peer/quic: node ID %q is not in canonical form", truncate(s))
	}
	return peer.ID(s), nil
}

// ParseIDs parses a list of IDs separated by commas or white space. An
// empty list gives nil.
func ParseIDs(list string) ([]peer.ID, error) {
	var ids []peer.ID
	for i, f := range splitList(list) {
		id, err := ParseID(f)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode encodes b in base58btc (the Bitcoin alphabet).
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.37
	digits := make([]byte, 0, len(b)*137/100+1)
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, zeros+len(digits))
	for i := range zeros {
		out[i] = '1'
	}
	for i, d := range digits {
		out[len(out)-1-i] = base58Alphabet[d]
	}
	return string(out)
}

// base58Decode decodes a base58btc string.
func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	bs := make([]byte, 0, len(s)*733/1000+1) // log(58)/log(256) < 0.733
	for i := zeros; i < len(s); i++ {
		v := strings.IndexByte(base58Alphabet, s[i])
		if v < 0 {
			return nil, fmt.Errorf("invalid base58 character %q at %d", s[i], i)
		}
		carry := v
		for j := range bs {
			carry += int(bs[j]) * 58
			bs[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			bs = append(bs, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros+len(bs))
	for i, c := range bs {
		out[len(out)-1-i] = c
	}
	return out, nil
}
