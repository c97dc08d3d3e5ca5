package sim

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear buckets of microseconds: exact
// below 32µs, then 32 buckets per power of two, so a quantile read from it
// is within 1.6% of the exact one. It needs 8 KiB whatever the number of
// samples, which keeps memory flat on runs of millions of requests.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histGroups  = 32 // up to 2^(histSubBits+histGroups) µs, about 38 hours
	histBuckets = histSub + histGroups*histSub
)

func histIndex(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us < histSub {
		return int(us)
	}
	e := bits.Len64(us) - 1 // ≥ histSubBits
	m := int(us>>(e-histSubBits)) & (histSub - 1)
	i := histSub + (e-histSubBits)*histSub + m
	return min(i, histBuckets-1)
}

// histValue returns the midpoint of bucket i in microseconds.
func histValue(i int) float64 {
	if i < histSub {
		return float64(i)
	}
	g, m := (i-histSub)/histSub, (i-histSub)%histSub
	width := float64(uint64(1) << g)
	return float64(histSub+m)*width + width/2
}

func (h *histogram) add(d time.Duration) {
	h.counts[histIndex(d)]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the nearest-rank p-quantile in milliseconds (0 when
// empty).
func (h *histogram) quantile(p float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			return histValue(i) / 1000
		}
	}
	return histValue(histBuckets-1) / 1000
}

func (h *histogram) quantiles() Quantiles {
	return Quantiles{P50: h.quantile(0.50), P95: h.quantile(0.95), P99: h.quantile(0.99)}
}
