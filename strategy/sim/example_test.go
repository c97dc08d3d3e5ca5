package sim_test

import (
	"context"
	"fmt"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// A node receives more than it can serve; its neighbour has room.
func ExampleRun() {
	sc, err := sim.ParseScenario([]byte(`{
		"name": "hot-node", "duration": "60s", "seed": 1,
		"nodes": [{"id": "a", "functions": [{"name": "figlet", "capacity": 100}]},
		          {"id": "b", "functions": [{"name": "figlet", "capacity": 200}]}],
		"links": [{"a": "a", "b": "b", "rtt": "10ms"}],
		"load": [{"node": "a", "function": "figlet", "rates": [150]}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := strategy.Builtin()
	for _, name := range []string{"alllocal", "flow"} {
		// A registered strategy's factory; for one of your own,
		// strategy.NewFactory(func() *Mine { return &Mine{...} }).
		factory, _ := reg.Factory(name)
		r, err := sim.Run(context.Background(), sc, sim.Config{Strategy: name, Factory: factory})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-8s success %.2f (oracle %.2f)\n", name, r.SuccessRate, r.OracleSuccessRate)
	}
	// Output:
	// alllocal success 0.67 (oracle 1.00)
	// flow     success 1.00 (oracle 1.00)
}
