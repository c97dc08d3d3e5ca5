package forecast

import (
	"math"
	"math/cmplx"
)

// HoltWinters is additive seasonal exponential smoothing (level, trend and
// a seasonal profile) that finds the season from the data: it keeps a
// compacted history of the series, looks for the strongest repeating lag
// by autocorrelation, adopts a season once two checks in a row (the
// second with a quarter more data) agree on it, and drops it when two
// checks find none. Until then it behaves as Holt.
//
// Memory is bounded: the history holds at most 4096 block means (blocks
// double in length as the series grows, and the oldest blocks are dropped
// once they span four times MaxSeason), and the seasonal profile at most
// Bins bins, linearly interpolated between bin centres.
type HoltWinters struct {
	// Alpha, Beta and Gamma are the smoothing weights of the level, the
	// trend and the seasonal profile (per season), in (0, 1]. If zero,
	// 0.1, 0.01 and 0.2.
	Alpha, Beta, Gamma float64
	// MinSeason and MaxSeason bound the season length, in samples. If
	// zero, 4 and 32768 (a day of 5-second periods is 17280 samples).
	MinSeason, MaxSeason int
	// MinCorrelation is the autocorrelation the season's lag must reach
	// to be used, in (0, 1]. If zero, 0.5.
	MinCorrelation float64
	// Bins is the resolution of the seasonal profile: at most this many
	// bins per season. If zero, 96.
	Bins int
	// Reset is as in Holt: follow a level shift at once when an error
	// exceeds Reset typical errors. 0 never resets.
	Reset float64

	sm      smoother
	hist    history
	checkAt int

	// Seasonal profile: the season is m samples long, split in
	// len(season) bins; sample phase0 is at its start.
	season  []float64
	m       int
	phase0  int
	corr    float64 // autocorrelation at the season's lag
	pending int     // season found by the last check
	misses  int     // checks in a row that found no season
}

const (
	histCap = 4096 // blocks of history
	maxBins = 96   // bins of a seasonal profile
)

// Season returns the season length in samples the forecaster uses, 0 if
// it has found none.
func (h *HoltWinters) Season() int { return h.m }

// Observe implements Forecaster.
func (h *HoltWinters) Observe(v float64) {
	if !usable(v) {
		return
	}
	t := h.sm.n
	s := h.seasonal(t)
	reset := h.sm.observe(v, s, param(h.Alpha, 0.1), param(h.Beta, 0.01), h.Reset, h.m > 0)
	if h.m > 0 && t >= 2 && !reset {
		h.updateSeason(t, param(h.Gamma, 0.2)*(v-h.sm.level-s)/h.binW())
	}
	h.hist.add(v, 4*h.maxSeason())
	if h.sm.n >= h.checkAt {
		h.detect()
	}
}

// Forecast implements Forecaster. It is never negative when no observation
// was.
func (h *HoltWinters) Forecast() float64 { return h.sm.forecast(h.seasonal(h.sm.n)) }

func (h *HoltWinters) bins() int {
	if h.Bins > 0 {
		return h.Bins
	}
	return maxBins
}

func (h *HoltWinters) maxSeason() int {
	if h.MaxSeason > 0 {
		return h.MaxSeason
	}
	return 32768
}

func (h *HoltWinters) minSeason() int {
	if h.MinSeason > 0 {
		return h.MinSeason
	}
	return 4
}

// binW is the width of a seasonal bin in samples.
func (h *HoltWinters) binW() float64 { return float64(h.m) / float64(len(h.season)) }

// pos returns the two bins sample t falls between and the weight of the
// second.
func (h *HoltWinters) pos(t int) (i, j int, w float64) {
	p := ((t-h.phase0)%h.m + h.m) % h.m
	x := (float64(p)+0.5)/h.binW() - 0.5
	f := math.Floor(x)
	k := len(h.season)
	i = (int(f)%k + k) % k
	return i, (i + 1) % k, x - f
}

func (h *HoltWinters) seasonal(t int) float64 {
	if h.m == 0 {
		return 0
	}
	i, j, w := h.pos(t)
	return (1-w)*h.season[i] + w*h.season[j]
}

func (h *HoltWinters) updateSeason(t int, d float64) {
	i, j, w := h.pos(t)
	h.season[i] += (1 - w) * d
	h.season[j] += w * d
}

