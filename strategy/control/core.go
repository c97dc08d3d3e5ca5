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
	// Incarnation identifies this run of the node: a node that restarts
	// (with the same ID) must use a larger one, so that its peers take
	// its messages as those of a new incarnation rather than as stale
	// ones (see Receive). The agent uses its start time in nanoseconds.
	// If zero, 1.
	Incarnation uint64
	// IdlePeriods is how many consecutive measured periods without
	// offered load make a function's forecast exactly 0 (until a request
	// arrives again), whatever the forecaster predicts. If zero,
	// DefaultIdlePeriods.
	IdlePeriods int
	// Trust bounds what a neighbour can attract (see Trust and Bound).
	Trust Trust
}

// DefaultIdlePeriods is the default of Config.IdlePeriods.
const DefaultIdlePeriods = 3

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
	// Incarnation is the sender's incarnation (Outgoing.Incarnation): a
	// larger one than the core knows means the sender restarted.
	Incarnation uint64
	// Seq is the sender's sequence number (Outgoing.Seq), increasing
	// within an incarnation.
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
	// Incarnation is this node's (Config.Incarnation).
	Incarnation uint64
	// Seq increases with every message the core yields.
	Seq uint64
	// Accepted reports whether the data plane in force accepts requests
	// forwarded by To (To was among the accepted nodes of the last
	// Commit, or greeted since): the embedder tells To so
	// (Message.Accepts), in the agent by handing it its credential.
	Accepted bool
	// Announcement is the announcement in force with only the grants
	// addressed to To.
	Announcement strategy.Announcement
}

// Neighbour is what the core keeps of a peer heard from.
type Neighbour struct {
	ID          strategy.NodeID
	Received    time.Time // when its latest message arrived
	Incarnation uint64
	Seq         uint64
	Accepts     bool
	// Announcement is its latest announcement, with only the grants
	// addressed to this node, bounded (see Receive); it must not be
	// modified.
	Announcement strategy.Announcement
}

// Heard says what a message that Receive kept revealed about its sender.
type Heard int

const (
	// HeardAgain: a newer message of a neighbour already kept.
	HeardAgain Heard = iota
	// HeardFirst: the first message of a peer (or the first since it
	// expired or left).
	HeardFirst
	// HeardRestart: the first message of a new incarnation of a neighbour
	// kept: what the core kept of the old one is dropped.
	HeardRestart
)

// Greets reports whether the embedder should greet the sender (see
// Core.Greet): it was not a neighbour, or it restarted.
func (h Heard) Greets() bool { return h != HeardAgain }

// Core is the control core of one node. See the package documentation.
type Core struct {
	cfg         Config
	cycle       uint64 // snapshots built
	seq         uint64 // messages yielded
	neighbours  map[strategy.NodeID]*Neighbour
	perFunction map[string]*function        // per-function state, for known names only
	last        strategy.Snapshot           // the last valid snapshot
	unknown     Unknown                     // of the last Observe
	credits     map[strategy.NodeID]*record // what each neighbour's answers earned
	measured    bool                        // answers were measured (Observation.AnswersMeasured)
	applied     strategy.Decision
	hasApplied  bool
	accepted    map[strategy.NodeID]bool
	anomalies   Anomalies
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
	case cfg.IdlePeriods < 0:
		return nil, fmt.Errorf("control: IdlePeriods: negative (%d)", cfg.IdlePeriods)
	}
	if err := cfg.Trust.validate(); err != nil {
		return nil, err
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = 3 * cfg.Period
	}
	if cfg.Incarnation == 0 {
		cfg.Incarnation = 1
	}
	if cfg.IdlePeriods == 0 {
		cfg.IdlePeriods = DefaultIdlePeriods
	}
	cfg.Trust = cfg.Trust.withDefaults()
	cfg.Bootstrap = slices.Clone(cfg.Bootstrap)
	return &Core{
		cfg:         cfg,
		neighbours:  map[strategy.NodeID]*Neighbour{},
		perFunction: map[string]*function{},
		credits:     map[strategy.NodeID]*record{},
		accepted:    map[strategy.NodeID]bool{},
		anomalies:   Anomalies{ByNeighbour: map[strategy.NodeID]uint64{}},
	}, nil
}

// Self returns the node's ID.
func (c *Core) Self() strategy.NodeID { return c.cfg.Self }

