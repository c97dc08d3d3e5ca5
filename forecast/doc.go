// Package forecast predicts the next value of a series, so that a strategy
// can act on the next period's load rather than the last one's. It imports
// only the standard library.
//
// Built-in forecasters: Last (the last value) and EWMA. ByName builds them
// by name, as the agent's --forecast flag does.
package forecast
