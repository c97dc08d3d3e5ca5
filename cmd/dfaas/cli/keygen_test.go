package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/peer/quic"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	return out.String(), err
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.pem")
	out, err := runCmd(t, "keygen", "--out", path)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	k, err := quic.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(k.ID()) != id {
		t.Fatalf("printed %q, key ID %s", id, k.ID())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(out, string(data)) || strings.Contains(out, "PRIVATE") {
		t.Fatal("keygen printed the private key")
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := runCmd(t, "keygen", "--out", path); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}
	if out, err := runCmd(t, "keygen", "--show", path); err != nil || strings.TrimSpace(out) != id {
		t.Fatalf("--show = %q, %v", out, err)
	}

	fed := filepath.Join(dir, "fed.pem")
	if _, err := runCmd(t, "keygen", "--out", fed); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "node.crt")
	if _, err := runCmd(t, "keygen", "--issue", id, "--federation-key", fed, "--cert-out", cert); err != nil {
		t.Fatal(err)
	}
	if _, err := quic.LoadCertificate(cert); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"keygen"},
		{"keygen", "--out", filepath.Join(dir, "x"), "--show", path},
		{"keygen", "--issue", "not-an-id", "--federation-key", fed, "--cert-out", cert},
		{"keygen", "--issue", id},
		{"keygen", "--issue", id, "--federation-key", fed, "--cert-out", cert, "--valid", "-1h"},
	} {
		if _, err := runCmd(t, args...); !isUsage(err) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}
