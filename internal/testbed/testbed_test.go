package testbed

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

func TestFunctionFlags(t *testing.T) {
	got := FunctionFlags([]sim.Function{
		{Name: "figlet", Capacity: 200, Concurrency: 10, Timeout: sim.Duration(time.Second)},
		{Name: "ocr", Capacity: 40, Concurrency: 4, Timeout: sim.Duration(500 * time.Millisecond)},
	})
	want := []string{"--function", "figlet,capacity=200,concurrency=10,queue=410,queue_timeout=1s",
		"--function", "ocr,capacity=40,concurrency=4,queue=44,queue_timeout=500ms,handler=echo"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestTail(t *testing.T) {
	tl := &tail{max: 16}
	for i := range 10 {
		tl.Write([]byte("line " + strconv.Itoa(i) + "\n"))
	}
	if got := tl.lastLines(2); got != "line 8\nline 9" {
		t.Fatalf("lastLines(2) = %q", got)
	}
	if len(tl.b) > 16 {
		t.Fatalf("kept %d bytes, more than 16", len(tl.b))
	}
}

// TestLoopbackPorts: every node gets distinct free ports.
func TestLoopbackPorts(t *testing.T) {
	l, err := NewLoopback(3, "test")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for i := range 3 {
		p := l.Ports(i)
		for _, port := range []int{p.FaaS, p.Proxy, p.Admin, p.Metrics} {
			if port <= 0 || seen[port] {
				t.Fatalf("node %d: port %d reused or invalid: %+v", i, port, p)
			}
			seen[port] = true
		}
		if l.Addr(i) != "127.0.0.1" || len(l.Command(i, []string{"x"})) != 1 {
			t.Fatal("loopback node not on 127.0.0.1 or its command changed")
		}
	}
	if !strings.Contains(l.Describe(), "test") {
		t.Error(l.Describe())
	}
}

// TestProcStop: a started process is stopped with its group, and its
// exit is reported with its output.
func TestProcStop(t *testing.T) {
	var wg sync.WaitGroup
	p, err := Start(&wg, "sleeper", []string{"sh", "-c", "echo started; sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.out.lastLines(1), "started"); {
		if time.Now().After(deadline) {
			t.Fatal("no output")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Exited() {
		t.Fatal("exited early")
	}
	p.Stop(5 * time.Second)
	wg.Wait()
	if !p.Exited() || !strings.Contains(p.ExitError().Error(), "started") {
		t.Fatalf("after Stop: exited %v, %v", p.Exited(), p.ExitError())
	}
}

func TestQueueDepthFlag(t *testing.T) {
	for _, tc := range []struct {
		depth float64
		want  string
	}{{0, "4"}, {-1, "0"}, {2.5, "2.5"}} {
		if got := queueDepthFlag(tc.depth); got != tc.want {
			t.Errorf("queueDepthFlag(%v) = %q, want %q", tc.depth, got, tc.want)
		}
	}
}

// TestAgentStrategyParams: the agents get the strategy's parameters
// (dfaas bench --params) as --strategy-params, and no such flag without
// them.
func TestAgentStrategyParams(t *testing.T) {
	l, err := NewLoopback(1, "test")
	if err != nil {
		t.Fatal(err)
	}
	sc := &sim.Scenario{Name: "x", Period: sim.Duration(time.Second), Nodes: []sim.Node{{ID: "a"}}}
	for _, params := range []string{`{"utilization": 0.8}`, ""} {
		c := &Cluster{cfg: ClusterConfig{Scenario: sc, Strategy: "flow", StrategyParams: params, Proxy: "embedded",
			Net: l, Keys: []Key{{File: "a.pem", ID: "id-a"}}, Links: map[int][]int{}}}
		argv := c.agentArgv(0, t.TempDir())
		i := slices.Index(argv, "--strategy-params")
		switch {
		case params == "" && i >= 0:
			t.Errorf("no parameters, but %v", argv)
		case params != "" && (i < 0 || i+1 >= len(argv) || argv[i+1] != params):
			t.Errorf("parameters %s: %v", params, argv)
		}
	}
}
