// Package heavytest serialises the tests that start many processes and
// depend on timing (federations of agents, benches, demos), across the
// test binaries of one checkout: go test runs the packages' binaries in
// parallel, and two such tests at once on a small machine starve each
// other's processes. Before this package, they shared one package and
// ran one after the other; they moved to several packages and take a
// lock instead.
package heavytest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Lock waits until no other heavy test of this checkout runs, and holds
// the lock until t ends. It locks nothing where file locks are not
// available.
func Lock(t testing.TB) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file))) // the module's directory
	sum := sha256.Sum256([]byte(root))
	path := filepath.Join(os.TempDir(), "dfaas-heavytest-"+hex.EncodeToString(sum[:6])+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Logf("heavytest: %v: running without the lock", err)
		return
	}
	if err := lock(f); err != nil {
		f.Close()
		t.Logf("heavytest: lock %s: %v: running without the lock", path, err)
		return
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
