//go:build linux

package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procAttr puts a child in a process group of its own and has the
// kernel kill it if the bench dies without tearing down.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Namespace mode: each node gets a network namespace holding a TUN device
// with the node's address. The bench routes the IP packets between the
// TUN devices itself, along the scenario's links only, holding each packet
// for half the link's RTT: a user-space netem, used because this kernel
// (and many container kernels) lacks sch_netem, and because per-link
// delays need per-link queues anyway.
const (
	tunName       = "dfaas0"
	subnet        = "10.99"
	queueLen      = 8192 // packets per directed link
	MaxNetnsNodes = 250
	netnsRoot     = "/var/run/netns/"
)

// DefaultPrefix returns a prefix for namespace names: a namespace made by
// OpenNetns is named prefix + "-" + node index, and the default prefix is
// "dfb" + pid + "x" + random hex, so that namespaces left by a bench that
// was killed can be told apart and swept (SweepStale).
func DefaultPrefix() string {
	var b [3]byte
	rand.Read(b[:])
	return "dfb" + strconv.Itoa(os.Getpid()) + "x" + hex.EncodeToString(b[:])
}

// SweepStale deletes namespaces named by DefaultPrefix whose
// bench process is gone.
func SweepStale() {
	ents, err := os.ReadDir(netnsRoot)
	if err != nil {
		return
	}
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), "dfb")
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(name, "x")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // its bench still runs
		}
		killNetns(e.Name())
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// killNetns kills every process in namespace ns.
func killNetns(ns string) {
	for range 50 {
		out, err := exec.Command("ip", "netns", "pids", ns).Output()
		if err != nil {
			return
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NetnsAvailable reports why namespace mode cannot be used, or nil.
func NetnsAvailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not running as root", ErrNetns)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: no ip command (iproute2)", ErrNetns)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("%w: %v", ErrNetns, err)
	}
	return nil
}

// Netns is the namespace network of a bench run.
type Netns struct {
	prefix string
	names  []string // namespace per node ("" until created)
	tuns   []*os.File
	ips    map[[4]byte]int
	links  map[[2]int]chan packet
	delays map[[2]int]time.Duration
	dials  []*nsDialer

	readers, writers sync.WaitGroup
	dropped          atomic.Int64
	closeOnce        sync.Once
	closeErr         error
}

var _ Network = (*Netns)(nil)

type packet struct {
	data []byte
	at   time.Time
}

// OpenNetns creates one namespace per node, named prefix-<i>, with the
// directed links given (packets between unlinked nodes are dropped), as
// a Network. On error, what was created is removed.
func OpenNetns(prefix string, n int, links []Link) (Network, error) {
	nn, err := newNetns(prefix, n, links)
	if err != nil {
		return nil, err
	}
	return nn, nil
}

// newNetns creates one namespace per node, named prefix-<i>, with the
// directed links given (packets between unlinked nodes are dropped). On
// error, what was created is removed.
func newNetns(prefix string, n int, links []Link) (_ *Netns, err error) {
	if n > MaxNetnsNodes {
		return nil, fmt.Errorf("%w: %d nodes, at most %d", ErrNetns, n, MaxNetnsNodes)
	}
	nn := &Netns{prefix: prefix, ips: map[[4]byte]int{}, links: map[[2]int]chan packet{}, delays: map[[2]int]time.Duration{}}
	defer func() {
		if err != nil {
			nn.Close()
		}
	}()
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		nn.names = append(nn.names, name)
		tun, err := openTun(name)
		if err != nil {
			return nil, err
		}
		nn.tuns = append(nn.tuns, tun)
		ip := nn.Addr(i)
		for _, args := range [][]string{
			{"-n", name, "link", "set", "lo", "up"},
			{"-n", name, "addr", "add", ip + "/16", "dev", tunName},
			{"-n", name, "link", "set", tunName, "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
			}
		}
		nn.ips[[4]byte(net.ParseIP(ip).To4())] = i
		d, err := newNsDialer(name)
		if err != nil {
			return nil, err
		}
		nn.dials = append(nn.dials, d)
	}
	for _, l := range links {
		k := [2]int{l.A, l.B}
		if _, dup := nn.links[k]; dup {
			continue
		}
		nn.links[k] = make(chan packet, queueLen)
		nn.delays[k] = l.Delay
	}
	for k, q := range nn.links {
		out := nn.tuns[k[1]]
		nn.writers.Go(func() {
			for p := range q {
				if d := time.Until(p.at); d > 0 {
					time.Sleep(d)
				}
				out.Write(p.data)
			}
		})
	}
	for i, tun := range nn.tuns {
		nn.readers.Go(func() { nn.route(i, tun) })
	}
	return nn, nil
}

