package golden_test

import (
	"fmt"

	"github.com/dfaas-go/dfaas/internal/golden"
)

// Diff shows the lines where a test's output left its golden file.
func ExampleDiff() {
	fmt.Print(golden.Diff("figlet 40\nsleep 10\n", "figlet 40\nsleep 12\n"))
	// Output:
	// line 2:
	//   -"sleep 10"
	//   +"sleep 12"
}
