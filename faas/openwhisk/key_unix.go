//go:build unix

package openwhisk

import (
	"os"
	"syscall"
)

// checkKeyFile refuses a key file that group or others may access (see
// ReadKeyFile).
func checkKeyFile(path string, fi os.FileInfo) error {
	uid := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	return keyModeError(path, fi.Mode(), uid, os.Geteuid())
}
