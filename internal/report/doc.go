// Package report turns the raw observations of a dfaas bench run — one
// record per user request and the decisions the agents took over time —
// into the shared result object (sim.Result), per-second series per node,
// CSV files, plots (PNG, SVG and PDF, drawn with gonum/plot) and a
// Markdown report that sets the benchmark beside the simulator on the same
// scenario. Over repeated runs, Aggregate gives each strategy's means with
// 95% confidence intervals (MeanCI95, Student's t).
//
// Write lays out an output directory (a figure is NAME.{png,svg,pdf}):
//
//	report.md          the report, linking everything below
//	results.json       every result object (bench and sim), one per line
//	strategies         success rate and p99 per strategy, with CI bars
//	success            success rate per node and strategy, bench and sim
//	latency            latency CDF of served requests, bench and sim
//	<run>/requests.csv      one row per user request, with its outcome class
//	<run>/series.csv        one row per node and second
//	<run>/decisions.csv     one row per decision change per node and function
//	<run>/sim-series.csv    the simulator's nodes per control period
//	<run>/sim-latency.csv   the latency of each request the simulator served
//	<run>/outcomes          per node, requests per second by outcome class
//	<run>/rates             per-second rates per node, the simulator's dashed
//	<run>/shares            decided and effective shares over time
//
// where <run> is the strategy's name, or <strategy>/run<r> with repeats.
package report
