package haproxy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// newFakeController returns a controller over a fake runtime API whose
// HAProxy already has a configuration with backends for fns and slots
// neighbour slots (so Apply never needs a reload).
func newFakeController(t *testing.T, fns []string, slots int) (*Controller, *fakeRuntime) {
	t.Helper()
	o, err := Config{Dir: t.TempDir(), GatewayURL: "http://127.0.0.1:8080", Slots: slots}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	rt := newFakeRuntime()
	c := &Controller{o: o, rt: rt, res: fakeResolver{"node-c.example": "10.0.0.3"}, pid: int(rt.pid),
		lay: layout{configured: true, self: "a", functions: fns, slots: slots}, cappedDesc: newCappedDesc()}
	c.acc.init()
	return c, rt
}

// nbState is a node with figlet and the given neighbours (all forwarded
// to), routing figlet as r.
func nbState(r strategy.Route, nbs ...string) proxyctl.State {
	s := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet", Concurrency: 4}}, Decision: strategy.Decision{Routes: []strategy.Route{r}}}
	for _, id := range nbs {
		url := "http://10.0.0." + string(id[len(id)-1]-'a'+'1') + ":30080"
		if id == "node-c" {
			url = "http://node-c.example:30080"
		}
		s.Neighbours = append(s.Neighbours, proxyctl.Neighbour{ID: strategy.NodeID(id), URL: url, Functions: []string{"figlet"}, TokenOut: "to-" + id, TokenIn: "from-" + id, Forward: true})
	}
	return s
}

