package forecast

import "math"

// Holt is double exponential smoothing: it tracks a level and a trend and
// predicts level + trend, so it follows a series that drifts up or down (a
// rising morning load) without the lag of EWMA. With Reset it also follows
// a sudden level shift (a burst) after one observation.
type Holt struct {
	// Alpha is the smoothing weight of the level, in (0, 1]. If zero, 0.1.
	Alpha float64
	// Beta is the smoothing weight of the trend, in (0, 1]. If zero, 0.01.
	Beta float64
	// Reset, if positive, makes the forecaster follow a level shift at
	// once: an observation further from the forecast than Reset times
	// the typical error (the smoothed mean absolute error) becomes the new
	// level, with no trend, and the level is then the mean of the values
	// since the shift until that weighs less than Alpha. 0 never resets.
	Reset float64

	sm smoother
}

// Observe implements Forecaster.
func (h *Holt) Observe(v float64) {
	if usable(v) {
		h.sm.observe(v, 0, param(h.Alpha, 0.1), param(h.Beta, 0.01), h.Reset, false)
	}
}

// Forecast implements Forecaster. It is never negative when no observation
// was.
func (h *Holt) Forecast() float64 { return h.sm.forecast(0) }

// smoother is the level and trend of Holt's method, on a series from which
// a seasonal component s is removed.
type smoother struct {
	level, trend float64
	n            int
	neg          bool // a negative value was observed
	shift        shiftDetector
	since        int     // observations since a reset, while that matters
	pendDir      int     // sign of the last error, if it was a jump
	pendV        float64 // the deseasonalized value of that observation
}

func (sm *smoother) forecast(s float64) float64 {
	f := sm.level + sm.trend + s
	if !sm.neg {
		f = max(0, f)
	}
	return f
}

// observe adds v, whose seasonal component is s, and reports whether the
// level was reset.
//
// With confirm, a level shift is followed only when two observations in a
// row are far from the forecast on the same side: a seasonal forecaster's
// single miss is more often a flaw of its profile than a shift.
func (sm *smoother) observe(v, s, alpha, beta, reset float64, confirm bool) bool {
	sm.neg = sm.neg || v < 0
	defer func() { sm.n++ }()
	switch {
	case sm.n == 0:
		sm.level = v - s
		return false
	}
	dir := sm.shift.jump(v, sm.forecast(s), reset)
	if sm.n == 1 {
		// No trend from a single difference: after an idle start, the
		// first load would be extrapolated to twice itself. The trend is
		// learnt at the pace of beta.
		sm.level = v - s
		return false
	}
	if dir != 0 {
		switch {
		case !confirm:
			sm.level, sm.trend, sm.since = v-s, 0, 1
			return true
		case dir == sm.pendDir:
			sm.level, sm.trend, sm.since = (v-s+sm.pendV)/2, 0, 2
			sm.pendDir = 0
			return true
		}
		sm.pendDir, sm.pendV = dir, v-s
	} else {
		sm.pendDir = 0
	}
	if sm.since > 0 {
		sm.since++
		if a := 1 / float64(sm.since); a > alpha {
			alpha = a
		} else {
			sm.since = 0
		}
	}
	prev := sm.level
	sm.level = alpha*(v-s) + (1-alpha)*(sm.level+sm.trend)
	sm.trend = beta*(sm.level-prev) + (1-beta)*sm.trend
	return false
}

// minShiftErrors is how many errors the shift detector must have seen
// before it reports a shift. Few, so that a forecaster that has seen a
// short idle spell (an agent that just started, with no load yet) follows
// the first load at once instead of rising to it at the pace of its
// smoothing: after a constant history the typical error is 0 and any
// change is a shift.
const minShiftErrors = 1

// shiftDetector tells level shifts from noise by the size of an error
// relative to the smoothed mean absolute error.
type shiftDetector struct {
	mae float64
	n   int
}

// jump records the error of forecast f for observation v and reports
// whether it exceeds k typical errors: +1 above the forecast, -1 below, 0
// not (always 0 before minShiftErrors errors are known, or if k <= 0).
// The error of a jump enters the typical error capped, so that one burst
// does not blind the detector to the next.
func (sd *shiftDetector) jump(v, f, k float64) int {
	if k <= 0 {
		return 0
	}
	e := math.Abs(v - f)
	big := sd.n >= minShiftErrors && e > k*sd.mae
	switch {
	case big && sd.mae == 0:
		// A change after a constant history (an idle start): the typical
		// error is unknown, not zero. Learn it anew on the new level, or
		// every later error would count as a shift.
		sd.n = 0
		if v > f {
			return 1
		}
		return -1
	case big:
		e = k * sd.mae
	}
	w := max(0.02, 1/float64(sd.n+1))
	sd.mae += w * (e - sd.mae)
	sd.n++
	switch {
	case !big:
		return 0
	case v > f:
		return 1
	}
	return -1
}

// param returns p if it is in (0, 1], def otherwise.
func param(p, def float64) float64 {
	if p > 0 && p <= 1 {
		return p
	}
	return def
}

var _ Forecaster = (*Holt)(nil)
