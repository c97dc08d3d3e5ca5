package openwhisk

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Key
		err  bool
	}{
		{"uuid:secret", Key{"uuid", "secret"}, false},
		{"  uuid:sec:ret\n", Key{"uuid", "sec:ret"}, false},
		{"uuid", Key{}, true},
		{":secret", Key{}, true},
		{"uuid:", Key{}, true},
		{"uu id:secret", Key{}, true},
		{"uuid:sec\tret", Key{}, true},
		{"uuid:sec\x00ret", Key{}, true},
		{"uuid:" + strings.Repeat("k", MaxKeySize), Key{}, true},
	} {
		got, err := ParseKey(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseKey(%q) = %+v, %v", tc.in, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "sec") {
			t.Errorf("ParseKey(%q): the error %q shows the secret", tc.in, err)
		}
	}
	k := Key{"uuid", "secret"}
	if k.String() != "uuid:<redacted>" || k.Auth() != "uuid:secret" {
		t.Errorf("String %q Auth %q", k.String(), k.Auth())
	}
}

func TestReadKeyFile(t *testing.T) {
	good := writeFile(t, "auth", testKey.Auth()+"\n", 0o600)
	if k, err := ReadKeyFile(good); err != nil || k != testKey {
		t.Errorf("mode 600: %+v, %v", k, err)
	}
	if k, err := ReadKeyFile(writeFile(t, "auth", testKey.Auth(), 0o400)); err != nil || k != testKey {
		t.Errorf("mode 400: %+v, %v", k, err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		p := writeFile(t, "auth", testKey.Auth(), mode)
		_, err := ReadKeyFile(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "chmod 600 "+p) {
			t.Errorf("mode %04o: %v, want a refusal naming the file and chmod 600", mode, err)
		}
	}
	// A symbolic link is judged by its target (as a Kubernetes Secret
	// volume mounts files).
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(writeFile(t, "auth", testKey.Auth(), 0o644), link); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(link); err == nil {
		t.Error("a link to a world-readable file accepted")
	}
	for name, content := range map[string]string{
		"empty":   "",
		"garbage": "no colon here",
		"large":   strings.Repeat("a", MaxKeySize+1),
	} {
		p := writeFile(t, name, content, 0o600)
		if _, err := ReadKeyFile(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	if _, err := ReadKeyFile(t.TempDir()); err == nil {
		t.Error("a directory accepted")
	}
	if _, err := ReadKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file accepted")
	}
}

func TestGenerateAndWriteKey(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	secret := regexp.MustCompile(`^[A-Za-z0-9]{64}$`)
	seen := map[string]bool{}
	for range 20 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if !uuid.MatchString(k.UUID) || !secret.MatchString(k.Secret) || seen[k.Secret] {
			t.Fatalf("key %q", k.Auth())
		}
		seen[k.Secret] = true
	}
	dir := t.TempDir()
	k, path, err := CreateKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != dir {
		t.Errorf("key file %s not in %s", path, dir)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", st.Mode(), err)
	}
	if back, err := ReadKeyFile(path); err != nil || back != k {
		t.Errorf("read back %+v, %v", back, err)
	}
	p := filepath.Join(dir, "mine")
	if err := WriteKeyFile(p, testKey); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadKeyFile(p); err != nil || back != testKey {
		t.Errorf("read back %+v, %v", back, err)
	}
	if err := WriteKeyFile(p, k); err == nil {
		t.Error("an existing key file was overwritten")
	}
	if back, _ := ReadKeyFile(p); back != testKey {
		t.Error("the existing key file changed")
	}
	if err := WriteKeyFile(filepath.Join(dir, "bad"), Key{UUID: "u"}); err == nil {
		t.Error("an invalid key written")
	}
}
