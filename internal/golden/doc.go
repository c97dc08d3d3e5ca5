// Package golden is the golden-file helper of the module's tests: Check
// compares a test's output with a file in testdata and shows the first
// lines that differ; run the tests with -update (or UPDATE_GOLDEN=1, which
// also works across packages with go test ./...) to rewrite the files
// instead, then review the change with git diff.
//
// It imports only the standard library (and package testing), so that
// any package's tests may use it, including those of the leaf packages
// strategy and forecast.
package golden
