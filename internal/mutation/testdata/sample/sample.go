// Package sample is what the mutation tester's own test mutates.
package sample

// Clamp limits v to [lo, hi].
func Clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Sum adds the values.
func Sum(vs []int) int {
	n := 0
	for _, v := range vs {
		n += v
	}
	return n
}

// Both is a && b.
func Both(a, b bool) bool { return a && b }

// Untested is what no test calls.
func Untested(x int) bool { return x == 3 }