// route reads the packets node i sends and queues them on their link.
func (nn *Netns) route(i int, tun *os.File) {
	buf := make([]byte, 1<<16)
	for {
		n, err := tun.Read(buf)
		if err != nil {
			return
		}
		if n < 20 || buf[0]>>4 != 4 {
			continue // not IPv4 (IPv6 router solicitations and the like)
		}
		j, ok := nn.ips[[4]byte(buf[16:20])]
		if !ok {
			nn.dropped.Add(1)
			continue
		}
		k := [2]int{i, j}
		q, ok := nn.links[k]
		if !ok {
			nn.dropped.Add(1) // no link: unreachable, as in the scenario
			continue
		}
		select {
		case q <- packet{data: append([]byte(nil), buf[:n]...), at: time.Now().Add(nn.delays[k])}:
		default:
			nn.dropped.Add(1) // queue full: a congested link drops
		}
	}
}

// openTun creates the TUN device of namespace ns from a thread that
// joined it, and returns its (non-blocking) file.
func openTun(ns string) (*os.File, error) {
	var f *os.File
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err = join(ns); err != nil {
			return
		}
		var fd int
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			err = fmt.Errorf("open /dev/net/tun in %s: %w", ns, err)
			return
		}
		ifr, e := unix.NewIfreq(tunName)
		if e != nil {
			unix.Close(fd)
			err = e
			return
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if e := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); e != nil {
			unix.Close(fd)
			err = fmt.Errorf("create TUN device in %s: %w", ns, e)
			return
		}
		f = os.NewFile(uintptr(fd), "tun:"+ns)
	})
	wg.Wait()
	return f, err
}

// join moves the calling (locked) thread into namespace ns.
func join(ns string) error {
	f, err := os.Open(netnsRoot + ns)
	if err != nil {
		return fmt.Errorf("join %s: %w", ns, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join %s: %w", ns, err)
	}
	return nil
}

// nsDialer dials from inside a namespace: its dials run on an OS
// thread that joined it (a socket stays in the namespace it was made in).
type nsDialer struct {
	reqs chan dialReq
	wg   sync.WaitGroup
	once sync.Once
}

type dialReq struct {
	ctx           context.Context
	network, addr string
	res           chan dialResult
}

type dialResult struct {
	c   net.Conn
	err error
}

func newNsDialer(ns string) (*nsDialer, error) {
	d := &nsDialer{reqs: make(chan dialReq)}
	ready := make(chan error, 1)
	d.wg.Go(func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := join(ns); err != nil {
			ready <- err
			return
		}
		ready <- nil
		nd := &net.Dialer{Timeout: 5 * time.Second}
		for r := range d.reqs {
			c, err := nd.DialContext(r.ctx, r.network, r.addr)
			r.res <- dialResult{c, err}
		}
	})
	if err := <-ready; err != nil {
		d.wg.Wait()
		return nil, err
	}
	return d, nil
}

func (d *nsDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r := dialReq{ctx: ctx, network: network, addr: addr, res: make(chan dialResult, 1)}
	select {
	case d.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The dial honours ctx, so this does not outlast it by much.
	res := <-r.res
	return res.c, res.err
}

func (d *nsDialer) close() {
	d.once.Do(func() {
		close(d.reqs)
		d.wg.Wait()
	})
}

func (nn *Netns) Describe() string {
	return fmt.Sprintf("network namespaces %s-*, one per node, joined by a user-space router in the bench "+
		"that carries packets only along the scenario's links and delays each by half the link's RTT (sch_netem is not used)", nn.prefix)
}

func (nn *Netns) Addr(i int) string {
	return fmt.Sprintf("%s.%d.%d", subnet, i/200, i%200+10)
}

func (nn *Netns) Ports(int) Ports {
	return Ports{FaaS: 8080, Proxy: 30080, Admin: 8081, Peer: 31600, Metrics: 8405}
}

func (nn *Netns) Command(i int, argv []string) []string {
	return append([]string{"ip", "netns", "exec", nn.names[i]}, argv...)
}

func (nn *Netns) Dialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return nn.dials[i].dial
}

// sweep kills every process left in the namespaces.
func (nn *Netns) Sweep() {
	for _, ns := range nn.names {
		killNetns(ns)
	}
}

// close stops the router and deletes the namespaces (after killing what
// is left in them).
func (nn *Netns) Close() error {
	nn.closeOnce.Do(func() {
		for _, d := range nn.dials {
			d.close()
		}
		for _, t := range nn.tuns {
			t.Close()
		}
		nn.readers.Wait()
		for _, q := range nn.links {
			close(q)
		}
		nn.writers.Wait()
		var errs []error
		for _, ns := range nn.names {
			killNetns(ns)
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", ns, err, strings.TrimSpace(string(out))))
			}
		}
		nn.closeErr = errors.Join(errs...)
	})
	return nn.closeErr
}