// detect looks for a season in the history and adopts it if it differs
// from the current one.
func (h *HoltWinters) detect() {
	blocks, blk := h.hist.blocks, h.hist.blk
	// Check again after a quarter more data, or a season.
	h.checkAt = h.sm.n + max(h.sm.n/4, 64, h.m)
	lo := max(2, (h.minSeason()+blk-1)/blk)
	hi := min(len(blocks)/2, h.maxSeason()/blk)
	if hi < lo {
		return
	}
	lag, r := bestLag(detrend(blocks), lo, hi, param(h.MinCorrelation, 0.5))
	m := int(math.Round(lag * float64(blk)))
	near := func(a, b int) bool { return a > 0 && b > 0 && math.Abs(float64(a-b)) <= 0.05*float64(b) }
	switch {
	case lag == 0 || !near(m, h.pending):
		// A season counts only once two checks in a row agree on it.
		h.pending = m
		if h.m > 0 && lag == 0 {
			if h.misses++; h.misses >= 2 {
				h.dropSeason()
			}
		}
		return
	case near(m, h.m):
		// The same season, measured better: stretch the profile, keeping
		// the phase of the next sample.
		t := h.sm.n
		phase := float64(((t-h.phase0)%h.m+h.m)%h.m) / float64(h.m)
		h.m, h.corr, h.misses = m, r, 0
		h.phase0 = t - int(math.Round(phase*float64(m)))
		return
	case h.m > 0 && r < h.corr+0.05:
		return
	}
	h.misses = 0
	h.corr = r
	// Seasonal profile from the history: mean deviation of the blocks
	// from a centred moving average over one season, by phase bin.
	k := min(h.bins(), m)
	prof := make([]float64, k)
	cnt := make([]int, k)
	ma := movingAverage(blocks, int(math.Round(lag)))
	for i, v := range blocks {
		if math.IsNaN(ma[i]) {
			continue
		}
		centre := float64(i*blk) + float64(blk)/2
		b := int(math.Mod(centre, float64(m)) / float64(m) * float64(k))
		prof[min(b, k-1)] += v - ma[i]
		cnt[min(b, k-1)]++
	}
	mean, filled := 0.0, 0
	for i := range prof {
		if cnt[i] > 0 {
			prof[i] /= float64(cnt[i])
			mean += prof[i]
			filled++
		}
	}
	if filled < k {
		// Bins narrower than the history's blocks: too fine to fill.
		return
	}
	for i := range prof {
		prof[i] -= mean / float64(k)
	}
	// The level is deseasonalized from now on; the trend, which had
	// absorbed the seasonal slope, starts again from zero.
	last := h.sm.n - 1
	raw := h.sm.level + h.seasonal(last)
	h.season, h.m, h.phase0 = prof, m, h.hist.start
	h.sm.level, h.sm.trend = raw-h.seasonal(last), 0
}

// dropSeason goes back to no season.
func (h *HoltWinters) dropSeason() {
	h.sm.level += h.seasonal(h.sm.n - 1)
	h.season, h.m, h.corr, h.misses = nil, 0, 0, 0
}

// history is a bounded record of a series as means of blocks of blk
// samples, the first starting at sample start.
type history struct {
	blocks     []float64
	blk, start int
	sum        float64
	cnt        int
}

func (hs *history) add(v float64, maxSpan int) {
	if hs.blk == 0 {
		hs.blk = 1
	}
	hs.sum += v
	hs.cnt++
	if hs.cnt < hs.blk {
		return
	}
	hs.blocks = append(hs.blocks, hs.sum/float64(hs.cnt))
	hs.sum, hs.cnt = 0, 0
	if len(hs.blocks) < histCap {
		return
	}
	if hs.blk*histCap <= maxSpan {
		// Merge pairs: half as many blocks, twice as long.
		for i := range histCap / 2 {
			hs.blocks[i] = (hs.blocks[2*i] + hs.blocks[2*i+1]) / 2
		}
		hs.blocks = hs.blocks[:histCap/2]
		hs.blk *= 2
		return
	}
	// Drop the oldest quarter.
	d := histCap / 4
	hs.blocks = append(hs.blocks[:0], hs.blocks[d:]...)
	hs.start += d * hs.blk
}

// detrend returns xs minus its least-squares line.
func detrend(xs []float64) []float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i, y := range xs {
		x := float64(i)
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	slope := 0.0
	if d := n*sxx - sx*sx; d != 0 {
		slope = (n*sxy - sx*sy) / d
	}
	icpt := (sy - slope*sx) / n
	out := make([]float64, len(xs))
	for i, y := range xs {
		out[i] = y - icpt - slope*float64(i)
	}
	return out
}

