package peer

import (
	"context"
	"errors"
	"time"
)

// ID identifies a peer. Transports derive it from something the peer proves
// (for peer/quic, its public key), so that a message's From cannot be
// forged.
type ID string

// Message is a message received from a peer.
type Message struct {
	// From is the authenticated sender.
	From ID
	// Data is the payload; the receiver owns it.
	Data []byte
}

// Transport sends and receives messages between peers. Delivery is best
// effort: a message may be lost, delayed or, across Send calls, reordered.
//
// Implementations must be safe for concurrent use.
type Transport interface {
	// LocalID returns this peer's ID.
	LocalID() ID
	// Send hands data to the transport for delivery to peer to. It may
	// block until the data is written or ctx is done; it never waits for
	// the peer to process it. The transport does not retain data after
	// Send returns.
	Send(ctx context.Context, to ID, data []byte) error
	// Recv returns the channel of incoming messages. It is closed by Close.
	// A transport drops (and counts) messages when the channel is full
	// rather than block its senders.
	Recv() <-chan Message
	// Close releases the transport's resources. It is safe to call more
	// than once.
	Close() error
}

// Directory is implemented by transports that know the current members of
// the federation (the control network).
type Directory interface {
	// Peers returns the known peers other than this one, sorted by ID.
	Peers() []Info
}

// Info describes a known peer.
type Info struct {
	ID ID `json:"id"`
	// Addr is where the transport reaches the peer.
	Addr string `json:"addr"`
	// Up reports whether the peer is reachable now.
	Up bool `json:"up"`
	// RTT is the latest smoothed round-trip time; 0 when unknown.
	RTT time.Duration `json:"rtt"`
	// LastSeen is when the peer was last heard from.
	LastSeen time.Time `json:"last_seen"`
}

// Errors returned by transports.
var (
	// ErrClosed is returned by Send on a closed transport.
	ErrClosed = errors.New("peer: transport closed")
	// ErrUnknownPeer is returned by Send for a peer the transport cannot
	// reach by ID.
	ErrUnknownPeer = errors.New("peer: unknown peer")
	// ErrTooLarge is returned by Send for a message over the transport's
	// size limit.
	ErrTooLarge = errors.New("peer: message too large")
)
