package openwhisk

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/dfaas-go/dfaas/internal/secretfile"
)

// MaxKeySize bounds a key file and a key.
const MaxKeySize = 1024

// Key is an OpenWhisk API key, "UUID:KEY" (the wsk property AUTH): the
// namespace's HTTP Basic credentials, user UUID and password Secret.
//
// String redacts the secret, so that a Key printed by mistake in a log
// reveals nothing; Auth returns the whole key.
type Key struct {
	UUID, Secret string
}

// ParseKey parses "UUID:KEY" (surrounding white space removed). Both
// parts must be non-empty, without white space or control characters; the
// UUID may not contain a colon.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxKeySize {
		return Key{}, fmt.Errorf("API key of %d bytes, at most %d", len(s), MaxKeySize)
	}
	u, k, ok := strings.Cut(s, ":")
	if !ok || u == "" || k == "" {
		return Key{}, errors.New("API key is not UUID:KEY")
	}
	for _, part := range []string{u, k} {
		for i := 0; i < len(part); i++ {
			if c := part[i]; c <= ' ' || c == 0x7f {
				return Key{}, fmt.Errorf("API key has a white space or control character at %d", i)
			}
		}
	}
	return Key{UUID: u, Secret: k}, nil
}

// Auth returns the key as "UUID:KEY".
func (k Key) Auth() string { return k.UUID + ":" + k.Secret }

// String returns the UUID and a redacted secret.
func (k Key) String() string {
	if k.Secret == "" {
		return k.UUID + ":"
	}
	return k.UUID + ":<redacted>"
}

// IsZero reports whether k is unset.
func (k Key) IsZero() bool { return k.UUID == "" && k.Secret == "" }

// ReadKeyFile reads an API key ("UUID:KEY") from path. It refuses a file
// that group or others may access (on systems with Unix permissions), with
// an error naming the file and the chmod that fixes it, and a file larger
// than MaxKeySize. One exception: a file root owns may be readable (not
// writable) by its group when this process is not root, which is how a
// Kubernetes Secret volume with an fsGroup (mode 0440) or an administrator
// grants the key to a service's group.
func ReadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("openwhisk: key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("openwhisk: key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("openwhisk: key file %s is not a regular file", path)
	}
	if err := secretfile.Check(path, st); err != nil {
		return Key{}, fmt.Errorf("openwhisk: key file: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxKeySize+1))
	if err != nil {
		return Key{}, fmt.Errorf("openwhisk: key file %s: %w", path, err)
	}
	if len(data) > MaxKeySize {
		return Key{}, fmt.Errorf("openwhisk: key file %s is larger than %d bytes", path, MaxKeySize)
	}
	k, err := ParseKey(string(data))
	if err != nil {
		return Key{}, fmt.Errorf("openwhisk: key file %s: %w", path, err)
	}
	return k, nil
}

// GenerateKey returns a fresh random key in OpenWhisk's format: a random
// (version 4) UUID and a 64-character alphanumeric secret.
func GenerateKey() (Key, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return Key{}, fmt.Errorf("openwhisk: generate key: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	secret := make([]byte, 0, 64)
	var buf [64]byte
	for len(secret) < 64 {
		if _, err := rand.Read(buf[:]); err != nil {
			return Key{}, fmt.Errorf("openwhisk: generate key: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting above it keeps every character equally likely.
			if b < 248 && len(secret) < 64 {
				secret = append(secret, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return Key{UUID: uuid, Secret: string(secret)}, nil
}

// CreateKeyFile generates a fresh key and writes it, once, to a new file
// readable by its owner only (mode 0600) in dir (the system's temporary
// directory if empty). It returns the key and the file's path, which the
// caller should log so that the operator can hand it to clients.
func CreateKeyFile(dir string) (Key, string, error) {
	k, err := GenerateKey()
	if err != nil {
		return Key{}, "", err
	}
	f, err := os.CreateTemp(dir, "dfaas-openwhisk-key-*")
	if err != nil {
		return Key{}, "", fmt.Errorf("openwhisk: create key file: %w", err)
	}
	path := f.Name()
	if err := writeKey(f, k); err != nil {
		os.Remove(path)
		return Key{}, "", fmt.Errorf("openwhisk: write key file %s: %w", path, err)
	}
	return k, path, nil
}

// WriteKeyFile writes k to a new file at path with mode 0600. It never
// overwrites: an existing file is an error.
func WriteKeyFile(path string, k Key) error {
	if _, err := ParseKey(k.Auth()); err != nil {
		return fmt.Errorf("openwhisk: write key file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("openwhisk: write key file: %w", err)
	}
	if err := writeKey(f, k); err != nil {
		os.Remove(path)
		return fmt.Errorf("openwhisk: write key file %s: %w", path, err)
	}
	return nil
}

func writeKey(f *os.File, k Key) error {
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := io.WriteString(f, k.Auth()+"\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