// Receive stores the announcement of m, received from peer from at time
// now, as that neighbour's latest, keeping only the grants addressed to
// this node, bounded by the sender's announced capacity (see Bound). It
// returns an error wrapping ErrSelf, ErrStale or ErrInvalid, and changes
// nothing, for a message it drops.
//
// Messages are ordered by (Incarnation, Seq): one not newer than the
// newest kept from the sender is stale, unless that one has expired (a
// node whose clock went back on restart is heard again after the expiry,
// at worst). A message of a larger incarnation replaces at once what the
// core kept of the sender (HeardRestart), and the sender is no longer
// accepted until greeted or committed again.
func (c *Core) Receive(from strategy.NodeID, m Message, now time.Time) (Heard, error) {
	if from == "" || from == c.cfg.Self {
		return HeardAgain, fmt.Errorf("%w: sender %q", ErrSelf, from)
	}
	heard := HeardFirst
	if old, ok := c.neighbours[from]; ok && now.Sub(old.Received) <= c.cfg.Expiry {
		switch {
		case m.Incarnation > old.Incarnation:
			heard = HeardRestart
		case m.Incarnation < old.Incarnation || m.Seq <= old.Seq:
			return HeardAgain, fmt.Errorf("%w: incarnation %d sequence %d, have %d/%d", ErrStale, m.Incarnation, m.Seq, old.Incarnation, old.Seq)
		default:
			heard = HeardAgain
		}
	}
	a := m.Announcement
	a.Grants = grantsTo(a.Grants, c.cfg.Self)
	if err := a.Validate(); err != nil {
		return HeardAgain, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if n := boundAnnouncement(&a); n > 0 {
		c.anomaly(from, &c.anomalies.GrantsBounded, n)
	}
	if heard != HeardAgain {
		delete(c.accepted, from) // a new peer or incarnation: not accepted yet
	}
	c.neighbours[from] = &Neighbour{ID: from, Received: now, Incarnation: m.Incarnation, Seq: m.Seq, Accepts: m.Accepts, Announcement: a}
	return heard, nil
}

// Forget drops what the core keeps of peer id at once (it left the
// federation), as if it had expired.
func (c *Core) Forget(id strategy.NodeID) {
	delete(c.neighbours, id)
	delete(c.accepted, id)
}

// grantsTo returns the grants addressed to node to, in place: the one
// filter of grants per recipient, on both ends.
func grantsTo(grants []strategy.Grant, to strategy.NodeID) []strategy.Grant {
	return slices.DeleteFunc(grants, func(g strategy.Grant) bool { return g.To != to })
}

// expire forgets the neighbours not heard from within the expiry, and,
// if members lists every member, those not listed (they left).
func (c *Core) expire(now time.Time, members map[strategy.NodeID]bool) {
	for id, nb := range c.neighbours {
		if now.Sub(nb.Received) > c.cfg.Expiry || (members != nil && !members[id]) {
			c.Forget(id)
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
		out[i] = c.message(id, a)
	}
	return out
}

// message returns the next message to peer id announcing a.
func (c *Core) message(id strategy.NodeID, a strategy.Announcement) Outgoing {
	c.seq++
	pa := a.Clone()
	pa.Grants = grantsTo(pa.Grants, id)
	return Outgoing{To: id, Incarnation: c.cfg.Incarnation, Seq: c.seq, Accepted: c.accepted[id], Announcement: pa}
}

// Committed reports whether a decision was committed: only then is there
// a data plane in force to greet a peer with.
func (c *Core) Committed() bool { return c.hasApplied }

// Greet records that the data plane in force now accepts requests
// forwarded by neighbour id too, and returns the message that tells it so
// at once, out of cycle. The embedder calls it when Receive reports that
// the sender should be greeted (Heard.Greets), after applying a data-plane
// state that accepts it (in the agent: with a fresh credential for it),
// and only if a decision was committed; the greeting peer answers in kind
// if it did not know this node either, so that two nodes that meet accept
// each other within a round trip rather than over periods. It returns
// false, and changes nothing, if id is not a neighbour.
func (c *Core) Greet(id strategy.NodeID) (Outgoing, bool) {
	if _, ok := c.neighbours[id]; !ok || !c.hasApplied {
		return Outgoing{}, false
	}
	c.accepted[id] = true
	return c.message(id, c.Announcement()), true
}

// Hail returns a message announcing the announcement in force to member
// id, which this node has not heard from (the embedder saw it connect):
// it lets the peer greet this node without waiting for the next cycle.
func (c *Core) Hail(id strategy.NodeID) Outgoing { return c.message(id, c.Announcement()) }
