package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dfaas-go/dfaas/internal/heavytest"
	"github.com/dfaas-go/dfaas/internal/promtest"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// netnsLab is a set of network namespaces joined by a bridge: a hub
// namespace holding the bridge, and one namespace per host with a veth
// into it, on 10.77.N.0/24.
type netnsLab struct {
	t      *testing.T
	prefix string
	subnet int
}

func (l *netnsLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newNetnsLab(t *testing.T) *netnsLab {
	promtest.RequireNetns(t)
	l := &netnsLab{t: t, prefix: fmt.Sprintf("dft%d", os.Getpid()%100000), subnet: 77}
	l.ip("netns", "add", l.prefix+"-hub")
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.prefix+"-hub").Run() })
	l.ip("-n", l.prefix+"-hub", "link", "add", "br0", "type", "bridge")
	l.ip("-n", l.prefix+"-hub", "link", "set", "br0", "up")
	return l
}

// host adds namespace name with address 10.77.0.i and returns the
// namespace's name and address.
func (l *netnsLab) host(name string, i int) (ns, addr string) {
	ns = l.prefix + "-" + name
	hubSide := fmt.Sprintf("%sh%d", l.prefix, i)
	l.ip("netns", "add", ns)
	l.t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	l.ip("link", "add", hubSide, "netns", l.prefix+"-hub", "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.ip("-n", l.prefix+"-hub", "link", "set", hubSide, "master", "br0", "up")
	addr = fmt.Sprintf("10.%d.0.%d", l.subnet, i)
	l.ip("-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
	l.ip("-n", ns, "link", "set", "eth0", "up")
	l.ip("-n", ns, "link", "set", "lo", "up")
	return ns, addr
}

// cut takes host i's link to the bridge down (up again with heal).
func (l *netnsLab) cut(i int, down bool) {
	state := "up"
	if down {
		state = "down"
	}
	l.ip("-n", l.prefix+"-hub", "link", "set", fmt.Sprintf("%sh%d", l.prefix, i), state)
}

// client returns an HTTP client whose connections are made from inside
// namespace ns: dials run on an OS thread that joined it.
func (l *netnsLab) client(ns string) *http.Client {
	type dial struct {
		ctx      context.Context
		net, adr string
		res      chan net.Conn
		err      chan error
	}
	reqs := make(chan dial)
	ready := make(chan error)
	var wg sync.WaitGroup
	wg.Go(func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open("/var/run/netns/" + ns)
		if err == nil {
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for r := range reqs {
			c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(r.ctx, r.net, r.adr)
			if err != nil {
				r.err <- err
				continue
			}
			r.res <- c
		}
	})
	if err := <-ready; err != nil {
		l.t.Fatalf("join %s: %v", ns, err)
	}
	l.t.Cleanup(func() { close(reqs); wg.Wait() })
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := dial{ctx, network, addr, make(chan net.Conn, 1), make(chan error, 1)}
			reqs <- d
			select {
			case c := <-d.res:
				return c, nil
			case err := <-d.err:
				return nil, err
			}
		},
		MaxIdleConnsPerHost: 64,
	}}
}