// bestLag returns the lag in [lo, hi] of the strongest autocorrelation peak
// of xs reaching minCorr, and its autocorrelation; 0 if none. Peaks are
// the maxima of the humps between zero crossings of the autocorrelation
// after its first one; if a shorter peak is within 10 % of the strongest
// (the strongest being a multiple of the season), the shorter is chosen.
func bestLag(xs []float64, lo, hi int, minCorr float64) (float64, float64) {
	r := autocorr(xs, hi+2)
	if len(r) < hi+2 {
		return 0, 0
	}
	var peaks []int
	k := 1
	for k <= hi && r[k] > 0 {
		k++
	}
	for k <= hi {
		for k <= hi && r[k] <= 0 {
			k++
		}
		top := -1
		for ; k <= hi+1 && r[k] > 0; k++ {
			if k >= lo && k <= hi && (top < 0 || r[k] > r[top]) {
				top = k
			}
		}
		// Only a hump that ends inside the range has a true peak.
		if top > 0 && (k <= hi+1 || r[hi+1] < r[top]) && r[top] >= minCorr {
			peaks = append(peaks, top)
		}
	}
	best := -1
	for _, p := range peaks {
		if best < 0 || r[p] > r[best] {
			best = p
		}
	}
	for _, p := range peaks {
		if r[p] >= 0.9*r[best] {
			return centroid(r, p), r[p]
		}
	}
	return 0, 0
}

// centroid refines the lag of the peak at p: the centre of mass of the
// contiguous lags around p whose autocorrelation is within 0.05 of r[p],
// which noise moves much less than the maximum.
func centroid(r []float64, p int) float64 {
	var sw, swk float64
	for k := p; k >= 0 && r[k] >= r[p]-0.05; k-- {
		w := r[k] - (r[p] - 0.05)
		sw += w
		swk += w * float64(k)
	}
	for k := p + 1; k < len(r) && r[k] >= r[p]-0.05; k++ {
		w := r[k] - (r[p] - 0.05)
		sw += w
		swk += w * float64(k)
	}
	return swk / sw
}

// autocorr returns the autocorrelation of xs (mean removed) at lags
// 0..lags-1, computed by FFT; nil if xs is constant.
func autocorr(xs []float64, lags int) []float64 {
	n := len(xs)
	size := 1
	for size < 2*n {
		size *= 2
	}
	mean := 0.0
	for _, v := range xs {
		mean += v
	}
	mean /= float64(n)
	a := make([]complex128, size)
	for i, v := range xs {
		a[i] = complex(v-mean, 0)
	}
	fft(a, false)
	for i := range a {
		a[i] = complex(real(a[i])*real(a[i])+imag(a[i])*imag(a[i]), 0)
	}
	fft(a, true)
	c0 := real(a[0])
	if c0 <= 0 {
		return nil
	}
	// Unbiased: lag k sums n-k products.
	r := make([]float64, min(lags, n))
	for k := range r {
		r[k] = real(a[k]) / c0 * float64(n) / float64(n-k)
	}
	return r
}

// fft transforms a in place (len(a) a power of two); inverse includes the
// 1/n factor.
func fft(a []complex128, inverse bool) {
	n := len(a)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			a[i], a[j] = a[j], a[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		ang := 2 * math.Pi / float64(size)
		if !inverse {
			ang = -ang
		}
		wn := cmplx.Rect(1, ang)
		for start := 0; start < n; start += size {
			w := complex(1, 0)
			for k := range size / 2 {
				u, v := a[start+k], a[start+k+size/2]*w
				a[start+k], a[start+k+size/2] = u+v, u-v
				w *= wn
			}
		}
	}
	if inverse {
		for i := range a {
			a[i] /= complex(float64(n), 0)
		}
	}
}

// movingAverage returns the centred moving average of xs over k values
// (a 2×k average when k is even); NaN where the window does not fit.
func movingAverage(xs []float64, k int) []float64 {
	out := make([]float64, len(xs))
	for i := range out {
		out[i] = math.NaN()
	}
	pre := make([]float64, len(xs)+1)
	for i, v := range xs {
		pre[i+1] = pre[i] + v
	}
	mean := func(a, b int) float64 { return (pre[b] - pre[a]) / float64(b-a) } // [a, b)
	for i := range xs {
		if k%2 == 1 {
			a, b := i-k/2, i+k/2+1
			if a >= 0 && b <= len(xs) {
				out[i] = mean(a, b)
			}
		} else {
			a, b := i-k/2, i+k/2+1
			if a >= 0 && b <= len(xs) {
				out[i] = (mean(a, b-1) + mean(a+1, b)) / 2
			}
		}
	}
	return out
}

var _ Forecaster = (*HoltWinters)(nil)
