package control

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/forecast"
	"github.com/dfaas-go/dfaas/strategy"
)

// Config configures a Core.
type Config struct {
	// Self is this node's ID. Required.
	Self strategy.NodeID
	// Period is the control period. Required (positive).
	Period time.Duration
	// Expiry is how long a neighbour's announcement stays valid. If zero,
	// 3 periods.
	Expiry time.Duration
	// Seed seeds the strategy's randomness: the k-th snapshot's seed is
	// derived from Seed and k.
	Seed uint64
	// Forecaster makes one forecaster per function for its offered rate.
	// If nil, a snapshot's Forecast equals the observed rate. A forecaster
	// that implements SeriesBinder is told which series it forecasts.
	Forecaster forecast.Factory
	// Nearest, if positive, limits the data network to the Nearest
	// neighbours by RTT (unknown RTTs last).
	Nearest int
	// MaxRTT, if positive, excludes from the data network the neighbours
	// whose measured RTT exceeds it.
	MaxRTT time.Duration
	// Bootstrap lists peers to announce to besides the members and the
	// neighbours heard from.
	Bootstrap []strategy.NodeID
}

// SeriesBinder is implemented by forecasters that need to know which
// series they forecast, such as the simulator's perfect forecaster, which
// reads the true rate of the coming period from the scenario. The core
// calls BindSeries once on every forecaster Config.Forecaster makes that
// implements it, right after making it, with this node's ID and the
// function's name.
type SeriesBinder interface {
	BindSeries(self strategy.NodeID, function string)
}

// Errors of Receive.
var (
	// ErrStale is returned for a message not newer than one already
	// received from the same sender.
	ErrStale = errors.New("control: stale message")
	// ErrSelf is returned for a message from this node or from no one.
	ErrSelf = errors.New("control: message from self")
	// ErrInvalid is returned for a message whose announcement is not
	// well formed.
	ErrInvalid = errors.New("control: invalid announcement")
)

// Message is what the core takes of an announcement received from a peer.
type Message struct {
	// Seq is the sender's sequence number (Outgoing.Seq).
	Seq uint64
	// Accepts reports whether the sender's data plane accepts requests
	// forwarded by this node (in the agent: the sender handed this node
	// its credential). Only then may this node forward to it.
	Accepts bool
	// Announcement is the sender's announcement; Receive takes it over.
	Announcement strategy.Announcement
}

// Outgoing is one message of the outbox.
type Outgoing struct {
	// To is the recipient.
	To strategy.NodeID
	// Seq increases with every message the core yields.
	Seq uint64
	// Accepted reports whether the data plane in force accepts requests
	// forwarded by To (To was among the accepted nodes of the last
	// Commit): the embedder tells To so (Message.Accepts), in the agent by
	// handing it its credential.
	Accepted bool
	// Announcement is the announcement in force with only the grants
	// addressed to To.
	Announcement strategy.Announcement
}

// Neighbour is what the core keeps of a peer heard from.
type Neighbour struct {
	ID       strategy.NodeID
	Received time.Time // when its latest message arrived
	Seq      uint64
	Accepts  bool
	// Announcement is its latest announcement; it must not be modified.
	Announcement strategy.Announcement
}

// Core is the control core of one node. See the package documentation.
type Core struct {
	cfg        Config
	cycle      uint64 // snapshots built
	seq        uint64 // messages yielded
	neighbours map[strategy.NodeID]*Neighbour
	forecasts  map[string]forecast.Forecaster
	last       strategy.Snapshot // the last valid snapshot
	applied    strategy.Decision
	hasApplied bool
	accepted   map[strategy.NodeID]bool
}

// New returns a core for cfg, or an error naming the bad field.
func New(cfg Config) (*Core, error) {
	switch {
	case cfg.Self == "":
		return nil, errors.New("control: Self: required")
	case cfg.Period <= 0:
		return nil, fmt.Errorf("control: Period: %v is not positive", cfg.Period)
	case cfg.Expiry < 0:
		return nil, fmt.Errorf("control: Expiry: negative (%v)", cfg.Expiry)
	case cfg.Nearest < 0:
		return nil, fmt.Errorf("control: Nearest: negative (%d)", cfg.Nearest)
	case cfg.MaxRTT < 0:
		return nil, fmt.Errorf("control: MaxRTT: negative (%v)", cfg.MaxRTT)
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = 3 * cfg.Period
	}
	cfg.Bootstrap = slices.Clone(cfg.Bootstrap)
	return &Core{
		cfg:        cfg,
		neighbours: map[strategy.NodeID]*Neighbour{},
		forecasts:  map[string]forecast.Forecaster{},
		accepted:   map[strategy.NodeID]bool{},
	}, nil
}

