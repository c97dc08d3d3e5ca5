package haproxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	lay := layout{configured: true, functions: []string{"f"}, slots: 2}
	b := slotState{node: "b", addr: netip.MustParseAddrPort("10.0.0.2:30080")}
	c := slotState{node: "c", addr: netip.MustParseAddrPort("10.0.0.3:30080")}
	mk := func(slots []slotState, route, peers string) desired {
		return desired{slots: slots, maxconn: map[string]int{"f": 4}, maps: map[string]string{mapPeers: peers, mapRoute: route}}
	}
	prev := mk([]slotState{b, {}}, "f/0 l/n1\nf/1 n1\n", "B x\n")
	cases := []struct {
		name string
		prev *desired
		next desired
		want []string
	}{
		{"nothing changes", &prev, prev, nil},
		{"queue cap", &prev, func() desired {
			d := mk([]slotState{b, {}}, "f/0 l/n1\nf/1 n1\n", "B x\n")
			d.maps[mapQueue] = "f 3\n"
			return d
		}(), []string{"map queue"}},
		{"shares", &prev, mk([]slotState{b, {}}, "f/0 l/n1\nf/1 l/n1\n", "B x\n"), []string{"map route"}},
		{"c joins", &prev, mk([]slotState{b, c}, "f/0 n2\nf/1 n1\n", "B x\nC y\n"),
			[]string{"set server out.n2/nb addr 10.0.0.3 port 30080", "set server once.n2/nb addr 10.0.0.3 port 30080", "set server out.n2/nb health up", "map peers", "map route", "set server out.n2/nb state ready", "set server once.n2/nb state ready"}},
		{"b leaves", &prev, mk([]slotState{{}, {}}, "f/0 l/r\nf/1 l/r\n", ""),
			[]string{"set server out.n1/nb state maint", "set server once.n1/nb state maint", "map peers", "map route"}},
		{"c takes b's slot", &prev, mk([]slotState{c, {}}, "f/0 l/n1\nf/1 n1\n", "C y\n"),
			[]string{"set server out.n1/nb state maint", "set server once.n1/nb state maint", "set server out.n1/nb addr 10.0.0.3 port 30080", "set server once.n1/nb addr 10.0.0.3 port 30080", "set server out.n1/nb health up", "map peers", "set server out.n1/nb state ready", "set server once.n1/nb state ready"}},
		{"b moves", &prev, mk([]slotState{{node: "b", addr: netip.MustParseAddrPort("10.0.0.9:1")}, {}}, "f/0 l/n1\nf/1 n1\n", "B x\n"),
			[]string{"set server out.n1/nb addr 10.0.0.9 port 1", "set server once.n1/nb addr 10.0.0.9 port 1", "set server out.n1/nb health up"}},
		// Unknown: every slot out of rotation until its address and
		// credentials are set again.
		{"unknown: everything", nil, prev, []string{
			"set server out.n1/nb state maint", "set server once.n1/nb state maint", "set server out.n2/nb state maint", "set server once.n2/nb state maint",
			"set server out.n1/nb addr 10.0.0.2 port 30080", "set server once.n1/nb addr 10.0.0.2 port 30080", "set server out.n1/nb health up",
			"map ids", "map tokens", "map peers", "map prev", "map local", "map sources", "map timeouts", "map queue", "map admit", "map caps", "map fns", "map fallback", "map route",
			"set server out.n1/nb state ready", "set server once.n1/nb state ready", "set maxconn server gw.f/gw 4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, o := range plan(c.prev, c.next, lay) {
				if o.kind == opMap {
					got = append(got, "map "+o.mapName)
				} else {
					got = append(got, o.command())
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("plan:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestExecute(t *testing.T) {
	o, _ := Config{Dir: "/run/x", GatewayURL: "http://127.0.0.1:1"}.resolve()
	rt := newFakeRuntime()
	var ops []op
	for i := range 300 { // more than fits in one line
		ops = append(ops, op{kind: opMaxConn, server: "gw.f" + strconv.Itoa(i%10) + "/gw", arg: "7"})
	}
	var big strings.Builder
	for b := range 3 * buckets { // more than fits in one payload
		fmt.Fprintf(&big, "%d/function-%d l/n12\n", b%buckets, b/buckets)
	}
	ops = append(ops, op{kind: opMap, mapName: mapPeers, content: "K1 V1\nK2 V2\n"}, op{kind: opMap, mapName: mapFns, content: ""},
		op{kind: opMap, mapName: mapRoute, content: big.String()}, op{kind: opState, server: "out.n1/nb", arg: "ready"})
	if err := execute(context.Background(), rt, &o, ops); err != nil {
		t.Fatal(err)
	}
	if got := rt.maps["/run/x/maps/peers.map"]; got != "K1 V1\nK2 V2\n" {
		t.Errorf("peers map %q", got)
	}
	if got, ok := rt.maps["/run/x/maps/fns.map"]; !ok || got != "" {
		t.Errorf("fns map %q %v (an empty map is committed too)", got, ok)
	}
	if got := rt.maps["/run/x/maps/route.map"]; got != big.String() {
		t.Errorf("route map of %d bytes committed as %d bytes", big.Len(), len(got))
	}
	if rt.lines < 5 || rt.lines > 20 {
		t.Errorf("%d connections for 301 commands and 3 maps", rt.lines)
	}
	if rt.states["out.n1/nb"] != "ready" || rt.maxconn["gw.f3/gw"] != 7 {
		t.Error("state or maxconn not set")
	}
	// Errors name the failing command even in a batch.
	rt.failOn = "gw.f3/gw"
	err := execute(context.Background(), rt, &o, ops[:10])
	if err == nil || !strings.Contains(err.Error(), `"set maxconn server gw.f3/gw 7"`) || !strings.Contains(err.Error(), "No such server") {
		t.Errorf("error %v", err)
	}
}

func TestAnswers(t *testing.T) {
	for out, want := range map[string]string{
		"":                                  "",
		"\n\n":                              "",
		"[4]: IP changed from 'a' to 'b'\n": "",
		"\n[3]: No such server.\n\n":        "No such server.",
		"[6]: ok\n[2]: bad\n":               "bad",
	} {
		if got := answerError(out); got != want {
			t.Errorf("answerError(%q) = %q, want %q", out, got, want)
		}
	}
	if v, err := parsePrepared("[6]: New version created: 12\n"); err != nil || v != "12" {
		t.Errorf("parsePrepared: %q %v", v, err)
	}
	for _, bad := range []string{"", "New version created:", "New version created: x", "nope 3"} {
		if _, err := parsePrepared(bad); err == nil {
			t.Errorf("parsePrepared(%q) accepted", bad)
		}
	}
	if pid, err := parsePID("Name: HAProxy\nVersion: 2.6\nPid: 4242\n"); err != nil || pid != 4242 {
		t.Errorf("parsePID: %d %v", pid, err)
	}
	for _, bad := range []string{"", "Pid: -1", "Pid: x", "Name: HAProxy"} {
		if _, err := parsePID(bad); err == nil {
			t.Errorf("parsePID(%q) accepted", bad)
		}
	}
}

const showProc = `#<PID>          <type>          <reloads>       <uptime>        <version>
14190           master          2 [failed: 1]   0d00h10m33s     2.6.12-1+deb12u3
# workers
3706            worker          0               0d00h00m00s     2.6.12-1+deb12u3
# old workers
3650            worker          1               0d00h00m10s     2.6.12-1+deb12u3
# programs

`

func TestParseShowProc(t *testing.T) {
	ps, err := parseShowProc(showProc)
	if err != nil {
		t.Fatal(err)
	}
	if ps.masterPID != 14190 || ps.reloads != 2 || ps.failed != 1 || !slices.Equal(ps.workers, []int{3706, 3650}) {
		t.Errorf("%+v", ps)
	}
	for _, bad := range []string{"", "# workers\n", "x master 0\n", "1 master y\n", "1 master 0 [failed: z]\n"} {
		if _, err := parseShowProc(bad); err == nil {
			t.Errorf("parseShowProc(%q) accepted", bad)
		}
	}
}

// FuzzParseShowProc checks that the parser of the master CLI never panics
// and returns only positive PIDs.
func FuzzParseShowProc(f *testing.F) {
	f.Add(showProc)
	f.Add("1 master 0\n2 worker 0\n")
	f.Add("1 master 0 [failed:\n")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parseShowProc(s)
		if err != nil {
			return
		}
		if ps.masterPID <= 0 || ps.reloads < 0 || ps.failed < 0 {
			t.Fatalf("%+v", ps)
		}
		for _, w := range ps.workers {
			if w <= 0 {
				t.Fatalf("worker PID %d", w)
			}
		}
	})
}

// FuzzAnswers checks the parsers of runtime API answers.
func FuzzAnswers(f *testing.F) {
	f.Add("[3]: No such server.\n")
	f.Add("New version created: 3\n")
	f.Add("Pid: 12\n")
	f.Fuzz(func(t *testing.T, s string) {
		answerError(s)
		if v, err := parsePrepared(s); err == nil && (v == "" || strings.ContainsAny(v, " \n@")) {
			t.Fatalf("version %q", v)
		}
		if pid, err := parsePID(s); err == nil && pid <= 0 {
			t.Fatalf("pid %d", pid)
		}
	})
}

func TestPlanKeepsFallbacksUntilRoutes(t *testing.T) {
	lay := layout{configured: true, self: "a", functions: []string{"f"}, slots: 2}
	prev := desired{slots: make([]slotState, 2), maps: map[string]string{mapFallback: "f/n1 once.n2\nf/n2 once.n1\n", mapRoute: "0/f out.n1\n1/f out.n2\n"}}
	next := desired{slots: make([]slotState, 2), maps: map[string]string{mapFallback: "f/n1 once.n1\n", mapRoute: "0/f out.n1\n1/f out.n1\n"}}
	var got []string
	for _, o := range plan(&prev, next, lay) {
		if o.kind == opMap {
			got = append(got, o.mapName+": "+o.content)
		}
	}
	want := []string{
		"fallback: f/n1 once.n1\nf/n2 once.n1\n", // new entries, old ones kept
		"route: 0/f out.n1\n1/f out.n1\n",
		"fallback: f/n1 once.n1\n", // narrowed once the routes are in force
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("map ops\n%q\nwant\n%q", got, want)
	}
}
