// Package secretfile checks that a file holding a secret (a node key, an
// API key) is private to its owner before it is read: the rule the agent
// applies to every key it loads, written once.
package secretfile

import (
	"errors"
	"fmt"
	"os"
)

// ErrShared is wrapped by the error Check returns for a file that group
// or others may access.
var ErrShared = errors.New("secret file is accessible by group or others")

// Check refuses a secret file, described by fi, that group or others may
// access, with an error naming the file, its mode and the fix ("chmod 600
// FILE"). One exception: a root-owned file that only its group may read,
// read by a process that is not root (a Kubernetes secret volume with an
// fsGroup). Where Unix permissions do not apply, it accepts any file.
func Check(path string, fi os.FileInfo) error {
	if !unixPermissions {
		return nil
	}
	return checkMode(path, fi.Mode(), owner(fi), os.Geteuid())
}

// checkMode applies the rule to the permission bits perm of a file owned
// by fileUID (-1: unknown) read by a process running as procUID.
func checkMode(path string, perm os.FileMode, fileUID, procUID int) error {
	perm &= os.ModePerm
	if perm&0o077 == 0 || perm&0o077 == 0o040 && fileUID == 0 && procUID != 0 {
		return nil
	}
	return fmt.Errorf("%w: %s has mode %04o; make it private to its owner with \"chmod 600 %s\"", ErrShared, path, uint32(perm), path)
}
