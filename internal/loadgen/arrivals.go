package loadgen

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Arrivals yields the arrival times of a stream of requests, as offsets
// from the start of the run, in increasing order.
type Arrivals interface {
	// Next returns the next arrival, or false after the last.
	Next() (time.Duration, bool)
}

// poisson is the Poisson process of a scenario load entry.
type poisson struct {
	l   sim.Load
	d   time.Duration
	rnd *rand.Rand
	t   time.Duration // last arrival
}

// Poisson returns the arrivals in [0, d) of a Poisson process whose rate
// is l.RateAt(t), drawn from rnd by sim.Load.NextArrival as the simulator
// draws them: the same load and generator give the same arrivals.
func Poisson(l sim.Load, d time.Duration, rnd *rand.Rand) Arrivals {
	return &poisson{l: l, d: d, rnd: rnd}
}

func (p *poisson) Next() (time.Duration, bool) {
	t, ok := p.l.NextArrival(p.rnd, p.t, p.d)
	if ok {
		p.t = t
	}
	return t, ok
}

// uniform arrives every interval.
type uniform struct {
	every time.Duration
	d     time.Duration
	n     int64
}

// Uniform returns arrivals every 1/rate seconds (rate in req/s), the first
// one interval after the start, up to d (0: no end; the run ends when its
// context does).
func Uniform(rate float64, d time.Duration) Arrivals {
	if d <= 0 {
		d = math.MaxInt64
	}
	return &uniform{every: time.Duration(float64(time.Second) / rate), d: d}
}

func (u *uniform) Next() (time.Duration, bool) {
	if u.every <= 0 {
		return 0, false
	}
	u.n++
	t := time.Duration(u.n) * u.every
	if t >= u.d || t/u.every != time.Duration(u.n) {
		return 0, false // past the end, or overflow
	}
	return t, true
}
