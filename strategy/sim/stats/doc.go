// Package stats holds the few statistics the simulator and the benchmark
// report over repeated runs and families of scenarios: the mean, the
// sample standard deviation, Student-t confidence intervals for a mean,
// quantiles by linear interpolation, and a Summary of all of them.
//
// It imports only the standard library. Functions never return NaN or an
// infinity for finite input (JSON cannot encode them): where a figure is
// undefined (the interval of fewer than two values, any figure of none)
// they say so with ok false or a zero Summary.N.
package stats
