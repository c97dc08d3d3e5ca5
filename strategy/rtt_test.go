package strategy_test

import (
	"fmt"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

// Sorting neighbours nearest first: c has no measured RTT yet (0), so it
// comes after every neighbour with one, not before them.
func ExampleCompareRTT() {
	nbs := []strategy.Neighbour{
		{ID: "c"},
		{ID: "b", RTT: 30 * time.Millisecond},
		{ID: "a", RTT: 30 * time.Millisecond},
		{ID: "d", RTT: 5 * time.Millisecond},
	}
	slices.SortFunc(nbs, strategy.CompareRTT)
	for _, nb := range nbs {
		rtt, known := nb.KnownRTT()
		fmt.Println(nb.ID, rtt, known)
	}
	// Output:
	// d 5ms true
	// a 30ms true
	// b 30ms true
	// c 0s false
}
