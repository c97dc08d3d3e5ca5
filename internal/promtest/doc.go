// Package promtest starts real Prometheus and node_exporter processes for
// integration tests, on loopback ports with temporary directories, and
// stops them when the test ends.
//
// A missing binary skips the test, except when DFAAS_INTEGRATION=1 is set,
// where it fails it (CI installs Debian's prometheus and
// prometheus-node-exporter). Binary does that for any executable, and
// Require for any other missing piece (root, a device).
package promtest
