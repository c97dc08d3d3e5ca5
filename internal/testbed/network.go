package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Network connects the nodes of a run: each node's processes run in it,
// reach the others' proxies and peer ports at Addr(i), and the bench
// reaches a node's local services (proxy, admin) through Dialer(i).
type Network interface {
	// Describe says how the nodes are connected, for the report.
	Describe() string
	// Addr is node i's IP address as its peers see it.
	Addr(i int) string
	// Ports are node i's listening ports.
	Ports(i int) Ports
	// Command returns the argv that runs argv inside node i's network.
	Command(i int, argv []string) []string
	// Dialer dials node i's local services (as a user of that node).
	Dialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error)
	// Sweep kills what is left in the network (after the processes were
	// stopped).
	Sweep()
	// Close tears the network down. It is idempotent.
	Close() error
}

// Ports are the ports of one node's services.
type Ports struct {
	FaaS, Proxy, Admin, Peer, Metrics int
	Node                              int // the proxy's node port (forwarded requests)
}

// Link is a directed link: packets from node A to node B wait Delay.
type Link struct {
	A, B  int
	Delay time.Duration
}

// ErrNetns is returned when namespaces were asked for but cannot be used.
var ErrNetns = errors.New("network namespaces unavailable")

// Loopback runs every node on 127.0.0.1 with ports of its own: no links
// or RTTs are emulated, and every node can reach every other.
type Loopback struct {
	p      []Ports
	reason string
}

var _ Network = (*Loopback)(nil)

// NewLoopback picks free ports for n nodes; reason says why namespaces
// are not used, for the report.
func NewLoopback(n int, reason string) (*Loopback, error) {
	tcp, err := freePorts("tcp", 5*n)
	if err != nil {
		return nil, err
	}
	udp, err := freePorts("udp", n)
	if err != nil {
		return nil, err
	}
	l := &Loopback{reason: reason}
	for i := range n {
		t := tcp[5*i:]
		l.p = append(l.p, Ports{FaaS: t[0], Proxy: t[1], Admin: t[2], Metrics: t[3], Node: t[4], Peer: udp[i]})
	}
	return l, nil
}

// freePorts returns k distinct ports free on 127.0.0.1 now: every socket
// is held until all are picked, so that the kernel cannot hand the same
// port out twice.
func freePorts(network string, k int) ([]int, error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	ports := make([]int, 0, k)
	for range k {
		var a net.Addr
		if network == "udp" {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("free port: %w", err)
			}
			closers, a = append(closers, c), c.LocalAddr()
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("free port: %w", err)
			}
			closers, a = append(closers, l), l.Addr()
		}
		_, port, _ := net.SplitHostPort(a.String())
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// Describe implements Network.
func (l *Loopback) Describe() string {
	return "loopback (" + l.reason + "): every node on 127.0.0.1, links and RTTs not emulated, every node may forward to every other"
}

// Addr implements Network.
func (l *Loopback) Addr(int) string { return "127.0.0.1" }

// Ports implements Network.
func (l *Loopback) Ports(i int) Ports { return l.p[i] }

// Command implements Network.
func (l *Loopback) Command(_ int, argv []string) []string { return argv }

// Dialer implements Network.
func (l *Loopback) Dialer(int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{Timeout: 5 * time.Second}).DialContext
}

// Sweep implements Network.
func (l *Loopback) Sweep() {}

// Close implements Network.
func (l *Loopback) Close() error { return nil }
