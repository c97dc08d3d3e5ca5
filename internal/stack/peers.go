package stack

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/peer/quic"
)

// Peers configure a node's peer network (QUIC). Each field is the value
// of the agent flag in brackets.
type Peers struct {
	Listen      string        // [--peer-listen] UDP address
	KeyFile     string        // [--key] "" for a new key at every start
	Bootstrap   string        // [--bootstrap] quic://HOST:PORT/ID,...
	Members     string        // [--members] node IDs, comma-separated
	Federation  string        // [--federation] federation key IDs, comma-separated
	CertFile    string        // [--cert] this node's federation certificate
	Ping        time.Duration // [--peer-ping]
	DownAfter   time.Duration // [--peer-down-after]
	ExpireAfter time.Duration // [--peer-expire-after]
}

// Open starts the QUIC transport. It returns the bootstrap peers' IDs too.
// The private key is never logged.
func (p Peers) Open(log *slog.Logger) (*quic.Transport, []peer.ID, error) {
	var key *quic.Key
	var err error
	if p.KeyFile != "" {
		if key, err = quic.LoadKey(p.KeyFile); err != nil {
			return nil, nil, usage.Errorf("--key: %v", err)
		}
	} else {
		if key, err = quic.GenerateKey(); err != nil {
			return nil, nil, err
		}
		log.Warn("no --key: using a new node key, so the node ID changes at every start", "id", string(key.ID()))
	}
	boot, err := quic.ParseAddrs(p.Bootstrap)
	if err != nil {
		return nil, nil, usage.Errorf("--bootstrap: %v", err)
	}
	members, err := quic.ParseIDs(p.Members)
	if err != nil {
		return nil, nil, usage.Errorf("--members: %v", err)
	}
	feds, err := quic.ParseIDs(p.Federation)
	if err != nil {
		return nil, nil, usage.Errorf("--federation: %v", err)
	}
	var cert []byte
	if p.CertFile != "" {
		if cert, err = quic.LoadCertificate(p.CertFile); err != nil {
			return nil, nil, usage.Errorf("--cert: %v", err)
		}
	}
	tr, err := quic.Listen(quic.Config{
		Listen: p.Listen, Key: key, Bootstrap: boot, Members: members, Federation: feds, Certificate: cert,
		PingInterval: p.Ping, DownAfter: p.DownAfter, ExpireAfter: p.ExpireAfter, Logger: log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("peer network (--peer-listen %q): %w", p.Listen, err)
	}
	ids := make([]peer.ID, len(boot))
	for i, a := range boot {
		ids[i] = a.ID
	}
	return tr, ids, nil
}
