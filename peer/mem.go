package peer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemNetworkOptions configure a MemNetwork. Zero values give the defaults.
type MemNetworkOptions struct {
	// Seed seeds the random drops.
	Seed uint64
	// Buffer is the capacity of each transport's receive channel. If zero,
	// 1024.
	Buffer int
	// MaxMessageSize is the largest payload accepted by Send. If zero,
	// 1 MiB.
	MaxMessageSize int
}

// MemNetwork is an in-memory network connecting MemTransports: a real
// transport for nodes in one process (simulations, demos, tests), with
// failure injection — partitions, random drops and delays — driven by a
// seed. It is safe for concurrent use.
//
// Messages with no delay are delivered synchronously, before Send returns;
// delayed ones by timers that Close waits for.
type MemNetwork struct {
	opts MemNetworkOptions

	mu     sync.Mutex
	rnd    *rand.Rand
	nodes  map[ID]*MemTransport
	cut    map[link]bool
	drop   map[link]float64
	delay  map[link]time.Duration
	closed bool
	timers sync.WaitGroup
}

type link struct{ from, to ID }

// NewMemNetwork returns an empty network.
func NewMemNetwork(opts MemNetworkOptions) *MemNetwork {
	if opts.Buffer <= 0 {
		opts.Buffer = 1024
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 1 << 20
	}
	return &MemNetwork{
		opts:  opts,
		rnd:   rand.New(rand.NewPCG(opts.Seed, 0x6466616173)),
		nodes: map[ID]*MemTransport{},
		cut:   map[link]bool{},
		drop:  map[link]float64{},
		delay: map[link]time.Duration{},
	}
}

// Join adds a transport with the given ID to the network.
func (n *MemNetwork) Join(id ID) (*MemTransport, error) {
	if id == "" {
		return nil, fmt.Errorf("peer: join: empty ID")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if _, dup := n.nodes[id]; dup {
		return nil, fmt.Errorf("peer: join: ID %q already on the network", id)
	}
	t := &MemTransport{net: n, id: id, ch: make(chan Message, n.opts.Buffer)}
	n.nodes[id] = t
	return t, nil
}

// Partition cuts the links (both directions) between a and each of others;
// with no others, between a and every other member.
func (n *MemNetwork) Partition(a ID, others ...ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(others) == 0 {
		for id := range n.nodes {
			others = append(others, id)
		}
	}
	for _, b := range others {
		if b != a {
			n.cut[link{a, b}], n.cut[link{b, a}] = true, true
		}
	}
}

// Heal removes every partition.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	clear(n.cut)
	n.mu.Unlock()
}

// SetDrop makes messages from from to to be lost with probability p.
func (n *MemNetwork) SetDrop(from, to ID, p float64) {
	n.mu.Lock()
	n.drop[link{from, to}] = p
	n.mu.Unlock()
}

// SetDelay delays messages from from to to by d. Peers reports the sum of
// both directions' delays as the RTT.
func (n *MemNetwork) SetDelay(from, to ID, d time.Duration) {
	n.mu.Lock()
	n.delay[link{from, to}] = d
	n.mu.Unlock()
}

// Close closes every transport and waits for delayed deliveries to finish.
func (n *MemNetwork) Close() error {
	n.mu.Lock()
	n.closed = true
	ts := make([]*MemTransport, 0, len(n.nodes))
	for _, t := range n.nodes {
		ts = append(ts, t)
	}
	n.mu.Unlock()
	for _, t := range ts {
		t.Close()
	}
	n.timers.Wait()
	return nil
}

func (n *MemNetwork) send(from, to ID, data []byte) error {
	if len(data) > n.opts.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), n.opts.MaxMessageSize)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	src := n.nodes[from]
	dst, ok := n.nodes[to]
	if !ok || dst.isClosed() {
		return fmt.Errorf("%w %q", ErrUnknownPeer, to)
	}
	src.sent.Add(1)
	l := link{from, to}
	if n.cut[l] {
		dst.droppedLink.Add(1)
		return nil
	}
	if p := n.drop[l]; p > 0 && n.rnd.Float64() < p {
		dst.droppedLink.Add(1)
		return nil
	}
	msg := Message{From: from, Data: slices.Clone(data)}
	if d := n.delay[l]; d > 0 {
		n.timers.Add(1)
		time.AfterFunc(d, func() {
			defer n.timers.Done()
			dst.deliver(msg)
		})
		return nil
	}
	dst.deliver(msg)
	return nil
}

func (n *MemNetwork) peers(self ID) []Info {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Info
	for id, t := range n.nodes {
		if id == self || t.isClosed() {
			continue
		}
		out = append(out, Info{
			ID:       id,
			Addr:     "mem://" + string(id),
			Up:       !n.cut[link{self, id}],
			RTT:      n.delay[link{self, id}] + n.delay[link{id, self}],
			LastSeen: t.lastSent(),
		})
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// MemTransport is a Transport on a MemNetwork.
type MemTransport struct {
	net *MemNetwork
	id  ID
	ch  chan Message

	mu     sync.Mutex
	closed bool
	last   time.Time

	sent        atomic.Uint64
	received    atomic.Uint64
	droppedFull atomic.Uint64
	droppedLink atomic.Uint64
}

// MemStats are a MemTransport's message counts.
type MemStats struct {
	Sent     uint64 // messages this transport sent
	Received uint64 // messages delivered to it
	// DroppedFull counts messages to it lost because its receive channel
	// was full; DroppedLink those lost to partitions and random drops.
	DroppedFull, DroppedLink uint64
}

// LocalID implements Transport.
func (t *MemTransport) LocalID() ID { return t.id }

// Send implements Transport.
func (t *MemTransport) Send(ctx context.Context, to ID, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.isClosed() {
		return ErrClosed
	}
	if err := t.net.send(t.id, to, data); err != nil {
		return err
	}
	t.mu.Lock()
	t.last = time.Now()
	t.mu.Unlock()
	return nil
}

// Recv implements Transport.
func (t *MemTransport) Recv() <-chan Message { return t.ch }

// Peers implements Directory: the other members of the network. A peer is
// Up unless partitioned from this one.
func (t *MemTransport) Peers() []Info { return t.net.peers(t.id) }

// Stats returns the transport's message counts.
func (t *MemTransport) Stats() MemStats {
	return MemStats{Sent: t.sent.Load(), Received: t.received.Load(), DroppedFull: t.droppedFull.Load(), DroppedLink: t.droppedLink.Load()}
}

// Close implements Transport.
func (t *MemTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.ch)
	}
	return nil
}

func (t *MemTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (t *MemTransport) lastSent() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

func (t *MemTransport) deliver(m Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	select {
	case t.ch <- m:
		t.received.Add(1)
	default:
		t.droppedFull.Add(1)
	}
}

// Interface guards.
var (
	_ Transport = (*MemTransport)(nil)
	_ Directory = (*MemTransport)(nil)
)