// Self returns the node's ID.
func (c *Core) Self() strategy.NodeID { return c.cfg.Self }

// Receive stores the announcement of m, received from peer from at time
// now, as that neighbour's latest, keeping only the grants addressed to
// this node. It returns an error wrapping ErrSelf, ErrStale or ErrInvalid,
// and changes nothing, for a message it drops.
func (c *Core) Receive(from strategy.NodeID, m Message, now time.Time) error {
	if from == "" || from == c.cfg.Self {
		return fmt.Errorf("%w: sender %q", ErrSelf, from)
	}
	if old, ok := c.neighbours[from]; ok && old.Seq >= m.Seq {
		return fmt.Errorf("%w: sequence %d, have %d", ErrStale, m.Seq, old.Seq)
	}
	a := m.Announcement
	a.Grants = grantsTo(a.Grants, c.cfg.Self)
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.neighbours[from] = &Neighbour{ID: from, Received: now, Seq: m.Seq, Accepts: m.Accepts, Announcement: a}
	return nil
}

// grantsTo returns the grants addressed to node to, in place: the one
// filter of grants per recipient, on both ends.
func grantsTo(grants []strategy.Grant, to strategy.NodeID) []strategy.Grant {
	return slices.DeleteFunc(grants, func(g strategy.Grant) bool { return g.To != to })
}

// expire forgets the neighbours not heard from within the expiry.
func (c *Core) expire(now time.Time) {
	for id, nb := range c.neighbours {
		if now.Sub(nb.Received) > c.cfg.Expiry {
			delete(c.neighbours, id)
		}
	}
}

// Neighbour returns what the core keeps of peer id, if it heard from it
// and has not expired it.
func (c *Core) Neighbour(id strategy.NodeID) (Neighbour, bool) {
	nb, ok := c.neighbours[id]
	if !ok {
		return Neighbour{}, false
	}
	return *nb, true
}

// Neighbours returns the peers heard from and not expired, by ID.
func (c *Core) Neighbours() []Neighbour {
	out := make([]Neighbour, 0, len(c.neighbours))
	for _, nb := range c.neighbours {
		out = append(out, *nb)
	}
	slices.SortFunc(out, func(a, b Neighbour) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Commit records that the data plane applies d, a decision Decide returned
// for the last snapshot, and accepts requests forwarded by the nodes in
// accepted. d becomes the next snapshots' Prev and its announcement the one
// announced until the next Commit; Commit takes d over. A cycle that fails
// does not commit: the decision in force and its announcement stay.
func (c *Core) Commit(d strategy.Decision, accepted []strategy.NodeID) {
	c.applied, c.hasApplied = d, true
	clear(c.accepted)
	for _, id := range accepted {
		c.accepted[id] = true
	}
}

// Decision returns the decision in force (the zero Decision before the
// first Commit).
func (c *Core) Decision() strategy.Decision { return c.applied.Clone() }

// Snapshot returns the last valid snapshot Observe built.
func (c *Core) Snapshot() strategy.Snapshot { return c.last.Clone() }

// Cycle returns how many snapshots Observe built.
func (c *Core) Cycle() uint64 { return c.cycle }

// Announcement returns the announcement in force: that of the decision in
// force, or, before the first Commit, the generic one of the last snapshot
// (strategy.BaseAnnouncement), so that a node announces at least its
// functions while its strategy or data plane fails.
func (c *Core) Announcement() strategy.Announcement {
	if c.hasApplied {
		return c.applied.Announce.Clone()
	}
	return strategy.BaseAnnouncement(c.last)
}

// Outbox returns the messages announcing the announcement in force to every
// peer this node knows: the members of the control network given (the
// embedder's directory, or the simulator's links), the neighbours heard
// from and Config.Bootstrap, never Self. They come in ID order, each with
// the next sequence number and only the grants addressed to its recipient.
func (c *Core) Outbox(members []strategy.NodeID) []Outgoing {
	ids := make([]strategy.NodeID, 0, len(members)+len(c.neighbours)+len(c.cfg.Bootstrap))
	ids = append(ids, members...)
	for id := range c.neighbours {
		ids = append(ids, id)
	}
	ids = append(ids, c.cfg.Bootstrap...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ids = slices.DeleteFunc(ids, func(id strategy.NodeID) bool { return id == c.cfg.Self || id == "" })
	a := c.Announcement()
	out := make([]Outgoing, len(ids))
	for i, id := range ids {
		c.seq++
		pa := a.Clone()
		pa.Grants = grantsTo(pa.Grants, id)
		out[i] = Outgoing{To: id, Seq: c.seq, Accepted: c.accepted[id], Announcement: pa}
	}
	return out
}
