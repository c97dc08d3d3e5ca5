package haproxy

// Routing without weights: the public frontend draws each user request's
// target from a table of buckets. Every function has a counter (in the
// stick table st_fn) that each of its user requests increments; the
// request's bucket is the counter modulo buckets, and the route map gives
// the bucket's target. The buckets of a route are filled in the order of a
// smooth weighted round robin, so any run of consecutive requests of a
// function is split as the shares say, within one request per target, and
// nothing needs HAProxy's server weights (nor a second pass through HAProxy
// to apply them).

import "strconv"

// buckets is the number of buckets of a route table: the shares are
// realised in 1/256ths (as maxWeight).
const buckets = maxWeight

// Targets in the route map: backend names (the frontend's use_backend
// takes the part before any "/").
const (
	// A local bucket is "gw.<f>/<overflow>", or "L/<overflow>" when the
	// route has a local limit: the frontend then sends the request to
	// gw.<f> while under the limit, else to the overflow target.
	targetLimited = "L"
	targetReject  = "reject"  // 429, by policy
	targetNoRoute = "noroute" // 404, available nowhere
	// targetUnavailable, as a fallback, means there is none: 503.
	targetUnavailable = "unavailable"
)

// slotTarget is the backend of neighbour slot i (0-based).
func slotTarget(i int) string { return "out." + slotName(i) }

// routeTable returns the target of each bucket of function fn for shares
// [local, reject, slot 1, slot 2, ...]. A local bucket also names where
// its request goes when it cannot be served locally (above the local
// limit, or the gateway failing): the forwarding shares, in proportion,
// else rejection.
func routeTable(fn string, limited bool, shares []float64) []string {
	w := scaleWeights(shares)
	table := make([]string, buckets)
	if sumInts(w) == 0 {
		for b := range table {
			table[b] = targetNoRoute
		}
		return table
	}
	fwd := w[2:]
	var over []int
	if sumInts(fwd) > 0 {
		over = smoothSequence(fwd, w[0])
	}
	local := "gw." + fn
	if limited {
		local = targetLimited
	}
	nLocal := 0
	for b, t := range smoothSequence(w, buckets) {
		switch {
		case t == 0 && over != nil:
			table[b] = local + "/" + slotTarget(over[nLocal])
			nLocal++
		case t == 0:
			table[b] = local + "/" + targetReject
		case t == 1:
			table[b] = targetReject
		default:
			table[b] = slotTarget(t - 2)
		}
	}
	return table
}

// fallbacks returns, for each slot with a forwarding share, where a
// request goes when that neighbour refuses it (403 unknown-node) or cannot
// be reached (or is marked down) and the local gateway cannot take it: the
// slot with the largest other share, else the same neighbour once more,
// through once.n<i>, which does not wait for health checks (they may only
// be slow).
func fallbacks(fwd []float64) map[int]string {
	out := map[int]string{}
	for i, s := range fwd {
		if !(s > 0) {
			continue
		}
		best := -1
		for j, o := range fwd {
			if j != i && o > 0 && (best < 0 || o > fwd[best]) {
				best = j
			}
		}
		if best < 0 {
			best = i
		}
		out[i] = "once." + slotName(best)
	}
	return out
}

// smoothSequence returns n picks among indexes with the given non-negative
// integer weights, in the order of a smooth weighted round robin (as
// nginx's): when n is the sum of the weights each index is picked exactly
// its weight times, and every run of consecutive picks is within one of
// its share. The weights must not all be zero.
func smoothSequence(w []int, n int) []int {
	total := sumInts(w)
	cur := make([]int, len(w))
	seq := make([]int, n)
	for k := range seq {
		best := -1
		for i, x := range w {
			if x == 0 {
				continue
			}
			cur[i] += x
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq[k] = best
	}
	return seq
}

// slotIndex parses a slot name n<i> (1-based) into its 0-based index.
func slotIndex(name string) (int, bool) {
	if len(name) < 2 || name[0] != 'n' {
		return 0, false
	}
	i, err := strconv.Atoi(name[1:])
	if err != nil || i < 1 {
		return 0, false
	}
	return i - 1, true
}
