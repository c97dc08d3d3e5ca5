package sim_test

import (
	"context"
	"fmt"
	"os"

	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Simulate a shipped scenario and print the result as a table.
func ExampleResult_WriteTable() {
	sc, err := sim.BuiltinScenario("testbed-1-light-overload")
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := sim.Run(context.Background(), sc, sim.Config{
		Strategy: "static",
		Factory:  strategy.NewFactory(func() *strategy.Static { return &strategy.Static{LocalShare: 0.6} }),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r.WriteTable(os.Stdout)
	// Output:
	// scenario testbed-1-light-overload, strategy static (sim)
	//
	//    node  offered  served  forwarded  rejected  failed  p50 ms  p99 ms  success
	//   light    75322   75322      30130         0       0    24.8   215.0  100.00%
	//     mid        0       0          0         0       0     0.0     0.0      n/a
	//   heavy        0       0          0         0       0     0.0     0.0      n/a
	//   total    75322   75322      30130         0       0    24.8   215.0  100.00%
	//
	// oracle success rate (fluid bound): 100.00%
}

// Compare strategies on one scenario, one row each.
func ExampleWriteComparison() {
	sc, _ := sim.BuiltinScenario("testbed-1-light-overload")
	reg := strategy.Builtin()
	var rs []sim.Result
	for _, name := range []string{"alllocal", "static"} {
		factory, _ := reg.Factory(name)
		r, err := sim.Run(context.Background(), sc, sim.Config{Strategy: name, Factory: factory})
		if err != nil {
			fmt.Println(err)
			return
		}
		rs = append(rs, r)
	}
	sim.WriteComparison(os.Stdout, rs, nil)
	// Output:
	// strategy  success  of oracle  offered  served  forwarded  rejected  failed  p50 ms  p95 ms  p99 ms
	//   alllocal   79.41%      0.794    75322   59816          0     15506       0   223.2   348.2   430.1
	//     static  100.00%      1.000    75322   75322      30130         0       0    24.8   133.1   215.0
}
