package stack

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/peer/quic"
)

// AnnouncedURL returns the URL of the node port announced to peers: url
// if set, else from nodeIP and the port of nodeListen (https unless
// plain). Errors name the agent flag at fault.
func AnnouncedURL(url, nodeIP, nodeListen string, plain bool) (string, error) {
	if url != "" || nodeIP == "" {
		return url, nil
	}
	if net.ParseIP(nodeIP) == nil {
		return "", usage.Errorf("--node-ip %q is not an IP address", nodeIP)
	}
	_, port, err := net.SplitHostPort(nodeListen)
	if err != nil {
		return "", usage.Errorf("--node-listen %q: %v", nodeListen, err)
	}
	scheme := "https://"
	if plain {
		scheme = "http://"
	}
	return scheme + net.JoinHostPort(nodeIP, port), nil
}

// RunAgent configures the backends of cfg, builds the node's stack and
// runs it, with the admin server (/healthz, /status, /metrics, the
// transport's metrics among them) on adminAddr, until ctx is done: what
// dfaas agent does once its flags are read.
func RunAgent(ctx context.Context, cfg Config, b Backends, tr *quic.Transport, adminAddr string) error {
	log := cfg.Logger
	release, err := b.Configure(&cfg, log)
	if err != nil {
		return err
	}
	defer release()
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Registry().Register(tr.Collector()); err != nil {
		return err
	}
	adminLn, err := net.Listen("tcp", adminAddr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", adminAddr, err)
	}
	log.Info("agent started", "id", string(tr.LocalID()), "peer", tr.Self().String(), "strategy", cfg.StrategyName,
		"proxy", s.ProxyURL(), "node", s.NodeURL(), "admin", adminLn.Addr().String(), "period", cfg.Period)
	if loopbackOnly(s.NodeURL(), tr.Self().HostPort) {
		log.Warn("the node URL announced to peers is on loopback while the peer network listens beyond it: neighbours on other hosts would forward to themselves; set --node-ip (AGENT_NODE_IP) to the address they reach, or --proxy-url",
			"node", s.NodeURL(), "peer", tr.Self().HostPort)
	}
	g, ctx := errgroup.WithContext(ctx)
	s.Run(ctx, g)
	if err := ServeHTTP(ctx, g, "admin", adminLn, s.AdminHandler(), s.Registry(), log); err != nil {
		return err
	}
	return g.Wait()
}

// loopbackOnly reports whether nodeURL, the URL announced to peers, is on
// a loopback host while peerAddr, where the peer network listens, is not:
// peers on other hosts could then reach this node but not forward to it.
func loopbackOnly(nodeURL, peerAddr string) bool {
	u, err := url.Parse(nodeURL)
	if err != nil {
		return false
	}
	node := net.ParseIP(u.Hostname())
	if node == nil && u.Hostname() == "localhost" {
		node = net.IPv6loopback
	}
	host, _, err := net.SplitHostPort(peerAddr)
	if err != nil || node == nil || !node.IsLoopback() {
		return false
	}
	peer := net.ParseIP(host)
	return peer == nil || !peer.IsLoopback()
}
