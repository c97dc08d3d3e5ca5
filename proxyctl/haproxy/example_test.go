package haproxy_test

import (
	"fmt"
	"strings"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

// Render shows how a decision becomes server weights: half of figlet's
// requests served locally, a quarter forwarded to node b and a quarter
// rejected. Shares of 0 are servers in maintenance.
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
	in := false
	for line := range strings.SplitSeq(files.Config, "\n") {
		switch {
		case line == "backend fn.figlet" || line == "backend gw.figlet":
			in = true
		case line == "":
			in = false
		}
		if in && (strings.HasPrefix(line, "backend") || strings.HasPrefix(line, "    server ")) {
			fmt.Println(strings.ReplaceAll(line, "/run/dfaas/sock/", ""))
		}
	}
	// Output:
	// backend fn.figlet
	//     server local unix@local.sock weight 128 track gateway/gw
	//     server reject unix@reject.sock weight 64
	//     server noroute unix@noroute.sock weight 1 disabled
	//     server n1 unix@n1.sock weight 64 track out.n1/nb
	// backend gw.figlet
	//     server gw 127.0.0.1:8080 maxconn 4 track gateway/gw
}
