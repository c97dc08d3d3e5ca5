package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The rule, checked on its inputs since the tests run as any user.
func TestCheckMode(t *testing.T) {
	for _, tc := range []struct {
		perm             os.FileMode
		fileUID, procUID int
		ok               bool
	}{
		{0o600, 1000, 1000, true},
		{0o400, 0, 0, true},
		{0o440, 0, 10001, true}, // root:fsGroup 0440, read through the group
		{0o640, 0, 10001, true}, // root may write its own file
		{0o440, 0, 0, false},    // root reading a file its group can read too
		{0o440, 10001, 10001, false},
		{0o440, 1000, 10001, false}, // not root's: its owner may give it to anyone
		{0o460, 0, 10001, false},    // group may write
		{0o444, 0, 10001, false},    // others may read
		{0o640, -1, 10001, false},   // owner unknown
		{0o644, 1000, 1000, false},
	} {
		err := checkMode("/k", tc.perm, tc.fileUID, tc.procUID)
		if (err == nil) != tc.ok {
			t.Errorf("mode %04o owner %d process %d: %v, want ok %v", tc.perm, tc.fileUID, tc.procUID, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrShared) || !strings.Contains(err.Error(), `"chmod 600 /k"`)) {
			t.Errorf("mode %04o: %v does not wrap ErrShared and name the fix", tc.perm, err)
		}
	}
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	os.WriteFile(path, []byte("k"), 0o600)
	fi, _ := os.Stat(path)
	if err := Check(path, fi); err != nil {
		t.Errorf("mode 0600: %v", err)
	}
	os.Chmod(path, 0o644)
	fi, _ = os.Stat(path)
	if err := Check(path, fi); unixPermissions && !errors.Is(err, ErrShared) {
		t.Errorf("mode 0644: %v, want ErrShared", err)
	}
}