func applyFake(t *testing.T, c *Controller, s proxyctl.State) {
	t.Helper()
	if err := c.Apply(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func TestApplyThroughRuntimeAPI(t *testing.T) {
	c, rt := newFakeController(t, []string{"figlet"}, 2)
	half := strategy.NewRoute("figlet", 0.5, 0, map[strategy.NodeID]float64{"node-b": 0.5})

	// First Apply: the full state (the controller does not know what
	// HAProxy has).
	applyFake(t, c, nbState(half, "node-b"))
	first := rt.take()
	if c.Stats().FullApplies != 1 {
		t.Errorf("full applies %d, want 1", c.Stats().FullApplies)
	}
	routes := parseMap(rt.maps[c.o.mapPath(mapRoute)])
	if len(routes) != buckets || routes["0/figlet"] != "gw.figlet/out.n1" || routes["1/figlet"] != "out.n1" ||
		rt.addrs["out.n1/nb"] != "10.0.0.2:30080" || rt.addrs["once.n1/nb"] != "10.0.0.2:30080" || rt.states["out.n1/nb"] != "ready" ||
		rt.states["out.n2/nb"] != "maint" || rt.maxconn["gw.figlet/gw"] != 4 {
		t.Errorf("state after the first apply: %d routes, states %v addrs %v maxconn %v", len(routes), rt.states, rt.addrs, rt.maxconn)
	}
	peers := rt.maps[filepath.Join(c.o.dir, "maps", "peers.map")]
	if peers != nodeKey("node-b")+" "+tokenHash("from-node-b")+"\n" {
		t.Errorf("peers map %q", peers)
	}
	if len(first) == 0 {
		t.Fatal("no command")
	}

	// The same state again: nothing to send.
	applyFake(t, c, nbState(half, "node-b"))
	if cmds := rt.take(); len(cmds) != 0 {
		t.Errorf("re-applying the same state sent %v", cmds)
	}

	// New shares: only the route map, replaced atomically.
	lines := rt.lines
	applyFake(t, c, nbState(strategy.NewRoute("figlet", 0.25, 0.25, map[strategy.NodeID]float64{"node-b": 0.5}), "node-b"))
	cmds := rt.take()
	if len(cmds) != 3 || !strings.HasPrefix(cmds[0], "prepare map "+c.o.mapPath(mapRoute)) || !strings.HasPrefix(cmds[2], "commit map") {
		t.Errorf("share change sent %q, want the route map", cmds)
	}
	if rt.lines != lines+3 {
		t.Errorf("share change used %d connections, want 3", rt.lines-lines)
	}
	rejects := 0
	for _, v := range parseMap(rt.maps[c.o.mapPath(mapRoute)]) {
		if v == targetReject {
			rejects++
		}
	}
	if rejects != buckets/4 {
		t.Errorf("%d rejecting buckets after the change, want %d", rejects, buckets/4)
	}

	// A neighbour joins (by host name): the free slot, its address before
	// its credentials, credentials before it goes into rotation.
	applyFake(t, c, nbState(strategy.NewRoute("figlet", 0.5, 0, map[strategy.NodeID]float64{"node-b": 0.25, "node-c": 0.25}), "node-b", "node-c"))
	cmds = rt.take()
	iAddr := slices.Index(cmds, "set server out.n2/nb addr 10.0.0.3 port 30080")
	iMap := slices.IndexFunc(cmds, func(s string) bool { return strings.HasPrefix(s, "commit map") && strings.HasSuffix(s, "tokens.map") })
	iReady := slices.Index(cmds, "set server out.n2/nb state ready")
	if iAddr < 0 || iMap < 0 || iReady < 0 || !(iAddr < iMap && iMap < iReady) {
		t.Errorf("join: address %d, credentials %d, ready %d in %q", iAddr, iMap, iReady, cmds)
	}
	if c.Stats().Reloads != 0 {
		t.Error("a join reloaded")
	}

	// node-b leaves: out of rotation first.
	applyFake(t, c, nbState(strategy.NewRoute("figlet", 0.5, 0, map[strategy.NodeID]float64{"node-c": 0.5}), "node-c"))
	cmds = slices.DeleteFunc(rt.take(), func(c string) bool { return strings.HasPrefix(c, "show table") })
	if len(cmds) == 0 || cmds[0] != "set server out.n1/nb state maint" {
		t.Errorf("leave: %q, want the slot in maintenance first", cmds)
	}
	// node-d joins while slot 1 was just freed and slot... the only free
	// one is 1.
	applyFake(t, c, nbState(strategy.NewRoute("figlet", 1, 0, nil), "node-c", "node-d"))
	if c.slots[0].node != "node-d" || c.slots[1].node != "node-c" {
		t.Errorf("slots %+v", c.slots)
	}

	// HAProxy restarted (new worker): the next Apply sends everything.
	rt.pid = 200
	applyFake(t, c, nbState(strategy.NewRoute("figlet", 1, 0, nil), "node-c", "node-d"))
	if n := len(rt.take()); n < len(first)/2 || c.Stats().FullApplies != 2 {
		t.Errorf("after a restart: %d commands, %d full applies", n, c.Stats().FullApplies)
	}
	// The configuration file holds the latest state.
	b, err := os.ReadFile(c.o.configPath)
	if err != nil || !strings.Contains(string(b), "server nb 10.0.0.3:30080 check") || !strings.Contains(string(b), "server nb 10.0.0.4:30080\n") {
		t.Errorf("configuration file not up to date (%v)", err)
	}
	if b, err := os.ReadFile(c.o.mapPath(mapRoute)); err != nil || parseMap(string(b))["0/figlet"] != "gw.figlet/reject" {
		t.Errorf("route map file not up to date (%v)", err)
	}
}

func TestApplyLRUSlots(t *testing.T) {
	// A slot never used is preferred to one just freed.
	c, _ := newFakeController(t, []string{"figlet"}, 3)
	local := strategy.Route{Function: "figlet", Local: 1}
	applyFake(t, c, nbState(local, "node-b"))
	applyFake(t, c, nbState(local))
	applyFake(t, c, nbState(local, "node-c"))
	if c.slots[0].node != "" || c.slots[1].node != "node-c" {
		t.Fatalf("slots %+v, want node-c in a slot never used", c.slots)
	}
	applyFake(t, c, nbState(local))
	applyFake(t, c, nbState(local, "node-b", "node-c", "node-d"))
	slotOf := func(id string) int {
		return slices.IndexFunc(c.slots, func(s slotState) bool { return s.node == strategy.NodeID(id) })
	}
	bSlot, cSlot := slotOf("node-b"), slotOf("node-c")
	applyFake(t, c, nbState(local, "node-c", "node-d")) // b leaves
	applyFake(t, c, nbState(local, "node-d"))           // c leaves
	applyFake(t, c, nbState(local, "node-d", "node-e")) // e gets b's slot, freed longest ago
	if slotOf("node-e") != bSlot || c.slots[cSlot].node != "" {
		t.Errorf("slots %+v, want node-e in slot %d (b's, freed longest ago)", c.slots, bSlot)
	}
}

func TestApplyErrors(t *testing.T) {
	c, rt := newFakeController(t, []string{"figlet"}, 2)
	local := strategy.Route{Function: "figlet", Local: 1}
	applyFake(t, c, nbState(local, "node-b"))
	rt.take()

	// A runtime error names the command, and the next Apply is full.
	rt.failOn = "route.map"
	err := c.Apply(context.Background(), nbState(strategy.NewRoute("figlet", 0.5, 0.5, nil), "node-b"))
	var re *runtimeError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "prepare map "+c.o.mapPath(mapRoute)) {
		t.Fatalf("error %v does not name the failing command", err)
	}
	rt.failOn = ""
	full := c.Stats().FullApplies
	applyFake(t, c, nbState(strategy.NewRoute("figlet", 0.5, 0.5, nil), "node-b"))
	if c.Stats().FullApplies != full+1 {
		t.Error("no full apply after an error")
	}

	// Bad input: named, nothing sent.
	rt.take()
	bad := nbState(local, "node-b")
	bad.Neighbours[0].TokenOut = "line\nbreak"
	if err := c.Apply(context.Background(), bad); err == nil || !strings.Contains(err.Error(), `neighbour "node-b"`) {
		t.Errorf("bad credential: %v", err)
	}
	https := nbState(local, "node-b")
	https.Neighbours[0].URL = "https://10.0.0.2:30443"
	if err := c.Apply(context.Background(), https); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("https neighbour: %v", err)
	}
	invalid := nbState(strategy.Route{Function: "figlet", Local: 0.5}, "node-b") // shares sum to 0.5
	invalid.Decision.Routes[0].Forward = []strategy.Share{{Node: "zz", Share: 0.5}}
	if err := c.Apply(context.Background(), invalid); err == nil {
		t.Error("a route to an unknown neighbour was accepted")
	}
	if cmds := rt.take(); len(cmds) != 0 {
		t.Errorf("bad input sent %q", cmds)
	}

	// HAProxy gone: an error, then a full apply once it is back.
	rt.down = true
	if err := c.Apply(context.Background(), nbState(local, "node-b")); err == nil {
		t.Error("no error with HAProxy down")
	}
	rt.down = false
	full = c.Stats().FullApplies
	applyFake(t, c, nbState(local, "node-b"))
	if c.Stats().FullApplies != full+1 {
		t.Error("no full apply once HAProxy is back")
	}

	// Canceled context, closed controller.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Apply(ctx, nbState(local)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	c.Close()
	c.Close()
	if err := c.Apply(context.Background(), nbState(local)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := c.Totals(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Totals after Close: %v", err)
	}
}

// TestApplyQueueCap: a function's queue cap changes through the runtime
// API (the map queue), with no reload, and its map file follows, so that a
// restarted HAProxy starts with it.
func TestApplyQueueCap(t *testing.T) {
	c, rt := newFakeController(t, []string{"figlet"}, 1)
	s := nbState(strategy.Route{Function: "figlet", Local: 1})
	for _, q := range []int{3, 7, 0} {
		s.Functions[0].MaxQueue = q
		applyFake(t, c, s)
		want := ""
		if q > 0 {
			want = "figlet " + strconv.Itoa(q) + "\n"
		}
		if got := rt.maps[c.o.mapPath(mapQueue)]; got != want {
			t.Errorf("MaxQueue %d: runtime queue map %q, want %q", q, got, want)
		}
		if b, err := os.ReadFile(c.o.mapPath(mapQueue)); err != nil || string(b) != want {
			t.Errorf("MaxQueue %d: queue map file %q (%v), want %q", q, b, err, want)
		}
	}
	if r := c.Stats().Reloads; r != 0 {
		t.Errorf("%d reloads", r)
	}
}
