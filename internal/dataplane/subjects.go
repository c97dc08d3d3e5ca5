package dataplane

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/internal/freeport"
	"github.com/dfaas-go/dfaas/internal/gctune"
	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// Names of the proxies compared.
const (
	Plain    = "haproxy"       // plain HAProxy (two chained for forwarded requests)
	Agent    = "agent-haproxy" // proxyctl/haproxy's Controller
	Embedded = "embedded"      // proxyctl/goproxy
	// The same with the node-to-node path over mutual TLS 1.3 (their
	// node port; forwarded requests go from a's to b's).
	AgentTLS    = "agent-haproxy-tls"
	EmbeddedTLS = "embedded-tls"
	// Plain HAProxy with the same mutual TLS between the two chained
	// processes: what TLS costs HAProxy itself.
	PlainTLS = "haproxy-tls"
)

// plainOf returns the plain variant of a TLS subject, "" for others.
func plainOf(name string) string {
	switch name {
	case AgentTLS:
		return Agent
	case EmbeddedTLS:
		return Embedded
	case PlainTLS:
		return Plain
	}
	return ""
}

// Scenarios.
const (
	Local     = "local"
	Forwarded = "forwarded"
	Rejected  = "rejected"
)

// subject is one proxy (or chain of two) under load.
type subject struct {
	name string
	addr string          // where the load generator sends
	pids []int           // process trees whose CPU time counts
	cpus []int           // where they run, read back after pinning
	stop []func() error  // in order
	gc   *gctune.Applied // the garbage collector settings of an embedded proxy
}

func (s *subject) close() {
	for _, f := range s.stop {
		f()
	}
}

// env is what starting subjects needs.
type env struct {
	cfg     Config
	dir     string // temporary directory
	backend string // host:port of the trivial backend
	n       int    // subjects started, for unique directories
	certs   map[strategy.NodeID]tls.Certificate
	load    *loader // the load generator
	layout  *Layout // nil when not pinned
}

// nodeCerts returns data-plane certificates of nodes a and b.
func nodeCerts() (map[strategy.NodeID]tls.Certificate, error) {
	certs := map[strategy.NodeID]tls.Certificate{}
	for _, id := range []strategy.NodeID{"a", "b"} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		if certs[id], err = nodetls.New(priv, string(id), now.Add(-nodetls.Backdate), now.Add(24*time.Hour)); err != nil {
			return nil, err
		}
	}
	return certs, nil
}

