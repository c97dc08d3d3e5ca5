package usage

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// QueueDepth is the value of a --queue-depth flag: how many requests may
// wait per concurrency slot of a function, a number ≥ 0, 0 meaning no cap.
// Depth gives it in the form dfaas.Config.QueueDepth and
// sim.Scenario.QueueDepth take.
type QueueDepth struct {
	v   float64
	set bool
}

// NewQueueDepth returns a QueueDepth whose value, until the flag is given,
// is def (shown as the flag's default).
func NewQueueDepth(def float64) *QueueDepth {
	return &QueueDepth{v: def, set: def != 0}
}

// String returns the value, or "" if there is none.
func (q *QueueDepth) String() string {
	if q == nil || !q.set {
		return ""
	}
	return strconv.FormatFloat(q.v, 'g', -1, 64)
}

// Set parses a depth: a finite number ≥ 0.
func (q *QueueDepth) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0) || math.IsInf(v, 1) {
		return errors.New("not a number ≥ 0")
	}
	q.v, q.set = v, true
	return nil
}

// Depth returns the depth for a QueueDepth field: 0 (the field's default)
// if there is no value, negative (no cap) if the value is 0.
func (q *QueueDepth) Depth() float64 {
	switch {
	case !q.set:
		return 0
	case q.v == 0:
		return -1
	}
	return q.v
}

// Strings is the value of a repeatable flag: every value given, in order.
type Strings []string

// String returns the values joined by commas.
func (l *Strings) String() string { return strings.Join(*l, ",") }

// Set appends a value.
func (l *Strings) Set(v string) error {
	*l = append(*l, v)
	return nil
}
