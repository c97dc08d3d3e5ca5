//go:build !race

package sim

// raceEnabled: the race detector slows the simulator down several times,
// so the heaviest tests shorten their runs.
const raceEnabled = false
