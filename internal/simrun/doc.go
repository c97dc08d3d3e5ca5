// Package simrun is the machinery of dfaas sim: it builds the scenario a
// command line names (a file or built-in name, with a trace's load; a
// generated one; one built from the Azure trace), the simulator's
// configuration of each strategy, and writes the results, the family's
// report and the warnings that explain them (a function no node runs, a
// strategy that failed). The command (cmd/dfaas/cli) keeps its flags and
// wiring; errors in what the flags give are usage.Error naming the flag.
package simrun