// TestNetnsFederation runs three agents, each in its own network namespace
// on a bridge: the federation forms across real interfaces, a member cut
// off is detected and its traffic stops within the configured time, and it
// rejoins after the cut is healed.
func TestNetnsFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	lab := newNetnsLab(t)
	heavytest.Lock(t)
	dir := t.TempDir()
	type agent struct{ ns, ip, id, key string }
	agents := make([]agent, 3)
	for i := range agents {
		a := &agents[i]
		a.ns, a.ip = lab.host(fmt.Sprint("n", i), i+1)
		a.key, a.id = fedKey(t, dir, fmt.Sprint("n", i))
	}
	cns, _ := lab.host("client", 100)
	client := lab.client(cns)
	const downAfter = time.Second
	for i, a := range agents {
		capacity := 100
		if i == 0 {
			capacity = 20
		}
		args := []string{"agent", "--key", a.key, "--peer-listen", a.ip + ":31600", "--proxy-listen", a.ip + ":30080", "--node-listen", a.ip + ":30443",
			"--http", a.ip + ":8081", "--period", "500ms", "--expiry", "1500ms", "--peer-ping", "250ms", "--peer-down-after", downAfter.String(),
			"--log-level", "warn", "--function", fmt.Sprintf("echo,capacity=%d,concurrency=4", capacity)}
		if i > 0 {
			args = append(args, "--bootstrap", fmt.Sprintf("quic://%s:31600/%s", agents[0].ip, agents[0].id))
		}
		fedProcess(t, a.ns, args...)
	}
	neighbours := func(a agent) map[string]bool { return upNeighbours(client, a.ip) }
	waitFor := func(what string, within time.Duration, cond func() bool) time.Duration {
		t.Helper()
		return waitUntil(t, what, within, cond)
	}
	load := func(d time.Duration) (int, map[string]int) {
		return loadFor(client, "http://"+agents[0].ip+":30080/function/echo", d)
	}
	waitFor("federation across namespaces", 15*time.Second, func() bool {
		for _, a := range agents {
			if len(neighbours(a)) != 2 {
				return false
			}
		}
		return true
	})
	_, to := load(3 * time.Second)
	if to[agents[2].id] == 0 || to[agents[1].id] == 0 {
		t.Fatalf("before the cut, requests went to %v; want both neighbours", to)
	}

	lab.cut(3, true) // agent 2 (10.77.0.3) loses its link
	took := waitFor("cut detected", 10*time.Second, func() bool { return !neighbours(agents[0])[agents[2].id] })
	t.Logf("cut detected by agent 0 after %v (peer down after %v, neighbour expiry 1.5s)", took.Round(time.Millisecond), downAfter)
	if limit := downAfter + 1500*time.Millisecond + time.Second; took > limit {
		t.Errorf("cut detected after %v, more than %v", took, limit)
	}
	waitFor("decision in force stops forwarding to the cut member", 5*time.Second, func() bool {
		return !forwardsTo(client, agents[0].ip, agents[2].id)
	})
	ok, to := load(3 * time.Second)
	if to[agents[2].id] != 0 {
		t.Errorf("%d requests still forwarded to the cut member", to[agents[2].id])
	}
	if to[agents[1].id] == 0 || ok == 0 {
		t.Errorf("after the cut: %d served, routed %v", ok, to)
	}

	lab.cut(3, false)
	took = waitFor("rejoin after healing", 30*time.Second, func() bool { return neighbours(agents[0])[agents[2].id] })
	t.Logf("rejoined after %v", took.Round(time.Millisecond))
	// Credentials are exchanged again before requests may go there: load
	// in one-second rounds until one reaches it.
	waitFor("requests forwarded to the rejoined member", 15*time.Second, func() bool {
		_, to := load(time.Second)
		return to[agents[2].id] > 0
	})
}

// forwardsTo reports whether the decision in force at the agent at ip
// (its /status) forwards any function to node id; true if it cannot
// tell (so that waiting for false goes on).
func forwardsTo(client *http.Client, ip, id string) bool {
	resp, err := client.Get("http://" + ip + ":8081/status")
	if err != nil {
		return true
	}
	defer resp.Body.Close()
	var st struct {
		Decision strategy.Decision `json:"decision"`
	}
	if jsonDecode(resp.Body, &st) != nil {
		return true
	}
	for _, r := range st.Decision.Routes {
		if r.ForwardShare(strategy.NodeID(id)) > 0 {
			return true
		}
	}
	return false
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// upNeighbours returns the IDs of the peers the agent at ip lists as up
// neighbours, asked through client.
func upNeighbours(client *http.Client, ip string) map[string]bool {
	out := map[string]bool{}
	resp, err := client.Get("http://" + ip + ":8081/status")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	var st fedStatus
	if jsonDecode(resp.Body, &st) != nil {
		return out
	}
	for _, p := range st.Peers {
		if p.Up && p.Neighbour {
			out[p.ID] = true
		}
	}
	return out
}

// waitUntil polls cond until it holds, failing t after within, and
// returns how long it took.
func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// loadFor sends 40 req/s for d to url and counts the requests served and
// where they went.
func loadFor(client *http.Client, url string, d time.Duration) (ok int, to map[string]int) {
	to = map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		wg.Go(func() {
			resp, err := client.Post(url, "text/plain", strings.NewReader("x"))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode == 200 {
				ok++
			}
			to[resp.Header.Get(proxyctl.HeaderForwardedTo)]++
		})
	}
	wg.Wait()
	return ok, to
}
