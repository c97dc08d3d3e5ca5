package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// Names of the proxies compared.
const (
	Plain    = "haproxy"       // plain HAProxy (two chained for forwarded requests)
	Agent    = "agent-haproxy" // proxyctl/haproxy's Controller
	Embedded = "embedded"      // proxyctl/embedded
)

// Scenarios.
const (
	Local     = "local"
	Forwarded = "forwarded"
	Rejected  = "rejected"
)

// subject is one proxy (or chain of two) under load.
type subject struct {
	name string
	addr string         // where the load generator sends
	pids []int          // process trees whose CPU time counts
	stop []func() error // in order
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
}

// freePort returns a loopback address with a port free right now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// plainConfig is the configuration of plain HAProxy: one thread, one
// frontend, one backend (or a 429 answer when to is "").
func plainConfig(listen, to string) string {
	route := "    default_backend be\n\nbackend be\n    server s1 " + to + "\n"
	if to == "" {
		route = "    http-request return status 429 content-type text/plain string \"rejected\\n\"\n"
	}
	return "global\n    nbthread 1\n    maxconn 4096\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n" +
		"    timeout server 30s\n    timeout http-keep-alive 30s\n\nfrontend public\n    bind " + listen + "\n" + route
}

// startPlain starts one plain HAProxy process listening on a free port and
// sending to to (or rejecting when to is "").
func (e *env) startPlain(ctx context.Context, s *subject, to string) (string, error) {
	listen, err := freePort()
	if err != nil {
		return "", err
	}
	e.n++
	path := filepath.Join(e.dir, fmt.Sprintf("plain%d.cfg", e.n))
	if err := os.WriteFile(path, []byte(plainConfig(listen, to)), 0o600); err != nil {
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
// and, for forwarded requests, of node b; bURL is b's proxy.
func states(scenario, bURL string) (a, b proxyctl.State) {
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
	}
	return a, b
}

// startAgent starts one agent HAProxy data plane applying st in front of
// the backend.
func (e *env) startAgent(ctx context.Context, s *subject, st proxyctl.State) (string, error) {
	listen, err := freePort()
	if err != nil {
		return "", err
	}
	e.n++
	c, err := haproxy.New(ctx, haproxy.Config{
		Binary: e.cfg.HAProxy, Dir: filepath.Join(e.dir, fmt.Sprintf("agent%d", e.n)), ListenAddr: listen,
		MetricsAddr: haproxy.MetricsOff, GatewayURL: "http://" + e.backend, Slots: 2,
	})
	if err != nil {
		return "", err
	}
	s.stop = append(s.stop, c.Close)
	s.pids = append(s.pids, c.MasterPID())
	return listen, c.Apply(ctx, st)
}

// startEmbedded starts one embedded proxy (a child process) applying st.
func (e *env) startEmbedded(ctx context.Context, s *subject, st proxyctl.State) (string, error) {
	js, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	ch, err := startChild(ctx, e.cfg.Child, roleEmbedded, "127.0.0.1:0", "http://"+e.backend, string(js))
	if err != nil {
		return "", err
	}
	s.pids = append(s.pids, ch.pid())
	s.stop = append(s.stop, func() error { ch.stop(); return nil })
	return ch.addr, nil
}

// start starts the subject name for scenario.
func (e *env) start(ctx context.Context, scenario, name string) (*subject, error) {
	s := &subject{name: name}
	var err error
	switch name {
	case Plain:
		switch scenario {
		case Local:
			s.addr, err = e.startPlain(ctx, s, e.backend)
		case Rejected:
			s.addr, err = e.startPlain(ctx, s, "")
		case Forwarded:
			var b string
			if b, err = e.startPlain(ctx, s, e.backend); err == nil {
				s.addr, err = e.startPlain(ctx, s, b)
			}
		}
	case Agent, Embedded:
		startOne := e.startAgent
		if name == Embedded {
			startOne = e.startEmbedded
		}
		if scenario == Forwarded {
			_, stB := states(scenario, "")
			var b string
			if b, err = startOne(ctx, s, stB); err == nil {
				stA, _ := states(scenario, "http://"+b)
				s.addr, err = startOne(ctx, s, stA)
			}
		} else {
			st, _ := states(scenario, "")
			s.addr, err = startOne(ctx, s, st)
		}
	default:
		err = fmt.Errorf("dataplane: unknown proxy %q", name)
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("dataplane: %s, %s: %w", scenario, name, err)
	}
	return s, nil
}
