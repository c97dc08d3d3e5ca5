package metricsrc

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrDegraded is wrapped by the error a Source returns together with a
// usable Sample: the sample came from a fallback (for example the proxy's
// own counters while Prometheus is unreachable). A node uses such a sample
// and reports the error as the metric source's health.
var ErrDegraded = errors.New("metricsrc: degraded")

// Fallback returns a Source that samples primary and, when primary fails,
// returns fallback's sample with an error wrapping ErrDegraded (and
// primary's error). It samples fallback on every call, even while primary
// works, so that a fallback that turns counters into rates (Delta) has the
// history to give full-window rates the moment it is needed.
//
// If fallback fails too, the error does not wrap ErrDegraded: no usable
// sample exists.
func Fallback(primary, fallback Source) Source { return &fallbackSource{primary, fallback} }

type fallbackSource struct{ primary, fallback Source }

func (f *fallbackSource) Sample(ctx context.Context, now time.Time, window time.Duration) (Sample, error) {
	fs, ferr := f.fallback.Sample(ctx, now, window)
	s, err := f.primary.Sample(ctx, now, window)
	if err == nil {
		return s, nil
	}
	if ctx.Err() != nil {
		return Sample{}, err
	}
	if ferr != nil {
		return Sample{}, fmt.Errorf("metricsrc: primary failed: %w; fallback failed too: %v", err, ferr)
	}
	return fs, fmt.Errorf("%w: %v; using the fallback source", ErrDegraded, err)
}

// Interface guards.
var _ Source = (*fallbackSource)(nil)
