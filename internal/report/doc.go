// Package report turns the raw observations of a dfaas bench run — one
// record per user request and the decisions the agents took over time —
// into the shared result object (sim.Result), per-second series per node,
// CSV files, plots (PNG and SVG, drawn with gonum/plot) and a Markdown
// report that sets the benchmark beside the simulator on the same scenario.
//
// Write lays out an output directory:
//
//	report.md          the report, linking everything below
//	results.json       every result object (bench and sim), one per line
//	success.{png,svg}  success rate per node and strategy, bench and sim
//	latency.{png,svg}  distribution (CDF) of the latency of served requests
//	<strategy>/requests.csv   one row per user request
//	<strategy>/series.csv     one row per node and second
//	<strategy>/decisions.csv  one row per decision change per node and function
//	<strategy>/rates.{png,svg}  per-second rates per node
//	<strategy>/shares.{png,svg} local/forward/reject shares over time
package report
