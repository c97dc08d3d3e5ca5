// Package peer defines how DFaaS agents exchange messages (Transport) and
// learn the members of their federation (Directory), and holds an in-memory
// network (MemNetwork) with seeded failure injection: partitions, random
// drops and delays.
//
// A Transport carries opaque bytes between authenticated peers; the agent
// (package dfaas) encodes and validates what it sends. Implementations in
// sub-packages: peer/quic (QUIC with mutual TLS from Ed25519 node keys).
package peer
