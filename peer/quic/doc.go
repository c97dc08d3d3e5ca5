// Package quic implements peer.Transport and peer.Directory over QUIC
// (github.com/quic-go/quic-go), with mutual TLS from Ed25519 node keys.
//
// # Identity
//
// Each node has an Ed25519 key (Key), stored as a PKCS#8 PEM file as
// "openssl genpkey -algorithm ED25519" writes it (LoadKey, WriteKeyFile).
// The node ID is derived from the public key exactly as libp2p derives an
// Ed25519 peer ID ("12D3KooW..."), so a key used with libp2p keeps its
// identity. A Key never prints its private half.
//
// # Membership
//
// A peer is admitted if its ID is in Config.Members, or if it presents a
// certificate issued by one of the federation keys in Config.Federation
// (IssueCertificate) and valid now. With neither configured, any peer that
// proves its key is admitted; Listen logs this as a lab setting. Both
// ends check: a dialling node also refuses a listener outside the
// membership or with another ID than the one it dialled. A federation
// certificate's expiry holds on live connections too: the peer is down
// (Peers) from that instant and disconnected within 100 ms.
//
// What members gossip is a claim, held as unverified until a handshake
// proves it: at most UnverifiedPerPeer claims per member, each dialled at
// most UnverifiedDials times, and any one claimed address dialled at most
// UnverifiedDials times per ExpireAfter whoever names it. Unverified peers
// are not listed, and a verified peer takes the slot of an unverified one
// in a full table.
//
// # Protocol
//
// Peers negotiate ALPN "dfaas-peer/1". Each pair keeps one long-lived
// connection (simultaneous dials are resolved the same way at both ends).
// The dialer opens a control stream carrying hello, ping/pong (liveness,
// RTT samples and a digest of each side's member list) and member lists,
// sent when the digests differ; a node given one bootstrap peer thus learns
// every member. Each message travels on a unidirectional stream of its own,
// as one length-prefixed frame, so a slow or lost message delays no other.
// Decoding is strict and bounded; malformed, oversized, unknown-version and
// over-rate input is dropped and counted (Stats), never a crash.
//
// # Failure handling
//
// Lost peers are redialled with exponential backoff and jitter; bootstrap
// peers forever, others until ExpireAfter. A peer silent for DownAfter is
// declared down and its connection closed. A peer whose connections keep
// ending early (a reconnect loop) must wait, with the same backoff, before
// either end dials or accepts it again. Listen never waits for a peer.
//
// Records that outsiders or peers can repeat are logged through a limiter:
// a few per kind and LogInterval, then one summary line with counts.
package quic
