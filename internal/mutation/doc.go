// Package mutation is the project's mutation tester: it plants small bugs
// (mutants) in a package's code, one at a time, and checks that the
// package's own tests notice each of them.
//
// It uses mutant schemata: every mutant of a package is compiled into one
// test binary, each behind a switch (the DFAAS_MUTANT environment variable
// names the one that is active), so a package is compiled twice (once with
// coverage, once with its mutants) however many mutants it has. The
// rewritten files reach the compiler through `go test -overlay`; the source
// tree is never touched.
//
// The operators (Kind) flip comparisons (boundary: < to <=; negation:
// < to >=, == to !=), swap && and ||, swap arithmetic operators (+ and -,
// * and /, % to *), drop or restore a !, negate a boolean condition, turn
// ++ into -- (and += into -=), and remove statements: a whole if statement
// (a guard), a call, an assignment, a defer, a send.
//
// Each test is first run alone on the unmutated code with a coverage
// profile; a mutant then runs only the tests that cover its position, the
// fastest first, each with a timeout, and stops at the first failure. A
// mutant no test covers is reported as not covered; one whose test runs
// out of time as timed out (a hang the suite would report too).
//
// Run and Mutants are the entry points; internal/mutation/mutate is the
// command and scripts/mutation the script that builds and runs it.
package mutation
