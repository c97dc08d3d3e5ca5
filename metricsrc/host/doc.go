// Package host reads a Linux host's CPU time and memory from /proc, as a
// metricsrc.TotalsReader of node totals (busy CPU seconds summed over
// cores, cores, memory in use and in total), for nodes without
// node_exporter.
package host
