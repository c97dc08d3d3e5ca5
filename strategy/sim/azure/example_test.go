package azure_test

import (
	"fmt"
	"strings"

	"github.com/dfaas-go/dfaas/strategy/sim/azure"
)

// A trace in the published form (one row per function, minutes named by
// number) becomes a two-node scenario: each function's load arrives at
// one node and runs on both, its rates following its counts.
func ExampleTrace_Scenario() {
	const invocations = `HashOwner,HashApp,HashFunction,Trigger,1,2,3
o,a,busy,http,10,30,20
o,a,timer,timer,1,1,1
`
	tr, err := azure.ReadInvocations(strings.NewReader(invocations), 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := tr.Scenario(azure.Config{Nodes: 2, Level: 0.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Duration.D(), len(s.Nodes), "nodes")
	for _, l := range s.Load {
		fmt.Println(l.Function, "at", l.Node, l.Rates)
	}
	// Output:
	// 3s 2 nodes
	// f00-busy at n0 [300 900 600]
	// f01-timer at n1 [600 600 600]
}
