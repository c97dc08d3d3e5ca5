//go:build unix

package secretfile

import (
	"os"
	"syscall"
)

// unixPermissions: the mode bits mean what Check reads in them.
const unixPermissions = true

// owner returns the file's owner, or -1 if unknown.
func owner(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
