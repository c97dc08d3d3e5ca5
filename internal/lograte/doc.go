// Package lograte limits repeated log records. Records are grouped in
// kinds chosen by the caller (for example "handshake refused: not a
// member"); of each kind, the first few in an interval are logged as they
// come and the rest are counted and summarised in one record at the end of
// the interval, with the count and the attributes of the first and the last
// record left out. While a kind keeps repeating, each interval gives one
// summary line, whatever the rate, so that a flood of refused connections
// or of reconnections costs O(1) log lines per interval instead of one per
// event.
//
// A Limiter has no goroutine: summaries are written by the next record of
// the same kind or by Flush, which the owner calls periodically.
package lograte
