package cli

import (
	"flag"
	"time"

	"github.com/dfaas-go/dfaas/internal/stack"
)

// peerFlags are the agent's flags for its peer network (QUIC).
type peerFlags struct{ stack.Peers }

func (p *peerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.Listen, "peer-listen", ":31600", "UDP address of the QUIC peer network")
	fs.StringVar(&p.KeyFile, "key", "", "the node's Ed25519 key, PKCS#8 PEM (dfaas keygen --out FILE); the node ID derives from it (default: a new key at every start)")
	fs.StringVar(&p.Bootstrap, "bootstrap", "", "peers to join at start: quic://HOST:PORT/ID,... (the others are learnt from them)")
	fs.StringVar(&p.Members, "members", "", "node IDs admitted to the federation, comma-separated (with --federation: either admits)")
	fs.StringVar(&p.Federation, "federation", "", "IDs of federation keys whose certificates admit a node, comma-separated")
	fs.StringVar(&p.CertFile, "cert", "", "this node's certificate issued by a federation key (dfaas keygen --issue)")
	fs.DurationVar(&p.Ping, "peer-ping", time.Second, "interval of pings to each peer, which measure the RTT")
	fs.DurationVar(&p.DownAfter, "peer-down-after", 0, "declare a silent peer down after this, at least two ping intervals (default 5 pings)")
	fs.DurationVar(&p.ExpireAfter, "peer-expire-after", time.Minute, "forget a peer down for this long")
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
