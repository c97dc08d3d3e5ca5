//go:build !unix

package netlimit

// FDLimit returns 0: the file-descriptor limit is unknown on this system.
func FDLimit() uint64 { return 0 }
