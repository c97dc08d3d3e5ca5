package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/peer/quic"
)

// peerFlags are the agent's flags for its peer network (QUIC).
type peerFlags struct {
	listen, keyFile, bootstrap, members, federation, certFile string
	ping, downAfter, expireAfter                              time.Duration
}

func (p *peerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.listen, "peer-listen", ":31600", "UDP address of the QUIC peer network")
	fs.StringVar(&p.keyFile, "key", "", "the node's Ed25519 key, PKCS#8 PEM (dfaas keygen --out FILE); the node ID derives from it (default: a new key at every start)")
	fs.StringVar(&p.bootstrap, "bootstrap", "", "peers to join at start: quic://HOST:PORT/ID,... (the others are learnt from them)")
	fs.StringVar(&p.members, "members", "", "node IDs admitted to the federation, comma-separated (with --federation: either admits)")
	fs.StringVar(&p.federation, "federation", "", "IDs of federation keys whose certificates admit a node, comma-separated")
	fs.StringVar(&p.certFile, "cert", "", "this node's certificate issued by a federation key (dfaas keygen --issue)")
	fs.DurationVar(&p.ping, "peer-ping", 0, "interval of pings to each peer, which measure the RTT (default 1s)")
	fs.DurationVar(&p.downAfter, "peer-down-after", 0, "declare a silent peer down after this, at least two ping intervals (default 5 pings)")
	fs.DurationVar(&p.expireAfter, "peer-expire-after", 0, "forget a peer down for this long (default 1m)")
}

// peerEnv maps the peer flags to environment variables.
func peerEnv() map[string]string {
	return map[string]string{
		"peer-listen":       "AGENT_PEER_LISTEN",
		"key":               "AGENT_PRIVATE_KEY_FILE",
		"bootstrap":         "AGENT_BOOTSTRAP_NODES_LIST",
		"members":           "AGENT_MEMBERS",
		"federation":        "AGENT_FEDERATION_KEYS",
		"cert":              "AGENT_CERTIFICATE_FILE",
		"peer-ping":         "AGENT_PEER_PING",
		"peer-down-after":   "AGENT_PEER_DOWN_AFTER",
		"peer-expire-after": "AGENT_PEER_EXPIRE_AFTER",
	}
}

// open starts the QUIC transport. It returns the bootstrap peers' IDs too.
// The private key is never logged.
func (p *peerFlags) open(log *slog.Logger) (*quic.Transport, []peer.ID, error) {
	var key *quic.Key
	var err error
	if p.keyFile != "" {
		if key, err = quic.LoadKey(p.keyFile); err != nil {
			return nil, nil, usageError{"--key: " + err.Error()}
		}
	} else {
		if key, err = quic.GenerateKey(); err != nil {
			return nil, nil, err
		}
		log.Warn("no --key: using a new node key, so the node ID changes at every start", "id", string(key.ID()))
	}
	boot, err := quic.ParseAddrs(p.bootstrap)
	if err != nil {
		return nil, nil, usageError{"--bootstrap: " + err.Error()}
	}
	members, err := quic.ParseIDs(p.members)
	if err != nil {
		return nil, nil, usageError{"--members: " + err.Error()}
	}
	feds, err := quic.ParseIDs(p.federation)
	if err != nil {
		return nil, nil, usageError{"--federation: " + err.Error()}
	}
	var cert []byte
	if p.certFile != "" {
		if cert, err = quic.LoadCertificate(p.certFile); err != nil {
			return nil, nil, usageError{"--cert: " + err.Error()}
		}
	}
	tr, err := quic.Listen(quic.Config{
		Listen: p.listen, Key: key, Bootstrap: boot, Members: members, Federation: feds, Certificate: cert,
		PingInterval: p.ping, DownAfter: p.downAfter, ExpireAfter: p.expireAfter, Logger: log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("peer network: %w", err)
	}
	ids := make([]peer.ID, len(boot))
	for i, a := range boot {
		ids[i] = a.ID
	}
	return tr, ids, nil
}