// freePorts returns k distinct loopback addresses with ports free right
// now, drawn below the ephemeral range (see package freeport) so that the
// load generator's own connections cannot take them before HAProxy binds.
func freePorts(k int) ([]string, error) {
	addrs := make([]string, 0, k)
	for range k {
		addr, err := freeport.TCP("127.0.0.1", func(a string) bool { return slices.Contains(addrs, a) })
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

// plainConfig is the configuration of plain HAProxy: one thread, one
// frontend, one backend (or a 429 answer when to is ""). bindTLS and
// serverTLS are TLS options of the bind and of the server ("" for none).
func plainConfig(listen, to, bindTLS, serverTLS string) string {
	route := "    default_backend be\n\nbackend be\n    server s1 " + to + serverTLS + "\n"
	if to == "" {
		route = "    http-request return status 429 content-type text/plain string \"rejected\\n\"\n"
	}
	return "global\n    nbthread 1\n    maxconn 4096\n    ssl-default-bind-options ssl-min-ver TLSv1.3\n" +
		"    ssl-default-server-options ssl-min-ver TLSv1.3\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n" +
		"    timeout server 30s\n    timeout http-keep-alive 30s\n\nfrontend public\n    bind " + listen + bindTLS + "\n" + route
}

// plainTLS writes the certificates of nodes a and b and returns the TLS
// options of b's bind and of a's server to b: mutual TLS, each accepting
// only the other's certificate.
func (e *env) plainTLS() (bind, server string, err error) {
	path := func(n string) string { return filepath.Join(e.dir, n) }
	for _, id := range []strategy.NodeID{"a", "b"} {
		key, err := nodetls.KeyPEM(e.certs[id])
		if err != nil {
			return "", "", err
		}
		if err := os.WriteFile(path(string(id)+".pem"), key, 0o600); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(path(string(id)+".crt"), nodetls.CertPEM(e.certs[id].Certificate[0]), 0o600); err != nil {
			return "", "", err
		}
	}
	return " ssl crt " + path("b.pem") + " ca-file " + path("a.crt") + " verify required",
		" ssl crt " + path("a.pem") + " ca-file " + path("b.crt") + " verify required", nil
}

// startPlain starts one plain HAProxy process listening on a free port and
// sending to to (or rejecting when to is ""), with the TLS options given.
func (e *env) startPlain(ctx context.Context, s *subject, to, bindTLS, serverTLS string) (string, error) {
	free, err := freePorts(1)
	if err != nil {
		return "", err
	}
	listen := free[0]
	e.n++
	path := filepath.Join(e.dir, fmt.Sprintf("plain%d.cfg", e.n))
	if err := os.WriteFile(path, []byte(plainConfig(listen, to, bindTLS, serverTLS)), 0o600); err != nil {
		return "", err
	}
	cmd := exec.Command(e.cfg.HAProxy, "-db", "-f", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("dataplane: start %s: %w", e.cfg.HAProxy, err)
	}
	s.pids = append(s.pids, cmd.Process.Pid)
	s.stop = append(s.stop, func() error { cmd.Process.Kill(); return cmd.Wait() })
	return listen, waitListening(ctx, listen)
}

// waitListening waits until addr accepts connections.
func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("dataplane: %s not listening: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Tokens the nodes of a forwarding pair give each other.
const (
	tokenAB = "token-a-presents-to-b"
	tokenBA = "token-b-presents-to-a"
)

// states returns the proxyctl.State of node a (where the load arrives)
// and, for forwarded requests, of node b; bURL is b's node port. With
// certs, the node-to-node path is TLS.
func states(scenario, bURL string, certs map[strategy.NodeID]tls.Certificate) (a, b proxyctl.State) {
	fn := []proxyctl.Function{{Name: "f"}}
	a = proxyctl.State{Self: "a", Functions: fn}
	switch scenario {
	case Local:
		a.Decision.Routes = []strategy.Route{{Function: "f", Local: 1}}
	case Rejected:
		a.Decision.Routes = []strategy.Route{{Function: "f", Reject: 1}}
	case Forwarded:
		a.Neighbours = []proxyctl.Neighbour{{ID: "b", URL: bURL, Functions: []string{"f"}, TokenOut: tokenAB, TokenIn: tokenBA, Forward: true}}
		a.Decision.Routes = []strategy.Route{{Function: "f", Forward: []strategy.Share{{Node: "b", Share: 1}}}}
		b = proxyctl.State{Self: "b", Functions: fn,
			Neighbours: []proxyctl.Neighbour{{ID: "a", URL: "http://127.0.0.1:9", Functions: []string{"f"}, TokenOut: tokenBA, TokenIn: tokenAB}},
			Decision:   strategy.Decision{Routes: []strategy.Route{{Function: "f", Local: 1}}}}
		if certs != nil {
			a.Neighbours[0].Cert = certs["b"].Certificate[0]
			b.Neighbours[0].Cert = certs["a"].Certificate[0]
			b.Neighbours[0].URL = "https://127.0.0.1:9"
		}
	}
	return a, b
}

// startAgent starts one agent HAProxy data plane applying st in front of
// the backend, with certificate cert on its node port (plain without); it
// returns the user and the node port.
func (e *env) startAgent(ctx context.Context, s *subject, st proxyctl.State, cert *tls.Certificate) (string, string, error) {
	free, err := freePorts(2)
	if err != nil {
		return "", "", err
	}
	listen, node := free[0], free[1]
	e.n++
	c, err := haproxy.New(ctx, haproxy.Config{
		Binary: e.cfg.HAProxy, Dir: filepath.Join(e.dir, fmt.Sprintf("agent%d", e.n)), ListenAddr: listen, NodeListenAddr: node,
		Certificate: cert, MetricsAddr: haproxy.MetricsOff, GatewayURL: "http://" + e.backend, Slots: 2,
	})
	if err != nil {
		return "", "", err
	}
	s.stop = append(s.stop, c.Close)
	s.pids = append(s.pids, c.MasterPID())
	return listen, node, c.Apply(ctx, st)
}

// startEmbedded starts one embedded proxy (a child process) applying st,
// with certificate cert on its node port (plain without); it returns the
// user and the node port.
func (e *env) startEmbedded(ctx context.Context, s *subject, st proxyctl.State, cert *tls.Certificate) (string, string, error) {
	js, err := json.Marshal(st)
	if err != nil {
		return "", "", err
	}
	args := []string{"127.0.0.1:0", "http://" + e.backend, string(js)}
	if cert != nil {
		pem, err := nodetls.KeyPEM(*cert)
		if err != nil {
			return "", "", err
		}
		args = append(args, string(pem))
	}
	ch, err := startChild(ctx, e.agentChild, roleEmbedded, args...)
	if err != nil {
		return "", "", err
	}
	s.pids = append(s.pids, ch.pid())
	s.stop = append(s.stop, func() error { ch.stop(); return nil })
	if s.gc == nil && ch.gc != "" {
		s.gc = new(gctune.Applied)
		if err := json.Unmarshal([]byte(ch.gc), s.gc); err != nil {
			return "", "", fmt.Errorf("gc settings %q: %w", ch.gc, err)
		}
	}
	return ch.addr, ch.node, nil
}

// agentChild is the ChildFunc of an agent's process (an embedded proxy):
// Config.Child with the agent's garbage collector settings in its
// environment (Config.AgentGC), which neither the load generator nor the
// backend has.
func (e *env) agentChild(role string, args ...string) *exec.Cmd {
	cmd := e.cfg.Child(role, args...)
	if e.cfg.AgentGC != nil {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, e.cfg.AgentGC.Environ()...)
	}
	return cmd
}

// startPlains starts plain HAProxy for scenario: one process, or two
// chained for forwarded requests (over mutual TLS if withTLS).
func (e *env) startPlains(ctx context.Context, s *subject, scenario string, withTLS bool) (string, error) {
	switch scenario {
	case Local:
		return e.startPlain(ctx, s, e.backend, "", "")
	case Rejected:
		return e.startPlain(ctx, s, "", "", "")
	}
	var bind, server string
	if withTLS {
		var err error
		if bind, server, err = e.plainTLS(); err != nil {
			return "", err
		}
	}
	b, err := e.startPlain(ctx, s, e.backend, bind, "")
	if err != nil {
		return "", err
	}
	return e.startPlain(ctx, s, b, "", server)
}

// startPair starts an agent HAProxy or embedded subject: one proxy, or
// for forwarded requests a (where the load arrives) forwarding to b's node
// port. It returns a's user port.
func (e *env) startPair(ctx context.Context, s *subject, scenario, name string) (string, error) {
	startOne := e.startAgent
	if name == Embedded || name == EmbeddedTLS {
		startOne = e.startEmbedded
	}
	var certs map[strategy.NodeID]tls.Certificate
	certOf := func(strategy.NodeID) *tls.Certificate { return nil }
	if plainOf(name) != "" {
		certs = e.certs
		certOf = func(id strategy.NodeID) *tls.Certificate { c := certs[id]; return &c }
	}
	if scenario != Forwarded {
		st, _ := states(scenario, "", certs)
		user, _, err := startOne(ctx, s, st, certOf("a"))
		return user, err
	}
	_, stB := states(scenario, "", certs)
	_, nodeB, err := startOne(ctx, s, stB, certOf("b"))
	if err != nil {
		return "", err
	}
	scheme := "http://"
	if certs != nil {
		scheme = "https://"
	}
	stA, _ := states(scenario, scheme+nodeB, certs)
	user, _, err := startOne(ctx, s, stA, certOf("a"))
	return user, err
}

// start starts the subject name for scenario.
func (e *env) start(ctx context.Context, scenario, name string) (*subject, error) {
	s := &subject{name: name}
	var err error
	switch name {
	case Plain, PlainTLS:
		s.addr, err = e.startPlains(ctx, s, scenario, name == PlainTLS)
	case Agent, Embedded, AgentTLS, EmbeddedTLS:
		s.addr, err = e.startPair(ctx, s, scenario, name)
	default:
		err = fmt.Errorf("dataplane: unknown proxy %q", name)
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("dataplane: %s, %s: %w", scenario, name, err)
	}
	return s, nil
}
