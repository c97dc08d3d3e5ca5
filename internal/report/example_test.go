package report_test

import (
	"fmt"
	"time"

	"github.com/dfaas-go/dfaas/internal/report"
)

func ExampleSummarize() {
	recs := []report.Record{
		{At: 0, Node: "a", Function: "figlet", Latency: 20 * time.Millisecond, Status: 200, Outcome: report.Served},
		{At: time.Second, Node: "a", Function: "figlet", Latency: 30 * time.Millisecond, Status: 200, Outcome: report.Served, ForwardedTo: "b"},
		{At: 2 * time.Second, Node: "a", Function: "figlet", Status: 429, Outcome: report.Rejected},
	}
	r := report.Summarize("demo", "flow", []string{"a", "b"}, recs)
	fmt.Printf("%s %s: offered %d, served %d, forwarded %d, rejected %d, success %.3f\n",
		r.Mode, r.Strategy, r.Offered, r.Served, r.Forwarded, r.Rejected, r.SuccessRate)
	// Output:
	// bench flow: offered 3, served 2, forwarded 1, rejected 1, success 0.667
}
