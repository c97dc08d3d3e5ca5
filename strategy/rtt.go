package strategy

import (
	"cmp"
	"time"
)

// KnownRTT returns the measured round-trip time to n and whether it is
// known: an RTT of 0 means that none was measured yet, not that the
// neighbour is infinitely close.
func (n Neighbour) KnownRTT() (time.Duration, bool) { return n.RTT, n.RTT > 0 }

// CompareRTT orders neighbours nearest first: by measured round-trip time,
// those whose RTT is unknown after every measured one, and by ID among
// equals. Sort by RTT with it (slices.SortFunc(nbs, strategy.CompareRTT)):
// comparing the RTT fields directly would put the unknown ones first.
func CompareRTT(a, b Neighbour) int {
	ra, oka := a.KnownRTT()
	rb, okb := b.KnownRTT()
	switch {
	case oka != okb && oka:
		return -1
	case oka != okb:
		return 1
	}
	return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(a.ID, b.ID))
}
