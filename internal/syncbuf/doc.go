// Package syncbuf holds Buffer, a bytes.Buffer safe for concurrent
// writers and a reader: what tests and test harnesses give a child
// process or a logger as its output, and read while it runs.
package syncbuf
