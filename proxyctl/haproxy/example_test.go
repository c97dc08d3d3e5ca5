package haproxy_test

import (
	"fmt"
	"strings"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// Render shows how a decision becomes a route table: half of figlet's
// requests served locally by the gateway (backend gw.figlet; if it cannot
// take them, node b), a quarter forwarded to node b (slot n1, backend
// out.n1) and a quarter rejected, in 256 buckets filled in smooth
// round-robin order. The first eight buckets:
func ExampleRender() {
	s := proxyctl.State{
		Self:      "a",
		Functions: []proxyctl.Function{{Name: "figlet", Concurrency: 4}},
		Neighbours: []proxyctl.Neighbour{
			{ID: "b", URL: "http://10.0.0.2:30080", Functions: []string{"figlet"}, TokenOut: "secret-a-gave-b", TokenIn: "secret-b-gave-a", Forward: true},
		},
		Decision: strategy.Decision{Routes: []strategy.Route{
			strategy.NewRoute("figlet", 0.5, 0.25, map[strategy.NodeID]float64{"b": 0.25}),
		}},
	}
	files, err := haproxy.Render(haproxy.Config{Dir: "/run/dfaas", GatewayURL: "http://127.0.0.1:8080", Slots: 1}, s)
	if err != nil {
		fmt.Println(err)
		return
	}
	lines := strings.Split(files.Maps["maps/route.map"], "\n")
	fmt.Println(strings.Join(lines[:8], "\n"))
	// Output:
	// 0/figlet gw.figlet/out.n1
	// 1/figlet reject
	// 2/figlet out.n1
	// 3/figlet gw.figlet/out.n1
	// 4/figlet gw.figlet/out.n1
	// 5/figlet reject
	// 6/figlet out.n1
	// 7/figlet gw.figlet/out.n1
}
