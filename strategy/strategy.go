package strategy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Strategy decides, for every function, which share of the user requests
// arriving at this node is served locally, forwarded to each neighbour, or
// rejected.
//
// Decide must be a deterministic function of its inputs: given equal
// snapshots (and, for a strategy that keeps state between calls, the same
// sequence of earlier snapshots) it returns equal decisions. Decide must not
// perform I/O, read the wall clock (use Snapshot.Now), use unseeded
// randomness (derive it from Snapshot.Seed), or retain or modify the
// snapshot or anything reachable from it. The caller never calls Decide
// concurrently on the same value.
//
// An error means "no new decision": the caller keeps the decision already
// applied (Snapshot.Prev), logs the error and counts it.
type Strategy interface {
	Decide(s Snapshot) (Decision, error)
}

// Func adapts an ordinary function to the Strategy interface.
type Func func(Snapshot) (Decision, error)

// Decide calls f(s).
func (f Func) Decide(s Snapshot) (Decision, error) { return f(s) }

// Validator is implemented by strategies that can check their own
// parameters. dfaas.New calls Validate before it accepts a strategy.
type Validator interface {
	Validate() error
}

// Advisor is an outside decision maker (for example a reinforcement-learning
// model served over HTTP) consulted by the agent before each decision. The
// agent does the I/O: it calls Advise with a deadline, puts the answer in
// Snapshot.Advice (nil on error or time-out), and then calls the strategy,
// which stays pure and interprets the advice. Advise must be safe for
// concurrent use.
type Advisor interface {
	Advise(ctx context.Context, s Snapshot) (json.RawMessage, error)
}

// ErrInvalidSnapshot is returned (wrapped) by strategies given a snapshot
// they cannot decide on, and by Snapshot.Validate.
var ErrInvalidSnapshot = errors.New("strategy: invalid snapshot")

// ErrInvalidDecision is returned (wrapped) by Decision.Validate.
var ErrInvalidDecision = errors.New("strategy: invalid decision")

// SafeDecide calls st.Decide(s) and turns a panic inside the strategy into an
// error, so that a faulty plug-in cannot take the node down. The snapshot is
// cloned first, so a strategy that modifies its input cannot corrupt the
// caller's state.
func SafeDecide(st Strategy, s Snapshot) (d Decision, err error) {
	defer func() {
		if r := recover(); r != nil {
			d = Decision{}
			err = fmt.Errorf("strategy: panic in Decide: %v", r)
		}
	}()
	return st.Decide(s.Clone())
}
