package quic

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dfaas-go/dfaas/internal/promtest"
)

// netnsLab is a set of network namespaces, one per node, each with a veth
// pair to a bridge in a hub namespace: real interfaces, created and
// removed by the test, touching nothing outside them.
type netnsLab struct {
	t      *testing.T
	prefix string
	n      int
}

func (l *netnsLab) ns(i int) string    { return fmt.Sprintf("%s-n%d", l.prefix, i) }
func (l *netnsLab) hub() string        { return l.prefix + "-hub" }
func (l *netnsLab) ip(i int) string    { return fmt.Sprintf("10.231.0.%d", i+1) }
func (l *netnsLab) hubIf(i int) string { return fmt.Sprintf("h%d", i) }

func (l *netnsLab) run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (l *netnsLab) must(args ...string) {
	l.t.Helper()
	if err := l.run(args...); err != nil {
		l.t.Fatal(err)
	}
}

func newNetnsLab(t *testing.T, n int) *netnsLab {
	promtest.RequireNetns(t)
	l := &netnsLab{t: t, prefix: fmt.Sprintf("dfq%d", os.Getpid()%100000), n: n}
	t.Cleanup(func() {
		for i := range n {
			l.run("ip", "netns", "del", l.ns(i))
		}
		l.run("ip", "netns", "del", l.hub())
	})
	l.must("ip", "netns", "add", l.hub())
	l.must("ip", "-n", l.hub(), "link", "add", "br0", "type", "bridge")
	l.must("ip", "-n", l.hub(), "link", "set", "br0", "up")
	for i := range n {
		ns := l.ns(i)
		l.must("ip", "netns", "add", ns)
		l.must("ip", "-n", ns, "link", "set", "lo", "up")
		l.must("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", l.hubIf(i), "netns", l.hub())
		l.must("ip", "-n", ns, "addr", "add", l.ip(i)+"/24", "dev", "eth0")
		l.must("ip", "-n", ns, "link", "set", "eth0", "up")
		l.must("ip", "-n", l.hub(), "link", "set", l.hubIf(i), "master", "br0")
		l.must("ip", "-n", l.hub(), "link", "set", l.hubIf(i), "up")
	}
	return l
}

// listenIn starts a transport whose socket lives in namespace ns.
func (l *netnsLab) listenIn(ns string, c Config) *Transport {
	l.t.Helper()
	tr, err := func() (*Transport, error) {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		tr, lerr := Listen(c)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine
			// rather than run other goroutines in the wrong namespace.
			return tr, fmt.Errorf("back to the original namespace: %w", err)
		}
		runtime.UnlockOSThread()
		return tr, lerr
	}()
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { tr.Close() })
	return tr
}

// Three transports, each in its own network namespace behind a veth
// pair, form a federation from one bootstrap peer; one link gets 40 ms of
// extra delay, which shows in the RTTs; a node whose link is cut is
// declared down by the others within DownAfter and its messages stop;
// once the link is back it rejoins.
func TestNetnsFederation(t *testing.T) {
	l := newNetnsLab(t, 3)
	ts := make([]*Transport, 3)
	for i := range ts {
		c := fastConfig(t, mustKey(t))
		c.Listen = l.ip(i) + ":7946"
		c.PingInterval = 200 * time.Millisecond
		c.DownAfter = time.Second
		c.ExpireAfter = time.Minute
		if i > 0 {
			c.Bootstrap = []Addr{{HostPort: l.ip(0) + ":7946", ID: ts[0].LocalID()}}
		}
		ts[i] = l.listenIn(l.ns(i), c)
	}
	eventually(t, 10*time.Second, "federation over veth", func() bool { return fullyConnected(ts) })
	for _, in := range ts[0].Peers() {
		if !strings.HasPrefix(in.Addr, "quic://10.231.0.") {
			t.Errorf("peer %s reached at %s, not over the veth network", in.ID, in.Addr)
		}
	}

	if err := l.run("ip", "netns", "exec", l.ns(2), "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "40ms"); err != nil {
		t.Logf("no netem here, RTT check skipped: %v", err)
	} else {
		eventually(t, 10*time.Second, "RTT to the delayed node above 40ms", func() bool {
			var near, far time.Duration
			for _, in := range ts[0].Peers() {
				if in.ID == ts[2].LocalID() {
					far = in.RTT
				} else {
					near = in.RTT
				}
			}
			return far > 40*time.Millisecond && near < 20*time.Millisecond
		})
		t.Logf("RTTs seen by node 0: %+v", ts[0].Peers())
	}

	cut := time.Now()
	l.must("ip", "-n", l.hub(), "link", "set", l.hubIf(2), "down")
	eventually(t, 5*time.Second, "cut node declared down", func() bool {
		return !upPeers(ts[0])[ts[2].LocalID()] && !upPeers(ts[1])[ts[2].LocalID()] && len(upPeers(ts[2])) == 0
	})
	detected := time.Since(cut)
	t.Logf("cut detected after %v (DownAfter %v)", detected.Round(time.Millisecond), time.Second)
	if detected > 3*time.Second {
		t.Errorf("cut detected after %v, want about DownAfter (1s)", detected)
	}
	ctx := context.Background()
	if err := ts[2].Send(ctx, ts[0].LocalID(), []byte("x")); err == nil {
		t.Error("the cut node can still send")
	}
	if !upPeers(ts[0])[ts[1].LocalID()] {
		t.Error("the cut broke the link between the two other nodes")
	}

	l.must("ip", "-n", l.hub(), "link", "set", l.hubIf(2), "up")
	healed := time.Now()
	eventually(t, 20*time.Second, "cut node rejoined", func() bool { return fullyConnected(ts) })
	t.Logf("rejoined %v after the link came back", time.Since(healed).Round(time.Millisecond))
	if err := ts[2].Send(ctx, ts[1].LocalID(), []byte("back")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ts[1].Recv():
		if string(m.Data) != "back" {
			t.Fatalf("got %q", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message from the rejoined node")
	}
}
